# Start-LlamaWorker's admission limits reach the worker, embedded or detached: a prompt beyond -MaxContext is
# refused with the limit named, and a prompt within it still gives the local run's tokens.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Prompt = 'Once upon a time there was a little'
    $script:Model = Join-Path $TestDrive 'small-F32.gguf'
    $null = New-LlamaTestModel -Path $script:Model -Preset Small -Type F32 -Seed 3
    $script:Local = (Invoke-LlamaPrompt -Model $script:Model -Prompt $script:Prompt -Temperature 0 -MaxTokens 8 -Threads 1 -ContextSize 64).TokenIds
    $script:Embedded = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-limits' -CacheDirectory (Join-Path $TestDrive 'cache-e') `
        -MaxSessions 2 -MaxContext 64 -LeaseTimeout 30
    $script:Detached = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-limits-detached' -CacheDirectory (Join-Path $TestDrive 'cache-d') `
        -MaxSessions 2 -MaxContext 64 -LeaseTimeout 30 -Detached
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    $script:Embedded, $script:Detached | Where-Object { $_ } | Stop-LlamaWorker
}

Describe 'Start-LlamaWorker -MaxSessions -MaxContext -LeaseTimeout' {
    It 'refuses a context beyond -MaxContext on the <Kind> worker, then serves one within it' -ForEach @(
        @{ Kind = 'embedded' }, @{ Kind = 'detached' }
    ) {
        $worker = if ($Kind -eq 'embedded') { $script:Embedded } else { $script:Detached }
        $cluster = New-LlamaCluster -Model $script:Model -Worker $worker
        try {
            $failure = $null
            try {
                Invoke-LlamaPrompt -Cluster $cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens 8 -ContextSize 128 -ErrorAction Stop
            }
            catch {
                $failure = $_
            }
            $failure | Should -Not -BeNullOrEmpty
            $failure.FullyQualifiedErrorId | Should -Match '^WorkerFailed'
            $failure.Exception.Message | Should -Match 'max-context'
            (Invoke-LlamaPrompt -Cluster $cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens 8 -ContextSize 64).TokenIds |
                Should -Be $script:Local
        }
        finally {
            $cluster | Remove-LlamaCluster
        }
    }

    It 'refuses limits out of range at binding' {
        { Start-LlamaWorker -Port 0 -MaxSessions 0 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
        { Start-LlamaWorker -Port 0 -LeaseTimeout 0 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,*'
    }
}
