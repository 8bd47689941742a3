# Shared set-up for the Pester suites: the built module and the embedded model.
$script:RepositoryRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$script:EmbeddedModel = Join-Path $script:RepositoryRoot 'module/Models/llama-2-tiny-random.gguf'
Import-Module (Join-Path $script:RepositoryRoot 'LlamaDist.psd1') -Force

function Get-ErrorIdOf {
    # The ErrorId of the first error a script block writes (non-terminating or terminating), or $null.
    param([scriptblock] $ScriptBlock)
    try {
        $errors = @()
        $null = & $ScriptBlock -ErrorVariable +errors -ErrorAction SilentlyContinue
        if ($errors.Count -gt 0) { return ($errors[0].FullyQualifiedErrorId -split ',')[0] }
    }
    catch {
        return ($_.FullyQualifiedErrorId -split ',')[0]
    }
    return $null
}
