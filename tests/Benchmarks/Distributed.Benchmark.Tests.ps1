<#
    Benchmark (not a test): the same model run locally with 2 threads and split over two workers on loopback
    (detached worker processes, so the ring crosses real sockets between processes), first with 1 thread per
    worker, then with 2 per worker — how llama.cpp's rpc-servers run by default: in a ring only one stage
    computes at a time, so each may use the whole machine while it does.
    Reports prompt and decode t/s of both, their ratio, the ring's network/wait time per hop per token and the
    bytes each hop carries per decoded token. It also decodes locally with one worker's thread count: the stages
    of a ring run one after the other, so that is the most the ring can reach, and the ratio against it shows
    what the ring itself costs. Writes out/benchmarks/distributed.csv and the table in
    docs/BENCHMARKS.md.

    Run with: dotnet pwsh ./build.ps1 -Task Benchmark
    Knobs (environment): LLAMADIST_BENCH_DIST_TYPE (default Q8_0), LLAMADIST_BENCH_REPETITIONS (3),
    LLAMADIST_BENCH_PRESET (TinyLlama).
#>
BeforeAll {
    . (Join-Path $PSScriptRoot 'BenchmarkSetup.ps1')
    $script:cacheRoot = Join-Path $resultDirectory 'worker-cache'
    $script:rows = [System.Collections.Generic.List[object]]::new()
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker -Name 'bench-worker-*' | Stop-LlamaWorker
    if ($rows.Count -eq 0) { return }
    $rows | Export-Csv -Path (Join-Path $resultDirectory 'distributed.csv') -NoTypeInformation
    $table = @(
        '| model | workers | local pp128 t/s | cluster pp128 t/s | ratio | local tg32 t/s | cluster tg32 t/s | ratio | local tg32 t/s with one worker''s threads | cluster / that | worker probe GB/s | msgs/token/hop | hidden bytes/token/hop | reply bytes/token | network ms/hop/token |'
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'
        $rows | ForEach-Object { "| $preset $type | $($_.Workers) | $($_.LocalPromptTps) | $($_.ClusterPromptTps) | $($_.PromptRatio)x | $($_.LocalDecodeTps) | $($_.ClusterDecodeTps) | $($_.DecodeRatio)x | $($_.StageDecodeTps) | $($_.StageRatio)x | $($_.WorkerProbeGBs) | $($_.MessagesPerTokenHop) | $($_.HiddenBytesPerToken) | $($_.ReplyBytesPerToken) | $($_.NetworkMsPerHopToken) |" }
    ) -join "`n"
    $benchmarks = Join-Path $RepositoryRoot 'docs/BENCHMARKS.md'
    $section = "<!-- distributed:start -->`n$table`n`nLocal: 2 threads. Cluster: two detached workers on 127.0.0.1 ($($rows[0].Nodes)), F16 hand-off, greedy token back. $repetitions alternating repetitions (means), measured $(Get-Date -Format 'yyyy-MM-dd') on $([Environment]::ProcessorCount) logical CPUs.`n<!-- distributed:end -->"
    $text = Get-Content $benchmarks -Raw
    $text = [regex]::Replace($text, '(?s)<!-- distributed:start -->.*<!-- distributed:end -->', [System.Text.RegularExpressions.MatchEvaluator] { param($m) $section })
    Set-Content -Path $benchmarks -Value $text.TrimEnd() -NoNewline
    Write-Host $table
}

