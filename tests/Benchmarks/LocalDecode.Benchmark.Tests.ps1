<#
    Benchmark (not a test): llama-bench's pp/tg of Invoke-LlamaBenchmark against llama.cpp (through the
    LLamaSharp oracle runner) on TinyLlama-shaped synthetic models, same thread count, runs alternating so drift
    on a shared machine hits both sides alike. Q4_K_M is made from the F16 model with ConvertTo-LlamaQuantized
    (llama-quantize's mix). The bandwidth bound is memory bandwidth / bytes of weights read per decoded token
    (the file size, as every weight is read once per token). Writes out/benchmarks/local-decode.csv and the
    table in docs/BENCHMARKS.md.

    Run with: dotnet pwsh ./build.ps1 -Task Benchmark
    Knobs (environment): LLAMADIST_BENCH_TYPES (default F16,Q8_0,Q4_0,Q4_K_M), LLAMADIST_BENCH_REPETITIONS (5: this machine's run-to-run noise is
    about 10%, so fewer alternations leave the ratios that uncertain),
    LLAMADIST_BENCH_THREADS (2), LLAMADIST_BENCH_PRESET (TinyLlama), LLAMADIST_BENCH_BANDWIDTH_GBS (21: this
    machine's read bandwidth with 2 threads, as measured for docs/BENCHMARKS.md).
#>
BeforeDiscovery {
    $script:types = if ($env:LLAMADIST_BENCH_TYPES) { $env:LLAMADIST_BENCH_TYPES -split ',' } else { @('F16', 'Q8_0', 'Q4_0', 'Q4_K_M') }
}

BeforeAll {
    $script:RepositoryRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    Import-Module (Join-Path $RepositoryRoot 'LlamaDist.psd1') -Force
    $script:repetitions = if ($env:LLAMADIST_BENCH_REPETITIONS) { [int]$env:LLAMADIST_BENCH_REPETITIONS } else { 5 }
    $script:threads = if ($env:LLAMADIST_BENCH_THREADS) { [int]$env:LLAMADIST_BENCH_THREADS } else { 2 }
    $script:preset = if ($env:LLAMADIST_BENCH_PRESET) { $env:LLAMADIST_BENCH_PRESET } else { 'TinyLlama' }
    $script:bandwidth = if ($env:LLAMADIST_BENCH_BANDWIDTH_GBS) { [double]$env:LLAMADIST_BENCH_BANDWIDTH_GBS * 1e9 } else { 21e9 }
    $script:promptTokens = 128
    $script:genTokens = 32
    $script:modelDirectory = Join-Path $RepositoryRoot 'out/bench-models'
    $script:resultDirectory = Join-Path $RepositoryRoot 'out/benchmarks'
    $null = New-Item -ItemType Directory -Force -Path $modelDirectory, $resultDirectory
    $script:runner = Get-ChildItem (Join-Path $RepositoryRoot 'tests/LlamaDist.LlamaCppRunner/bin/Release') -Recurse -Filter 'LlamaDist.LlamaCppRunner.dll' |
        Select-Object -First 1 -ExpandProperty FullName
    if (-not $runner) { throw 'The oracle runner is not built (build.ps1 -Task Benchmark builds it).' }
    $script:rows = [System.Collections.Generic.List[object]]::new()

    function Invoke-Ours([string] $Model) {
        $rows = Invoke-LlamaBenchmark -Model $Model -PromptTokens $promptTokens -GenTokens $genTokens -Repetitions 1 -Threads $threads
        [pscustomobject]@{
            PromptTps = ($rows | Where-Object Test -eq "pp$promptTokens").AverageTokensPerSecond
            DecodeTps = ($rows | Where-Object Test -eq "tg$genTokens").AverageTokensPerSecond
            Rows      = $rows
        }
    }

    function Get-BenchModel([string] $Type) {
        $path = Join-Path $modelDirectory "$preset-$Type.gguf"
        if (Test-Path $path) { return $path }
        if ($Type -like '*_K_*') {
            $null = ConvertTo-LlamaQuantized -Path (Get-BenchModel 'F16') -Destination $path -Type $Type
        }
        else {
            $null = New-LlamaTestModel -Path $path -Preset $preset -Type $Type -Seed 1
        }
        return $path
    }

    function Invoke-Oracle([string] $Model) {
        $lines = & dotnet $runner bench --model $Model --threads $threads --prompt-tokens $promptTokens --gen-tokens $genTokens --repetitions 1
        if ($LASTEXITCODE -ne 0) { throw "Oracle runner failed on $Model." }
        $records = $lines | Where-Object { $_ -like '{*' } | ConvertFrom-Json
        [pscustomobject]@{
            PromptTps = ($records | Where-Object test -eq "pp$promptTokens" | Select-Object -Last 1).tps
            DecodeTps = ($records | Where-Object test -eq "tg$genTokens" | Select-Object -Last 1).tps
        }
    }
}

AfterAll {
    if ($rows.Count -eq 0) { return }
    $csv = Join-Path $resultDirectory 'local-decode.csv'
    $rows | Export-Csv -Path $csv -NoTypeInformation
    $table = @(
        "| type | size | ours pp$promptTokens t/s | llama.cpp pp$promptTokens t/s | prompt ratio | ours tg$genTokens t/s | llama.cpp tg$genTokens t/s | decode ratio | bandwidth bound t/s | ours / bound |"
        '|---|---|---|---|---|---|---|---|---|---|'
        $rows | ForEach-Object { "| $($_.Type) | $($_.Size) | $($_.OursPromptTps) | $($_.OraclePromptTps) | $($_.PromptRatio)x | $($_.OursDecodeTps) | $($_.OracleDecodeTps) | $($_.DecodeRatio)x | $($_.BoundDecodeTps) | $($_.OfBound) |" }
    ) -join "`n"
    $benchmarks = Join-Path $RepositoryRoot 'docs/BENCHMARKS.md'
    $section = "<!-- local-decode:start -->`n$table`n`n$threads threads, $preset shape, $repetitions alternating repetitions (means), bound at $($bandwidth / 1e9) GB/s, measured $(Get-Date -Format 'yyyy-MM-dd') on $([Environment]::ProcessorCount) logical CPUs.`n<!-- local-decode:end -->"
    $text = Get-Content $benchmarks -Raw
    $text = [regex]::Replace($text, '(?s)<!-- local-decode:start -->.*<!-- local-decode:end -->', [System.Text.RegularExpressions.MatchEvaluator] { param($m) $section })
    Set-Content -Path $benchmarks -Value $text.TrimEnd() -NoNewline
    Write-Host $table
}

Describe 'Local decode and prompt speed against llama.cpp' -Tag 'Benchmark' {
    It '<_> on the synthetic TinyLlama shape' -ForEach $types {
        $type = $_
        $model = Get-BenchModel $type
        $size = (Get-Item $model).Length

        # Warm-up of both sides (page cache, JIT), then alternating repetitions.
        $null = Invoke-Ours $model; $null = Invoke-Oracle $model
        $ours = @(); $oracle = @()
        for ($i = 0; $i -lt $repetitions; $i++) {
            $ours += Invoke-Ours $model
            $oracle += Invoke-Oracle $model
        }
        $ours[0].Rows[0].Backend | Should -Be 'CPU'
        $ours[0].Rows[0].Threads | Should -Be $threads
        $mean = { param($values) [math]::Round(($values | Measure-Object -Average).Average, 2) }
        $row = [pscustomobject]@{
            Type            = $type
            Threads         = $threads
            OursPromptTps   = & $mean $ours.PromptTps
            OraclePromptTps = & $mean $oracle.PromptTps
            OursDecodeTps   = & $mean $ours.DecodeTps
            OracleDecodeTps = & $mean $oracle.DecodeTps
        }
        $row | Add-Member PromptRatio ([math]::Round($row.OursPromptTps / $row.OraclePromptTps, 2))
        $row | Add-Member DecodeRatio ([math]::Round($row.OursDecodeTps / $row.OracleDecodeTps, 2))
        $row | Add-Member Size ('{0:0.00} GB' -f ($size / 1e9))
        $row | Add-Member BoundDecodeTps ([math]::Round($bandwidth / $size, 1))
        $row | Add-Member OfBound ('{0:0}%' -f (100 * $row.OursDecodeTps / ($bandwidth / $size)))
        $rows.Add($row)
        $row | Format-List | Out-Host
        $row.OursDecodeTps | Should -BeGreaterThan 0
        $row.OracleDecodeTps | Should -BeGreaterThan 0
    }
}
