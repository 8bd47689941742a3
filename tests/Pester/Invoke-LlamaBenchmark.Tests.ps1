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

Describe 'Invoke-LlamaBenchmark measures the machine beside the model' {
    BeforeAll {
        $script:measured = Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 8 -GenTokens 8 -Repetitions 1 -Threads 1
    }

    It 'reports the read bandwidth of the same threads and the bytes a decoded token reads' {
        foreach ($row in $measured) {
            $row.Engine | Should -Be 'LlamaDist'
            $row.ReadBandwidthGBps | Should -BeGreaterThan 0
            # 1,026,144 bytes of tensors less the 512,000-byte token embedding table (the head has its own tensor).
            $row.WeightBytesPerToken | Should -Be 514144
        }
    }

    It 'gives decoding its share of the bandwidth and the resident memory while it ran' {
        $prompt, $decode = $measured
        $prompt.BandwidthFraction | Should -BeNullOrEmpty
        $prompt.PeakResidentBytes | Should -BeNullOrEmpty
        $expected = 514144 * $decode.AverageTokensPerSecond / ($decode.ReadBandwidthGBps * 1e9)
        $decode.BandwidthFraction | Should -BeGreaterThan 0
        [math]::Abs($decode.BandwidthFraction - $expected) | Should -BeLessThan ([math]::Max(0.002, $expected * 0.02))  # both rounded
        # The same share against how fast the same threads read the weights' own pages.
        $decode.WeightReadGBps | Should -BeGreaterThan 0
        $expected = 514144 * $decode.AverageTokensPerSecond / ($decode.WeightReadGBps * 1e9)
        [math]::Abs($decode.WeightReadFraction - $expected) | Should -BeLessThan ([math]::Max(0.002, $expected * 0.02))
        # And against reads of those pages alternated with decode steps, both in the same seconds.
        $prompt.AlternatingReadFraction | Should -BeNullOrEmpty
        $decode.AlternatingDecodeGBps | Should -BeGreaterThan 0
        $decode.AlternatingReadGBps | Should -BeGreaterThan 0
        $expected = $decode.AlternatingDecodeGBps / $decode.AlternatingReadGBps
        [math]::Abs($decode.AlternatingReadFraction - $expected) | Should -BeLessThan ([math]::Max(0.002, $expected * 0.02))
        $decode.PeakResidentBytes | Should -BeGreaterThan 0
        $decode.BaselineResidentBytes | Should -BeGreaterThan 0
        $decode.WeightAndCacheBytes | Should -BeGreaterThan 1026144  # tensors plus the KV cache
        # The load returns its temporary buffers, so with a model this small the process may end below where it
        # started; what it may never do is grow by more than the model and its cache plus 64 MiB while decoding.
        ($decode.PeakResidentBytes - $decode.BaselineResidentBytes) | Should -BeLessOrEqual ($decode.WeightAndCacheBytes + 64MB)
    }
}