Describe 'Distributed decode against the local run' -Tag 'Benchmark' {
    It 'two <_>-thread workers on loopback against 2 local threads' -ForEach 1, 2 {
        $workerThreads = $_
        $workers = 1, 2 | ForEach-Object {
            Start-LlamaWorker -Port 0 -Threads $workerThreads -Name "bench-worker-$workerThreads-$_" -CacheDirectory (Join-Path $cacheRoot "w$_") -Detached
        }
        $cluster = New-LlamaCluster -Model $model -Worker $workers -Split Even
        $bench = @{ PromptTokens = 128; GenTokens = 32; Repetitions = 1 }

        # Warm-up of both (page cache, JIT), then alternating repetitions.
        $null = Invoke-LlamaBenchmark -Model $model -Threads 2 @bench
        $null = Invoke-LlamaBenchmark -Cluster $cluster @bench
        $local = @(); $remote = @(); $stage = @()
        for ($i = 0; $i -lt $repetitions; $i++) {
            $local += Invoke-LlamaBenchmark -Model $model -Threads 2 @bench
            $remote += Invoke-LlamaBenchmark -Cluster $cluster @bench
            # One worker's thread count on the whole model: what a ring of stages that run in turn can reach.
            $stage += Invoke-LlamaBenchmark -Model $model -Threads $workerThreads -PromptTokens 0 -GenTokens 32 -Repetitions 1
        }
        $mean = { param($rows, $test) [math]::Round(($rows | Where-Object Test -eq $test | Measure-Object -Property AverageTokensPerSecond -Average).Average, 2) }

        # Traffic and time per hop, from a greedy prompt through the ring: the workers count their own messages.
        $before = $workers | ForEach-Object { Get-LlamaWorker -Endpoint $_.Endpoint }
        $prompt = Invoke-LlamaPrompt -Cluster $cluster -Prompt 'Once upon a time' -MaxTokens 33 -Temperature 0
        $after = $workers | ForEach-Object { Get-LlamaWorker -Endpoint $_.Endpoint }
        $steps = 1 + $prompt.EvalRuns
        $hiddenBytes = ($after[1].ForwardBytesReceived - $before[1].ForwardBytesReceived - ($prompt.PromptTokens * 2048 * 2)) / $prompt.EvalRuns
        $replyBytes = ($after[1].ForwardBytesSent - $before[1].ForwardBytesSent) / $steps
        $networkMsPerHop = ($prompt.Workers | Measure-Object -Property NetworkMs -Sum).Sum / $steps / 3

        $row = [pscustomobject]@{
            Type                 = $type
            Workers              = "2 x $workerThreads thread$(if ($workerThreads -gt 1) { 's' })"
            LocalPromptTps       = & $mean $local 'pp128'
            ClusterPromptTps     = & $mean $remote 'pp128'
            LocalDecodeTps       = & $mean $local 'tg32'
            ClusterDecodeTps     = & $mean $remote 'tg32'
            StageDecodeTps       = & $mean $stage 'tg32'
            # What each worker measured at start-up: weight bytes per second its threads stream through a matvec.
            WorkerProbeGBs       = [math]::Round(($before | Measure-Object -Property BytesPerSecond -Average).Average / 1e9, 1)
            MessagesPerTokenHop  = ($after[1].ForwardMessagesReceived - $before[1].ForwardMessagesReceived) / $steps
            HiddenBytesPerToken  = [math]::Round($hiddenBytes, 1)
            ReplyBytesPerToken   = [math]::Round($replyBytes, 1)
            NetworkMsPerHopToken = [math]::Round($networkMsPerHop, 3)
            Nodes                = ($cluster.Nodes | ForEach-Object { "$($_.Endpoint)[$($_.Layers)]" }) -join ' '
        }
        $row | Add-Member PromptRatio ([math]::Round($row.ClusterPromptTps / $row.LocalPromptTps, 2))
        $row | Add-Member DecodeRatio ([math]::Round($row.ClusterDecodeTps / $row.LocalDecodeTps, 2))
        $row | Add-Member StageRatio ([math]::Round($row.ClusterDecodeTps / $row.StageDecodeTps, 2))
        $row | Format-List | Out-Host
        $rows.Add($row)
        $cluster | Remove-LlamaCluster
        $workers | Stop-LlamaWorker

        $row.MessagesPerTokenHop | Should -Be 1
        $row.ClusterDecodeTps | Should -BeGreaterThan 0
    }
}
