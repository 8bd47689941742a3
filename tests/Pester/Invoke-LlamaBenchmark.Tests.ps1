BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'Invoke-LlamaBenchmark' {
    BeforeAll {
        $script:rows = Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 16 -GenTokens 8 -Repetitions 3 -Threads 1
    }

    It 'returns one llama-bench row per test' {
        $rows | Should -HaveCount 2
        $rows[0] | Should -BeOfType 'LlamaDist.PowerShell.Output.LlamaBenchmarkResult'
        $rows.Test | Should -Be @('pp16', 'tg8')
        $rows[0].PromptTokens | Should -Be 16
        $rows[1].GenerationTokens | Should -Be 8
        $rows[0].ModelType | Should -Be 'llama 513.05K F16'
        $rows[0].ModelSize | Should -Be 1750560
        $rows[0].Threads | Should -Be 1
        $rows[0].Backend | Should -Be 'CPU'
    }

    It 'reports the mean and standard deviation of the repetitions' {
        foreach ($row in $rows) {
            $row.Samples | Should -HaveCount 3
            $mean = ($row.Samples | Measure-Object -Average).Average
            $row.AverageTokensPerSecond | Should -Be ([math]::Round($mean, 2))
            $row.AverageTokensPerSecond | Should -BeGreaterThan 0
            $row.StandardDeviationTokensPerSecond | Should -BeGreaterOrEqual 0
        }
    }

    It 'exports flat rows to CSV and takes models from the pipeline' {
        $csv = Join-Path $TestDrive 'bench.csv'
        Get-Item $EmbeddedModel | Invoke-LlamaBenchmark -PromptTokens 8 -GenTokens 0 -Repetitions 1 | Export-Csv $csv
        $imported = Import-Csv $csv
        $imported | Should -HaveCount 1
        $imported[0].Test | Should -Be 'pp8'
        $imported[0].PSObject.Properties.Name | Should -Not -Contain 'Samples'
        [double]$imported[0].AverageTokensPerSecond | Should -BeGreaterThan 0
    }

    It 'says where the weights were read from, as llama-bench''s mmap column does' {
        $rows[0].WeightMemory | Should -BeIn @('Mapped', 'Resident')  # Auto resolves to one of them
        (Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 4 -GenTokens 0 -Repetitions 1 -Threads 1 -WeightMemory Mapped).WeightMemory |
            Should -Be 'Mapped'
        (Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 4 -GenTokens 0 -Repetitions 1 -Threads 1 -WeightMemory Resident).WeightMemory |
            Should -Be 'Resident'
    }

    It 'refuses a benchmark with no test' {
        Get-ErrorIdOf { Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 0 -GenTokens 0 } | Should -Be 'InvalidArgument'
    }
}
