BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe '-Backend' {
    BeforeAll {
        $script:cpu = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 4 -Temperature 0 -Threads 1 -Backend Cpu
    }

    It 'runs the device kernels on the ILGPU CPU accelerator with the CPU backend''s greedy tokens' {
        $device = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 4 -Temperature 0 -Threads 1 -Backend IlgpuCpu
        $device.TokenIds | Should -Be $cpu.TokenIds
        $device.Text | Should -Be $cpu.Text
    }

    It 'falls back from Auto to the CPU saying why in the verbose stream' {
        $verbose = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 4 -Temperature 0 -Threads 1 -Backend Auto -Verbose 4>&1
        $messages = @($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
        $messages | Where-Object { $_ -like 'Backend Auto:*' } | Should -Not -BeNullOrEmpty
        ($verbose | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).TokenIds | Should -Be $cpu.TokenIds
    }

    It 'refuses an explicit backend this machine lacks with BackendUnavailable' -Skip:(Test-Path '/dev/nvidia0') {
        Get-ErrorIdOf { Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'x' -MaxTokens 1 -Backend Cuda } | Should -Be 'BackendUnavailable'
    }

    It 'validates the backend name' {
        Get-ErrorIdOf { Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'x' -MaxTokens 1 -Backend Vulkan } | Should -Be 'ParameterArgumentValidationError'
    }

    It 'starts a worker on a backend and reports it in Get-LlamaWorker' {
        $worker = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-ilgpu' -CacheDirectory (Join-Path $TestDrive 'cache-ilgpu') -Backend IlgpuCpu
        try {
            $worker.Backend | Should -Be 'ILGPUCPU'
            $status = Get-LlamaWorker -Name 'pester-ilgpu'
            $status.Backend | Should -Be 'ILGPUCPU'
        }
        finally { $worker | Stop-LlamaWorker }
    }
}
