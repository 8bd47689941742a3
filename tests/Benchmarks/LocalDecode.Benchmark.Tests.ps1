<#
    Benchmark (not a test): decode and prompt tokens/s of Invoke-LlamaPrompt against llama.cpp (through the
    LLamaSharp oracle runner) on the TinyLlama-shaped synthetic models, same thread count, runs alternating so
    drift on a shared machine hits both sides alike. Writes out/benchmarks/local-decode.csv and the table in
    docs/BENCHMARKS.md.

    Run with: dotnet pwsh ./build.ps1 -Task Benchmark
    Knobs (environment): LLAMADIST_BENCH_TYPES (default F16,Q8_0,Q4_0), LLAMADIST_BENCH_REPETITIONS (3),
    LLAMADIST_BENCH_THREADS (2), LLAMADIST_BENCH_PRESET (TinyLlama).
#>
BeforeDiscovery {
    $script:types = if ($env:LLAMADIST_BENCH_TYPES) { $env:LLAMADIST_BENCH_TYPES -split ',' } else { @('F16', 'Q8_0', 'Q4_0') }
}

BeforeAll {
    $script:RepositoryRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    Import-Module (Join-Path $RepositoryRoot 'LlamaDist.psd1') -Force
    $script:repetitions = if ($env:LLAMADIST_BENCH_REPETITIONS) { [int]$env:LLAMADIST_BENCH_REPETITIONS } else { 3 }
    $script:threads = if ($env:LLAMADIST_BENCH_THREADS) { [int]$env:LLAMADIST_BENCH_THREADS } else { 2 }
    $script:preset = if ($env:LLAMADIST_BENCH_PRESET) { $env:LLAMADIST_BENCH_PRESET } else { 'TinyLlama' }
    $script:promptTokens = 128
    $script:genTokens = 32
    $script:modelDirectory = Join-Path $RepositoryRoot 'out/bench-models'
    $script:resultDirectory = Join-Path $RepositoryRoot 'out/benchmarks'
    $null = New-Item -ItemType Directory -Force -Path $modelDirectory, $resultDirectory
    $script:runner = Get-ChildItem (Join-Path $RepositoryRoot 'tests/LlamaDist.LlamaCppRunner/bin/Release') -Recurse -Filter 'LlamaDist.LlamaCppRunner.dll' |
        Select-Object -First 1 -ExpandProperty FullName
    if (-not $runner) { throw 'The oracle runner is not built (build.ps1 -Task Benchmark builds it).' }
    $script:rows = [System.Collections.Generic.List[object]]::new()

    # "the" x 127 after BOS is exactly 128 prompt tokens with the llama SPM vocabulary.
    $script:prompt = (@('the') * ($promptTokens - 1)) -join ' '

    function Invoke-Ours([string] $Model) {
        $result = Invoke-LlamaPrompt -Model $Model -Prompt $prompt -MaxTokens ($genTokens + 1) -Temperature 0 -Threads $threads -ContextSize 512
        [pscustomobject]@{ PromptTps = $result.PromptTokensPerSecond; DecodeTps = $result.EvalTokensPerSecond; PromptTokens = $result.PromptTokens; Runs = $result.EvalRuns }
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
        "| type | ours pp$promptTokens t/s | llama.cpp pp$promptTokens t/s | prompt ratio | ours tg$genTokens t/s | llama.cpp tg$genTokens t/s | decode ratio |"
        '|---|---|---|---|---|---|---|'
        $rows | ForEach-Object { "| $($_.Type) | $($_.OursPromptTps) | $($_.OraclePromptTps) | $($_.PromptRatio)x | $($_.OursDecodeTps) | $($_.OracleDecodeTps) | $($_.DecodeRatio)x |" }
    ) -join "`n"
    $benchmarks = Join-Path $RepositoryRoot 'docs/BENCHMARKS.md'
    $section = "<!-- local-decode:start -->`n$table`n`n$threads threads, $preset shape, $repetitions alternating repetitions (means), measured $(Get-Date -Format 'yyyy-MM-dd') on $([Environment]::ProcessorCount) logical CPUs.`n<!-- local-decode:end -->"
    $text = Get-Content $benchmarks -Raw
    $text = [regex]::Replace($text, '(?s)<!-- local-decode:start -->.*<!-- local-decode:end -->', [System.Text.RegularExpressions.MatchEvaluator] { param($m) $section })
    Set-Content -Path $benchmarks -Value $text.TrimEnd() -NoNewline
    Write-Host $table
}

Describe 'Local decode and prompt speed against llama.cpp' -Tag 'Benchmark' {
    It '<_> on the synthetic TinyLlama shape' -ForEach $types {
        $type = $_
        $model = Join-Path $modelDirectory "$preset-$type.gguf"
        if (-not (Test-Path $model)) { $null = New-LlamaTestModel -Path $model -Preset $preset -Type $type -Seed 1 }

        # Warm-up of both sides (page cache, JIT), then alternating repetitions.
        $null = Invoke-Ours $model; $null = Invoke-Oracle $model
        $ours = @(); $oracle = @()
        for ($i = 0; $i -lt $repetitions; $i++) {
            $ours += Invoke-Ours $model
            $oracle += Invoke-Oracle $model
        }
        $ours[0].PromptTokens | Should -Be $promptTokens
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
        $rows.Add($row)
        $row | Format-List | Out-Host
        $row.OursDecodeTps | Should -BeGreaterThan 0
        $row.OracleDecodeTps | Should -BeGreaterThan 0
    }
}
