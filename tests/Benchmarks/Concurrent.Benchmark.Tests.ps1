<#
    Benchmark (not a test): concurrent prompts and pipelined prompt evaluation on the same TinyLlama-shaped model,
    locally (2 threads) and on two detached 2-thread workers on loopback.
    - Decode of 1, 4 and 8 sequences at once (Invoke-LlamaBenchmark -Concurrency): aggregate t/s and its ratio to
      one sequence. Steps that meet on a device run as one batched pass, so each weight is read once per step
      for all of them.
    - Prompt (pp128) of the ring sent whole and pipelined in micro-batches of 16 (New-LlamaCluster -MicroBatchSize),
      against the local run. On one machine the stages share its cores, so the automatic choice sends prompts
      whole; the pipelined row shows what overlapping costs or gains here.
    Writes out/benchmarks/concurrent.csv and the table in docs/BENCHMARKS.md.

    Run with: dotnet pwsh ./build.ps1 -Task Benchmark
    Knobs (environment): LLAMADIST_BENCH_DIST_TYPE (default Q8_0), LLAMADIST_BENCH_REPETITIONS (3),
    LLAMADIST_BENCH_PRESET (TinyLlama).
#>
BeforeAll {
    . (Join-Path $PSScriptRoot 'BenchmarkSetup.ps1')
    $script:rows = [System.Collections.Generic.List[object]]::new()
    function Measure-Rate([scriptblock] $Run) {
        $samples = 1..$repetitions | ForEach-Object { (& $Run).AverageTokensPerSecond }
        [math]::Round(($samples | Measure-Object -Average).Average, 2)
    }
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker -Name 'bench-concurrent-*' | Stop-LlamaWorker
    if ($rows.Count -eq 0) { return }
    $rows | Export-Csv -Path (Join-Path $resultDirectory 'concurrent.csv') -NoTypeInformation
    $table = @(
        '| model | where | test | sequences | t/s (all sequences) | vs one sequence | vs local |'
        '|---|---|---|---|---|---|---|'
        $rows | ForEach-Object { "| $preset $type | $($_.Where) | $($_.Test) | $($_.Sequences) | $($_.Tps) | $($_.VsOne) | $($_.VsLocal) |" }
    ) -join "`n"
    $benchmarks = Join-Path $RepositoryRoot 'docs/BENCHMARKS.md'
    $section = "<!-- concurrent:start -->`n$table`n`nLocal: 2 threads. Cluster: two detached 2-thread workers on 127.0.0.1, -Split Even, F16 hand-off. $repetitions repetitions (means), measured $(Get-Date -Format 'yyyy-MM-dd') on $([Environment]::ProcessorCount) logical CPUs.`n<!-- concurrent:end -->"
    $text = Get-Content $benchmarks -Raw
    $text = [regex]::Replace($text, '(?s)<!-- concurrent:start -->.*<!-- concurrent:end -->', [System.Text.RegularExpressions.MatchEvaluator] { param($m) $section })
    Set-Content -Path $benchmarks -Value $text.TrimEnd() -NoNewline
    Write-Host $table
}

Describe 'Concurrent prompts and pipelined prompt evaluation' -Tag 'Benchmark' {
    It 'decodes 1, 4 and 8 sequences at once, locally and on two workers; pipelines pp128' {
        $workers = 1, 2 | ForEach-Object { Start-LlamaWorker -Port 0 -Threads 2 -Name "bench-concurrent-$_" -Detached }
        $whole = New-LlamaCluster -Model $model -Worker $workers -Split Even
        $pipelined = New-LlamaCluster -Model $model -Worker $workers -Split Even -MicroBatchSize 16
        $one = @{ Repetitions = 1 }
        $null = Invoke-LlamaBenchmark -Model $model -Threads 2 -PromptTokens 16 -GenTokens 4 @one   # warm-up
        $null = Invoke-LlamaBenchmark -Cluster $whole -PromptTokens 16 -GenTokens 4 @one

        $localPrompt = Measure-Rate { Invoke-LlamaBenchmark -Model $model -Threads 2 -PromptTokens 128 -GenTokens 0 @one }
        $rows.Add([pscustomobject]@{ Where = 'local'; Test = 'pp128'; Sequences = 1; Tps = $localPrompt; VsOne = ''; VsLocal = '1x' })
        foreach ($cluster in $whole, $pipelined) {
            $tps = Measure-Rate { Invoke-LlamaBenchmark -Cluster $cluster -PromptTokens 128 -GenTokens 0 @one }
            $how = if ($cluster -eq $whole) { '2 workers, prompt whole' } else { '2 workers, micro-batches of 16' }
            $rows.Add([pscustomobject]@{ Where = $how; Test = 'pp128'; Sequences = 1; Tps = $tps; VsOne = ''; VsLocal = "$([math]::Round($tps / $localPrompt, 2))x" })
        }

        $localOne = $null
        foreach ($setup in @(@{ Where = 'local'; Arguments = @{ Model = $model; Threads = 2 } }, @{ Where = '2 workers'; Arguments = @{ Cluster = $whole } })) {
            $single = $null
            foreach ($sequences in 1, 4, 8) {
                $arguments = $setup.Arguments
                $tps = Measure-Rate { Invoke-LlamaBenchmark @arguments -PromptTokens 0 -GenTokens 32 -Concurrency $sequences @one }
                if ($sequences -eq 1) { $single = $tps }
                if ($setup.Where -eq 'local' -and $sequences -eq 1) { $localOne = $tps }
                $rows.Add([pscustomobject]@{
                    Where = $setup.Where; Test = 'tg32'; Sequences = $sequences; Tps = $tps
                    VsOne = "$([math]::Round($tps / $single, 2))x"; VsLocal = "$([math]::Round($tps / $localOne, 2))x"
                })
            }
        }
        $rows | ForEach-Object { $_.Tps | Should -BeGreaterThan 0 }
    }
}
