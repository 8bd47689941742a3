<#
    Benchmark (not a test): the seed's network table on one machine. The same model locally, on 2 workers over
    plain loopback, and on 2 workers in network namespaces behind an emulated 1 Gbit/s link with ~0.3 ms round
    trip and an emulated Wi-Fi link (~50 Mbit/s, ~5 ms round trip) — tc tbf rate limits and the project's latency
    relay (see NetworkEmulation.ps1) — for a layer split (2 threads per worker: stages run in turn), a tensor split
    (1 thread per worker: shards run at once; pinned to a CPU each, and once unpinned on loopback), -Split Auto (1 thread per worker, pinned), a hybrid split (4 workers of 1
    thread in 4 namespaces: two tensor pairs as two layer stages), and llama.cpp's rpc-server on loopback and over the same links
    when LLAMADIST_LLAMACPP_BIN names a native build's bin folder. Per scenario: prompt and
    decode t/s, network ms per hop per token, bytes per decoded token on the links, and what Auto predicted and
    chose, and the local prompt and decode measured right after the scenario that its ratios are taken against. Writes out/benchmarks/network.csv and the network table in docs/BENCHMARKS.md. Removes every
    namespace it made, also when a scenario fails.

    Run with: dotnet pwsh ./build.ps1 -Task Benchmark   (as root: it creates network namespaces)
    Knobs (environment): LLAMADIST_BENCH_PRESET (TinyLlama), LLAMADIST_BENCH_NET_TYPE (Q8_0),
    LLAMADIST_BENCH_REPETITIONS (3), LLAMADIST_BENCH_PROMPT (128), LLAMADIST_BENCH_GEN (32).