Describe 'Invoke-LlamaBenchmark -Reference LlamaCpp' -Tag 'Slow' {
    BeforeAll {
        $script:recordedJson = Join-Path $RepositoryRoot 'tests/Data/llama-bench/llama-bench-c392e50.json'
        function New-StandIn([string] $Directory, [string] $Body) {
            # A program named llama-bench that answers as the real one would (a POSIX shell script).
            $null = New-Item -ItemType Directory -Force -Path $Directory
            $path = Join-Path $Directory 'llama-bench'
            Set-Content -Path $path -Value "#!/bin/sh`n$Body`n" -NoNewline
            & chmod +x $path
            return $path
        }
    }

    It 'says where no llama-bench was found' {
        Get-ErrorIdOf { Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 4 -GenTokens 0 -Repetitions 1 -Reference LlamaCpp -LlamaCppPath (Join-Path $TestDrive 'no-build') } |
            Should -Be 'LlamaCppNotFound'
        Get-ErrorIdOf { Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 4 -GenTokens 0 -Repetitions 1 -LlamaCppPath $TestDrive } |
            Should -Be 'LlamaCppNotFound'
    }

    It 'needs a path when LLAMADIST_LLAMACPP_BIN is not set' {
        $saved = $env:LLAMADIST_LLAMACPP_BIN
        try {
            $env:LLAMADIST_LLAMACPP_BIN = $null
            $record = Get-ErrorRecordOf { Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 4 -GenTokens 0 -Repetitions 1 -Reference LlamaCpp }
            ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'LlamaCppNotFound'
            $record.Exception.Message | Should -Match 'LLAMADIST_LLAMACPP_BIN'
        }
        finally { $env:LLAMADIST_LLAMACPP_BIN = $saved }
    }

    It 'emits both engines'' rows and a ratio row per test' -Skip:$IsWindows {
        $directory = Join-Path $TestDrive 'recorded'
        New-StandIn $directory "cat '$recordedJson'"
        $rows = Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 16 -GenTokens 8 -Repetitions 2 -Threads 1 -Reference LlamaCpp -LlamaCppPath $directory

        $rows | Should -HaveCount 6
        $rows.Engine | Should -Be @('LlamaDist', 'LlamaDist', 'llama.cpp (llama-bench)', 'llama.cpp (llama-bench)', 'LlamaDist / llama.cpp', 'LlamaDist / llama.cpp')
        $rows.Test | Should -Be @('pp16', 'tg8', 'pp16', 'tg8', 'pp16', 'tg8')
        $reference = $rows | Where-Object Engine -like 'llama.cpp*'
        # Two rounds of the recorded run, its two samples each: pp16 read 69543.1 and 72394.9 t/s.
        $reference[0].Samples | Should -Be @(69543.1, 72394.9, 69543.1, 72394.9)
        $reference[0].AverageTokensPerSecond | Should -Be 70969
        $reference[0].ModelType | Should -Be 'llama ?B F16'
        $reference[0].ModelSize | Should -Be 1026144
        $reference[1].BandwidthFraction | Should -BeGreaterThan 0
        foreach ($ratio in $rows | Where-Object Engine -eq 'LlamaDist / llama.cpp') {
            $ours = $rows | Where-Object { $_.Engine -eq 'LlamaDist' -and $_.Test -eq $ratio.Test }
            $theirs = $reference | Where-Object Test -eq $ratio.Test
            $ratio.Ratio | Should -BeGreaterThan 0
            [math]::Abs($ratio.Ratio - $ours.AverageTokensPerSecond / $theirs.AverageTokensPerSecond) | Should -BeLessThan 0.001
            [double]::IsNaN($ratio.AverageTokensPerSecond) | Should -BeTrue
        }

        $csv = Join-Path $TestDrive 'comparison.csv'
        $rows | Export-Csv $csv
        $imported = Import-Csv $csv
        $imported | Should -HaveCount 6
        $imported[4].Ratio | Should -Be $rows[4].Ratio.ToString([cultureinfo]::InvariantCulture)
    }

    It 'reports a llama-bench that fails' -Skip:$IsWindows {
        $directory = Join-Path $TestDrive 'failing'
        New-StandIn $directory "echo '['; echo ""main: error: failed to load model '`$2'"" >&2; exit 1"
        $record = Get-ErrorRecordOf { Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 4 -GenTokens 0 -Repetitions 1 -Reference LlamaCpp -LlamaCppPath $directory }
        ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'LlamaCppFailed'
        $record.Exception.Message | Should -Match 'failed to load model'
    }

    It 'stops a llama-bench that runs past -ReferenceTimeoutSec' -Skip:$IsWindows {
        $directory = Join-Path $TestDrive 'hanging'
        New-StandIn $directory 'sleep 30'
        $clock = [Diagnostics.Stopwatch]::StartNew()
        Get-ErrorIdOf { Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 4 -GenTokens 0 -Repetitions 1 -Reference LlamaCpp -LlamaCppPath $directory -ReferenceTimeoutSec 1 } |
            Should -Be 'LlamaCppTimedOut'
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 20
    }

    It 'compares with a native llama.cpp build named by LLAMADIST_LLAMACPP_BIN' -Skip:(-not $env:LLAMADIST_LLAMACPP_BIN) {
        $rows = Invoke-LlamaBenchmark -Model $EmbeddedModel -PromptTokens 16 -GenTokens 8 -Repetitions 2 -Threads 1 -Reference LlamaCpp
        ($rows | Where-Object Engine -like 'llama.cpp*').Test | Should -Be @('pp16', 'tg8')
        ($rows | Where-Object Engine -like 'llama.cpp*').Threads | Should -Be @(1, 1)
        ($rows | Where-Object Engine -eq 'LlamaDist / llama.cpp').Ratio | ForEach-Object { $_ | Should -BeGreaterThan 0 }
    }
}
