BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'LlamaDist module' {
    It 'exports its cmdlets from the built module' {
        $names = (Get-Command -Module LlamaDist).Name | Sort-Object
        $names | Should -Be @('ConvertFrom-LlamaToken', 'ConvertTo-LlamaQuantized', 'ConvertTo-LlamaToken', 'Get-LlamaCluster', 'Get-LlamaModel', 'Get-LlamaWorker', 'Invoke-LlamaBenchmark', 'Invoke-LlamaChat', 'Invoke-LlamaPrompt', 'Measure-LlamaPerplexity', 'New-LlamaCluster', 'New-LlamaTestModel', 'New-LlamaWorkerCertificate', 'Remove-LlamaCluster', 'Start-LlamaWorker', 'Stop-LlamaWorker')
    }

    It 'declares the output type of <Name>' -ForEach @(
        @{ Name = 'Get-LlamaModel'; Type = 'LlamaDist.PowerShell.Output.LlamaModelInfo' }
        @{ Name = 'Invoke-LlamaPrompt'; Type = 'LlamaDist.PowerShell.Output.LlamaPromptResult' }
        @{ Name = 'Invoke-LlamaChat'; Type = 'LlamaDist.PowerShell.Output.LlamaChatResult' }
        @{ Name = 'Invoke-LlamaBenchmark'; Type = 'LlamaDist.PowerShell.Output.LlamaBenchmarkResult' }
        @{ Name = 'Measure-LlamaPerplexity'; Type = 'LlamaDist.PowerShell.Output.LlamaPerplexityResult' }
        @{ Name = 'New-LlamaTestModel'; Type = 'LlamaDist.PowerShell.Output.LlamaModelInfo' }
        @{ Name = 'ConvertTo-LlamaQuantized'; Type = 'LlamaDist.PowerShell.Output.LlamaConversionResult' }
        @{ Name = 'ConvertFrom-LlamaToken'; Type = 'System.String' }
        @{ Name = 'Start-LlamaWorker'; Type = 'LlamaDist.PowerShell.Output.LlamaWorker' }
        @{ Name = 'Stop-LlamaWorker'; Type = 'LlamaDist.PowerShell.Output.LlamaWorker' }
        @{ Name = 'New-LlamaCluster'; Type = 'LlamaDist.PowerShell.Output.LlamaCluster' }
        @{ Name = 'Get-LlamaCluster'; Type = 'LlamaDist.PowerShell.Output.LlamaCluster' }
    ) {
        (Get-Command $Name).OutputType.Name | Should -Be $Type
    }

    It 'loads the engine into its own load context, not the default one' {
        $null = Get-LlamaModel -Path $EmbeddedModel
        $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'LlamaDist.Engine' }
        $engine | Should -HaveCount 1
        [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($engine).Name | Should -Be 'LlamaDist.Engine'
        $humanizer = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'Humanizer' -and $_.GetName().Version.Major -ge 3 }
        [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($humanizer).Name | Should -Be 'LlamaDist.Engine'
    }

    It 'has a default table view for each output type' {
        $view = Get-LlamaModel -Path $EmbeddedModel | Format-Table | Out-String
        $view | Should -Match 'Params'
        $view | Should -Match 'Context'
    }
}