#>
BeforeAll {
    $script:RepositoryRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    Import-Module (Join-Path $RepositoryRoot 'LlamaDist.psd1') -Force
    . (Join-Path $PSScriptRoot 'NetworkEmulation.ps1')
    $script:Problem = Get-NetworkEmulationProblem
    $script:preset = if ($env:LLAMADIST_BENCH_PRESET) { $env:LLAMADIST_BENCH_PRESET } else { 'TinyLlama' }
    $script:type = if ($env:LLAMADIST_BENCH_NET_TYPE) { $env:LLAMADIST_BENCH_NET_TYPE } else { 'Q8_0' }
    $script:repetitions = if ($env:LLAMADIST_BENCH_REPETITIONS) { [int]$env:LLAMADIST_BENCH_REPETITIONS } else { 3 }
    $script:promptTokens = if ($env:LLAMADIST_BENCH_PROMPT) { [int]$env:LLAMADIST_BENCH_PROMPT } else { 128 }
    $script:genTokens = if ($env:LLAMADIST_BENCH_GEN) { [int]$env:LLAMADIST_BENCH_GEN } else { 32 }
    $script:llamaCpp = $env:LLAMADIST_LLAMACPP_BIN
    $script:modelDirectory = Join-Path $RepositoryRoot 'out/bench-models'
    $script:resultDirectory = Join-Path $RepositoryRoot 'out/benchmarks'
    $script:logDirectory = Join-Path $resultDirectory 'network-logs'
    $null = New-Item -ItemType Directory -Force -Path $modelDirectory, $resultDirectory, $logDirectory
    $script:model = Join-Path $modelDirectory "$preset-$type.gguf"
    if (-not (Test-Path $model)) { $null = New-LlamaTestModel -Path $model -Preset $preset -Type $type -Seed 1 }
    $script:rows = [System.Collections.Generic.List[object]]::new()
    $script:networks = [System.Collections.Generic.List[object]]::new()
    $script:scenario = @{ Model = $model; PromptTokens = $promptTokens; GenTokens = $genTokens; Repetitions = $repetitions }

    # The same model run locally with 2 threads: prompt and decode t/s.
    function Measure-Local {
        $local = Invoke-LlamaBenchmark -Model $model -Threads 2 -PromptTokens $promptTokens -GenTokens $genTokens -Repetitions $repetitions
        [pscustomobject]@{
            Prompt = ($local | Where-Object Test -eq "pp$promptTokens").AverageTokensPerSecond
            Decode = ($local | Where-Object Test -eq "tg$genTokens").AverageTokensPerSecond
        }
    }

    # Each row's ratios are taken against a local run measured right after it (the workers idle), not only against
    # the run's first local row: this VM's memory bandwidth and CPU share move local prompts and decode by a third
    # within minutes.
    function Add-Row($row, $local) {
        $beside = if ($row.Scenario -eq 'local') { $local } else { Measure-Local }
        $row | Add-Member LocalPromptTps ([math]::Round($beside.Prompt, 2))
        $row | Add-Member PromptVsLocal ([math]::Round($row.PromptTps / $beside.Prompt, 2))
        $row | Add-Member LocalDecodeTps ([math]::Round($beside.Decode, 2))
        $row | Add-Member DecodeVsLocal ([math]::Round($row.DecodeTps / $beside.Decode, 2)) -PassThru | Format-List | Out-Host
        $rows.Add($row)
    }
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker -Name 'netbench-*' | Stop-LlamaWorker
    foreach ($network in $networks) { Remove-EmulatedNetwork $network }
    if ($rows.Count -eq 0) { return }
    $rows | Export-Csv -Path (Join-Path $resultDirectory 'network.csv') -NoTypeInformation
    $table = @(
        '| link | split | workers | prompt t/s | local prompt t/s right after | prompt / local | decode t/s | local decode t/s right after | decode / local 2 threads | network ms/hop/token | bytes/token on the links | Auto''s prediction |'
        '|---|---|---|---|---|---|---|---|---|---|---|---|'
        $rows | ForEach-Object { "| $($_.Scenario) | $($_.Split -replace ' \(Auto\)$', '')$(if ($_.Requested -eq 'Auto') { ' chosen by Auto' }) | $($_.Workers) | $($_.PromptTps) | $($_.LocalPromptTps) | $($_.PromptVsLocal)x | $($_.DecodeTps) | $($_.LocalDecodeTps) | $($_.DecodeVsLocal)x | $($_.HopMs) | $($_.BytesPerToken) | $($_.Plan) |" }
    ) -join "`n"
    $benchmarks = Join-Path $RepositoryRoot 'docs/BENCHMARKS.md'
    $section = "<!-- network:start -->`n$table`n`n$preset $type, pp$promptTokens / tg$genTokens, $repetitions repetitions, measured $(Get-Date -Format 'yyyy-MM-dd') on $([Environment]::ProcessorCount) logical CPUs.`n<!-- network:end -->"
    $text = Get-Content $benchmarks -Raw
    $text = [regex]::Replace($text, '(?s)<!-- network:start -->.*<!-- network:end -->', [System.Text.RegularExpressions.MatchEvaluator] { param($m) $section })
    Set-Content -Path $benchmarks -Value $text.TrimEnd() -NoNewline
    Write-Host $table
}

Describe 'Splits over emulated networks' -Tag 'Benchmark' {
    BeforeAll {
        $script:local = Measure-Local
        Add-Row ([pscustomobject]@{ Scenario = 'local'; Split = 'none'; Requested = ''; Workers = '2 threads'
                PromptTps = [math]::Round($local.Prompt, 2); DecodeTps = [math]::Round($local.Decode, 2); HopMs = ''; BytesPerToken = ''; Plan = '' }) $local
    }

    It 'loopback: layer split on 2 x 2 threads, tensor and Auto on 2 x 1 thread, llama.cpp RPC' {
        # 1-thread workers run on a CPU each (-CpuAffinity), as two one-core machines would; the tensor split also
        # runs unpinned, where the scheduler may move a shard onto its peer's core. The layer split runs both ways
        # too: pinned, each worker's compute threads run on a CPU each (the two workers share them, taking turns).
        foreach ($layout in @{ Threads = 2; Pin = $false; Splits = @('Even') }, @{ Threads = 2; Pin = $true; Splits = @('Even') },
            @{ Threads = 1; Pin = $true; Splits = @('Tensor', 'Auto') }, @{ Threads = 1; Pin = $false; Splits = @('Tensor') }) {
            $threads = $layout.Threads
            $workers = 0, 1 | ForEach-Object {
                $cpu = if ($layout.Pin) { Get-WorkerCpu -Index $_ -Count $threads }
                $pin = if ($null -ne $cpu) { @{ CpuAffinity = $cpu } } else { @{} }
                Start-LlamaWorker -Port 0 -Threads $threads -Name "netbench-$threads-$_" -Detached -ModelPath $model @pin
            }
            try {
                foreach ($split in $layout.Splits) {
                    Add-Row (Measure-DistributedScenario -Scenario 'loopback' -Endpoint $workers.Endpoint -Split $split -Pinned:($layout.Pin -and $IsLinux) @scenario) $local
                }
            }
            finally { $workers | Stop-LlamaWorker }
        }
        # llama.cpp's rpc-servers on the same loopback, the layer split's reference row.
        if ($llamaCpp -and (Test-Path (Join-Path $llamaCpp 'rpc-server'))) {
            $servers = Start-LoopbackRpcServer -RpcServer (Join-Path $llamaCpp 'rpc-server') -Count 2 -LogDirectory $logDirectory
            try {
                Add-Row (Measure-LlamaCppRpcScenario -Scenario 'loopback' -LlamaCppBin $llamaCpp -Model $model -Endpoint $servers.Endpoint `
                        -PromptTokens $promptTokens -GenTokens $genTokens -Repetitions $repetitions) $local
            }
            finally { Stop-LoopbackRpcServer $servers }
        }
    }

    It '<Name>: layer, tensor, Auto and llama.cpp RPC' -ForEach @(
        @{ Name = '1 Gbit/s, 0.3 ms'; Rate = 1000; RoundTrip = 0.3; Index = 1 }
        @{ Name = 'Wi-Fi 50 Mbit/s, 5 ms'; Rate = 50; RoundTrip = 5; Index = 2 }
    ) {
        if ($Problem) { Set-ItResult -Skipped -Because $Problem; return }
        $network = New-EmulatedNetwork -Name 'ldbench' -WorkerCount 2 -RateMbit $Rate -RoundTripMs $RoundTrip -Index $Index
        $networks.Add($network)
        try {
            foreach ($threads in 2, 1) {
                $pin = $threads -eq 1   # 1-thread workers on a CPU each, as on the loopback
                Start-EmulatedWorker -Network $network -ModelPath $model -Threads $threads -LogDirectory $logDirectory -Pin:$pin
                $splits = if ($threads -eq 2) { @('Even') } else { @('Tensor', 'Auto') }
                foreach ($split in $splits) {
                    Add-Row (Measure-DistributedScenario -Scenario $Name -Endpoint $network.Workers.Endpoint -Split $split -Pinned:($pin -and $IsLinux) @scenario) $local
                }
                Stop-EmulatedWorker $network
            }
            if ($llamaCpp -and (Test-Path (Join-Path $llamaCpp 'rpc-server'))) {
                Start-EmulatedWorker -Network $network -ModelPath $model -LlamaCppRpcServer (Join-Path $llamaCpp 'rpc-server') -LogDirectory $logDirectory
                Add-Row (Measure-LlamaCppRpcScenario -Scenario $Name -LlamaCppBin $llamaCpp -Model $model -Endpoint $network.Workers.Endpoint `
                        -PromptTokens $promptTokens -GenTokens $genTokens -Repetitions $repetitions) $local
            }
        }
        finally {
            Remove-EmulatedNetwork $network
        }
    }

    It '<Name>: hybrid, two tensor pairs of 1-thread workers as two stages' -ForEach @(
        @{ Name = '1 Gbit/s, 0.3 ms'; Rate = 1000; RoundTrip = 0.3; Index = 3 }
        @{ Name = 'Wi-Fi 50 Mbit/s, 5 ms'; Rate = 50; RoundTrip = 5; Index = 4 }
    ) {
        if ($Problem) { Set-ItResult -Skipped -Because $Problem; return }
        $network = New-EmulatedNetwork -Name 'ldbench' -WorkerCount 4 -RateMbit $Rate -RoundTripMs $RoundTrip -Index $Index
        $networks.Add($network)
        try {
            Start-EmulatedWorker -Network $network -ModelPath $model -Threads 1 -LogDirectory $logDirectory -Pin
            Add-Row (Measure-DistributedScenario -Scenario $Name -Endpoint $network.Workers.Endpoint -Split 'Hybrid' -Pinned:$IsLinux @scenario) $local
        }
        finally {
            Remove-EmulatedNetwork $network
        }
    }
}
