<#
    Emulated networks for the distributed benchmarks, built from parts a test can start and remove: network
    namespaces (one per worker, plus a hub holding a bridge), veth pairs into the hub (one for the coordinator,
    which stays in the caller's namespace), tc token-bucket (tbf) rate limits on both ends of every veth, and
    the project's latency-injecting relay (tests/LlamaDist.LinkRelay) in front of every worker: each worker
    listens on 127.0.0.1 inside its own namespace and is reached only through its relay, which delays every
    byte by half the round trip in each direction (netem is not in these kernels).
    Everything is named after the caller's process id, so parallel runs do not collide; Remove-EmulatedNetwork
    kills the processes it started and deletes the namespaces (their veths go with them), also after a failure.
    Dot-source this file.
#>

$script:EmulationRepositoryRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path

function Get-NetworkEmulationProblem {
    <# Why emulated networks cannot be built here, or $null when they can (the caller skips with the reason). #>
    if (-not $IsLinux) { return 'network namespaces and tc need Linux' }
    foreach ($tool in 'ip', 'tc') {
        if (-not (Get-Command $tool -CommandType Application -ErrorAction SilentlyContinue)) { return "'$tool' (iproute2) is not installed" }
    }
    $probe = "ldprobe-$PID"
    $output = & ip netns add $probe 2>&1
    if ($LASTEXITCODE -ne 0) { return "creating a network namespace failed (needs root or CAP_NET_ADMIN): $output" }
    try {
        $output = & ip netns exec $probe ip link add ldprobe0 type veth peer name ldprobe1 2>&1
        if ($LASTEXITCODE -ne 0) { return "creating a veth pair failed: $output" }
        $output = & ip netns exec $probe ip link add ldprobebr type bridge 2>&1
        if ($LASTEXITCODE -ne 0) { return "creating a bridge failed: $output" }
        $output = & ip netns exec $probe tc qdisc add dev ldprobe0 root tbf rate 1mbit burst 32kbit latency 50ms 2>&1
        if ($LASTEXITCODE -ne 0) { return "tc tbf is not available: $output" }
    }
    finally { & ip netns del $probe 2>&1 | Out-Null }
    return $null
}

function Invoke-Ip {
    param([Parameter(Mandatory)] [string[]] $Arguments, [string] $Namespace)
    $output = if ($Namespace) { & ip netns exec $Namespace @Arguments 2>&1 } else { & $Arguments[0] $Arguments[1..($Arguments.Count - 1)] 2>&1 }
    if ($LASTEXITCODE -ne 0) { throw "'$($Arguments -join ' ')'$(if ($Namespace) { " in $Namespace" }) failed: $output" }
}

function Set-LinkLimit {
    <# tbf on the egress of one interface: rate in Mbit/s, a burst of at least 1/100 s of traffic (and 32 KiB). #>
    param([string] $Device, [double] $RateMbit, [string] $Namespace)
    if ($RateMbit -le 0) { return }
    $burstBytes = [math]::Max(32KB, [int]($RateMbit * 1e6 / 8 / 100))
    Invoke-Ip -Namespace $Namespace -Arguments @('tc', 'qdisc', 'add', 'dev', $Device, 'root', 'tbf', 'rate', "$([int]$RateMbit)mbit",
        'burst', "$burstBytes", 'latency', '100ms')
}

function New-EmulatedNetwork {
    <#
        A hub namespace with a bridge, WorkerCount worker namespaces on it and the caller's namespace on it as
        10.<a>.<b>.1; every link limited to RateMbit (0: unlimited). Returns the network description that
        Start-EmulatedWorker and Remove-EmulatedNetwork take.
    #>
    param([Parameter(Mandatory)] [string] $Name, [int] $WorkerCount = 2, [double] $RateMbit = 0, [double] $RoundTripMs = 0, [int] $Index = 1)
    $tag = "ld$($PID % 10000)$Index"                       # interface names: at most 15 characters
    $subnet = "10.$(100 + $PID % 100).$Index"
    $network = [pscustomobject]@{
        Name = $Name; Tag = $tag; Subnet = $subnet; RateMbit = $RateMbit; RoundTripMs = $RoundTripMs
        Hub = "$Name-$PID-hub"; Namespaces = [System.Collections.Generic.List[string]]::new()
        Processes = [System.Collections.Generic.List[System.Diagnostics.Process]]::new(); Workers = @()
    }
    try {
        Invoke-Ip -Arguments @('ip', 'netns', 'add', $network.Hub); $network.Namespaces.Add($network.Hub)
        Invoke-Ip -Namespace $network.Hub -Arguments @('ip', 'link', 'add', 'br0', 'type', 'bridge')
        Invoke-Ip -Namespace $network.Hub -Arguments @('ip', 'link', 'set', 'br0', 'up')

        # The coordinator (this process) joins from its own namespace.
        Invoke-Ip -Arguments @('ip', 'link', 'add', "${tag}c", 'type', 'veth', 'peer', 'name', "${tag}cb")
        Invoke-Ip -Arguments @('ip', 'link', 'set', "${tag}cb", 'netns', $network.Hub)
        Invoke-Ip -Arguments @('ip', 'addr', 'add', "$subnet.1/24", 'dev', "${tag}c")
        Invoke-Ip -Arguments @('ip', 'link', 'set', "${tag}c", 'up')
        Invoke-Ip -Namespace $network.Hub -Arguments @('ip', 'link', 'set', "${tag}cb", 'master', 'br0', 'up')
        Set-LinkLimit -Device "${tag}c" -RateMbit $RateMbit
        Set-LinkLimit -Device "${tag}cb" -RateMbit $RateMbit -Namespace $network.Hub

        $network.Workers = @(for ($k = 1; $k -le $WorkerCount; $k++) {
                $namespace = "$Name-$PID-w$k"
                Invoke-Ip -Arguments @('ip', 'netns', 'add', $namespace); $network.Namespaces.Add($namespace)
                Invoke-Ip -Arguments @('ip', 'link', 'add', "${tag}w$k", 'type', 'veth', 'peer', 'name', "${tag}w${k}b")
                Invoke-Ip -Arguments @('ip', 'link', 'set', "${tag}w$k", 'netns', $namespace)
                Invoke-Ip -Arguments @('ip', 'link', 'set', "${tag}w${k}b", 'netns', $network.Hub)
                Invoke-Ip -Namespace $namespace -Arguments @('ip', 'addr', 'add', "$subnet.$(10 + $k)/24", 'dev', "${tag}w$k")
                Invoke-Ip -Namespace $namespace -Arguments @('ip', 'link', 'set', "${tag}w$k", 'up')
                Invoke-Ip -Namespace $namespace -Arguments @('ip', 'link', 'set', 'lo', 'up')
                Invoke-Ip -Namespace $network.Hub -Arguments @('ip', 'link', 'set', "${tag}w${k}b", 'master', 'br0', 'up')
                Set-LinkLimit -Device "${tag}w$k" -RateMbit $RateMbit -Namespace $namespace
                Set-LinkLimit -Device "${tag}w${k}b" -RateMbit $RateMbit -Namespace $network.Hub
                [pscustomobject]@{ Namespace = $namespace; Address = "$subnet.$(10 + $k)"; Endpoint = "$subnet.$(10 + $k):61000" }
            })
    }
    catch {
        Remove-EmulatedNetwork $network
        throw
    }
    return $network
}

function Get-LinkRelayPath {
    <# The relay, built (or brought up to date with its sources: an incremental build takes seconds) once per session. #>
    $dll = Join-Path $EmulationRepositoryRoot 'tests/LlamaDist.LinkRelay/bin/Release/net10.0/LlamaDist.LinkRelay.dll'
    if (-not $script:LinkRelayBuilt) {
        $output = & dotnet build (Join-Path $EmulationRepositoryRoot 'tests/LlamaDist.LinkRelay/LlamaDist.LinkRelay.csproj') -c Release --nologo -v quiet 2>&1
        if ($LASTEXITCODE -ne 0) { throw "Building the link relay failed: $output" }
        $script:LinkRelayBuilt = $true
    }
    return $dll
}

function Start-InNamespace {
    <# Starts a command inside a namespace (ip netns exec replaces itself with it, so the process id is the command's). #>
    param($Network, [string] $Namespace, [string] $FileName, [string[]] $Arguments, [string] $LogPath)
    $start = [System.Diagnostics.ProcessStartInfo]::new('ip')
    foreach ($argument in @('netns', 'exec', $Namespace, $FileName) + $Arguments) { $start.ArgumentList.Add($argument) }
    $start.RedirectStandardOutput = $true
    $start.RedirectStandardError = $true
    $start.UseShellExecute = $false
    $process = [System.Diagnostics.Process]::Start($start)
    $Network.Processes.Add($process)
    if ($LogPath) {
        # Drain both streams to the log so a chatty process never blocks on a full pipe.
        $null = $process.StandardOutput.BaseStream.CopyToAsync([IO.File]::Open("$LogPath.out", 'Create', 'Write', 'Read'))
        $null = $process.StandardError.BaseStream.CopyToAsync([IO.File]::Open("$LogPath.err", 'Create', 'Write', 'Read'))
    }
    return $process
}

function Get-WorkerCpu {
    <#
        The CPUs the Index-th (from 0) of several workers with Count threads each is pinned to: the CPUs this session
        may run on (/proc/self/status) dealt out in turn, Count to a worker, so 1-thread workers each emulate a
        machine of their own (on a 2-CPU machine two 2-thread workers both get CPUs 0 and 1, one compute thread on
        each); $null where that list cannot be read (then the workers are not pinned).
    #>
    param([int] $Index, [int] $Count = 1)
    if (-not $IsLinux) { return $null }
    $list = ((Get-Content /proc/self/status | Select-String '^Cpus_allowed_list:').Line -split ':\s*')[1]
    $cpus = @($list -split ',' | ForEach-Object { $bounds = [int[]]($_ -split '-'); $bounds[0]..$bounds[-1] })
    return @(0..($Count - 1) | ForEach-Object { $cpus[($Index * $Count + $_) % $cpus.Count] } | Select-Object -Unique)
}

function Start-EmulatedWorker {
    <#
        Starts a LlamaDist worker (or, with -LlamaCppRpcServer, llama.cpp's rpc-server) on 127.0.0.1:50052 in each
        worker namespace of the network, and the relay in front of it; waits until each answers through its relay.
        With -Pin each worker runs on a CPU of its own (Get-WorkerCpu), as a machine of its own would.
    #>
    param([Parameter(Mandatory)] $Network, [Parameter(Mandatory)] [string] $ModelPath, [int] $Threads = 1, [string] $LogDirectory,
        [string] $LlamaCppRpcServer, [switch] $Pin)
    $relay = Get-LinkRelayPath
    $workerDll = Join-Path (Split-Path (Get-Module LlamaDist).Path) 'Dependencies/LlamaDist.Worker.dll'
    if (-not (Test-Path $workerDll)) { throw "The worker executable is not at $workerDll; build the module first (./build.ps1 -Task Build)." }
    $dotnet = (Get-Command dotnet -CommandType Application | Select-Object -First 1).Source
    $oneWay = $Network.RoundTripMs / 2
    $index = 0
    foreach ($worker in $Network.Workers) {
        $cpu = if ($Pin) { Get-WorkerCpu -Index ($index++) }
        $log = if ($LogDirectory) { Join-Path $LogDirectory "$($worker.Namespace)$(if ($LlamaCppRpcServer) { '-rpc' })" }
        if ($LlamaCppRpcServer) {
            $null = Start-InNamespace $Network $worker.Namespace $LlamaCppRpcServer @('--host', '127.0.0.1', '--port', '50052') $log
        }
        else {
            $arguments = @($workerDll, '--address', '127.0.0.1', '--port', '50052',
                '--peer-port', '61001', '--threads', "$Threads", '--name', $worker.Namespace, '--model-path', $ModelPath, '--quiet', 'true',
                '--state-directory', 'none', '--cache-directory', (Join-Path ([IO.Path]::GetTempPath()) "$($worker.Namespace)-cache"))
            if ($null -ne $cpu) { $arguments += '--cpu-affinity', "$cpu" }
            $null = Start-InNamespace $Network $worker.Namespace $dotnet $arguments $log
        }
        $null = Start-InNamespace $Network $worker.Namespace $dotnet @($relay, '--listen', $worker.Endpoint, '--target', '127.0.0.1:50052',
            '--delay-ms', $oneWay.ToString([Globalization.CultureInfo]::InvariantCulture)) $(if ($log) { "$log-relay" })
        if (-not $LlamaCppRpcServer) {
            # The shards of a tensor split link to each other on the peer port: relayed the same way, on the same number.
            $null = Start-InNamespace $Network $worker.Namespace $dotnet @($relay, '--listen', "$($worker.Address):61001", '--target', '127.0.0.1:61001',
                '--delay-ms', $oneWay.ToString([Globalization.CultureInfo]::InvariantCulture)) $(if ($log) { "$log-peer-relay" })
        }
    }
    foreach ($worker in $Network.Workers) {
        $deadline = [DateTime]::UtcNow.AddSeconds(90)
        while ($true) {
            $ready = if ($LlamaCppRpcServer) { Test-TcpAnswer -Address $worker.Address -Port 61000 } else {
                $null -ne (Get-LlamaWorker -Endpoint $worker.Endpoint -ErrorAction SilentlyContinue) }
            if ($ready) { break }
            if ([DateTime]::UtcNow -gt $deadline) { throw "The worker in $($worker.Namespace) did not answer through its relay within 90 s." }
            Start-Sleep -Milliseconds 250
        }
    }
}

function Test-TcpAnswer {
    param([string] $Address, [int] $Port)
    $client = [System.Net.Sockets.TcpClient]::new()
    try { return $client.ConnectAsync($Address, $Port).Wait(500) -and $client.Connected }
    catch { return $false }
    finally { $client.Dispose() }
}

function Stop-EmulatedWorker {
    <# Kills the processes started in the network (workers and relays), keeping the namespaces. #>
    param([Parameter(Mandatory)] $Network)
    foreach ($process in $Network.Processes) {
        try { if (-not $process.HasExited) { $process.Kill($true); $null = $process.WaitForExit(5000) } } catch { }
        $process.Dispose()
    }
    $Network.Processes.Clear()
}

function Remove-EmulatedNetwork {
    <# Kills what was started in the network and deletes its namespaces (their veths, the coordinator's included, go with them). #>
    param([Parameter(Mandatory)] $Network)
    Stop-EmulatedWorker $Network
    foreach ($namespace in @($Network.Namespaces)) { & ip netns del $namespace 2>&1 | Out-Null }
    $Network.Namespaces.Clear()
    & ip link del "$($Network.Tag)c" 2>&1 | Out-Null   # normally already gone with its peer
}

function Measure-DistributedScenario {
    <#
        One row of the network table: a cluster of the given split over the given workers, prompt and decode
        t/s from Invoke-LlamaBenchmark, the network time per hop per token and the bytes per decoded token that
        cross the links (the workers' own counters: steps, hidden states or partial sums, replies, in and out,
        from the difference of two greedy runs that differ only in the tokens decoded).
    #>
    param([string] $Scenario, [string] $Model, [string[]] $Endpoint, [string] $Split, [int] $PromptTokens = 128, [int] $GenTokens = 32,
        [int] $Repetitions = 3, [string] $Encoding = 'F16', [switch] $Pinned)
    $cluster = New-LlamaCluster -Model $Model -Worker $Endpoint -Split $Split -ActivationEncoding $Encoding
    try {
        $bench = @{ PromptTokens = $PromptTokens; GenTokens = $GenTokens; Repetitions = $Repetitions }
        # A warm-up of the measured shape, as llama-bench's: fresh worker processes run their first hundred or so
        # tokens slower (on loopback 38-41 ms/token against 29-33 later), which 10 tokens did not cover.
        $null = Invoke-LlamaBenchmark -Cluster $cluster -PromptTokens $PromptTokens -GenTokens $GenTokens -Repetitions 1
        $rows = Invoke-LlamaBenchmark -Cluster $cluster @bench
        $bytes = {
            param([int] $tokens)
            $before = $Endpoint | ForEach-Object { Get-LlamaWorker -Endpoint $_ }
            $result = Invoke-LlamaPrompt -Cluster $cluster -Prompt 'Once upon a time' -MaxTokens $tokens -Temperature 0
            $after = $Endpoint | ForEach-Object { Get-LlamaWorker -Endpoint $_ }
            $total = 0
            for ($i = 0; $i -lt $after.Count; $i++) {
                $total += $after[$i].ForwardBytesReceived - $before[$i].ForwardBytesReceived + $after[$i].ForwardBytesSent - $before[$i].ForwardBytesSent
            }
            [pscustomobject]@{ Bytes = $total; Result = $result }
        }
        $short = & $bytes 1
        $long = & $bytes ($GenTokens + 1)
        $decoded = [math]::Max(1, $long.Result.GeneratedTokens - $short.Result.GeneratedTokens)
        $steps = [math]::Max(1, 1 + $long.Result.EvalRuns)
        $nodes = @($long.Result.Workers).Count
        $tensor = $cluster.Split -in 'Tensor', 'Hybrid'
        $layerCount = (Get-LlamaModel -Path $Model).LayerCount
        $groups = @($cluster.Nodes | Select-Object -ExpandProperty FirstLayer -Unique).Count
        # Layer: coordinator -> w1 -> ... -> wN -> coordinator, N + 1 hops in turn. Tensor: every shard waits for
        # two all-reduces per layer and the coordinator's step and reply; shards wait side by side, so average.
        # Hybrid: each shard waits for two all-reduces per layer of its group and its group's step and reply.
        $networkPerStep = ($long.Result.Workers | Measure-Object -Property NetworkMs -Sum).Sum / $steps
        $hopMs = if ($tensor) { $networkPerStep / $nodes / (2 * $layerCount / $groups + 2) } else { $networkPerStep / ($nodes + 1) }
        [pscustomobject]@{
            Scenario       = $Scenario
            Split          = if ($tensor) { $cluster.Split } else { "Layer ($($cluster.Split))" }
            Requested      = $Split
            Workers        = "$nodes x $(@($cluster.Nodes)[0].Threads)$(if ($Pinned) { ', pinned' })"
            PromptTps      = [math]::Round(($rows | Where-Object Test -eq "pp$PromptTokens").AverageTokensPerSecond, 2)
            DecodeTps      = [math]::Round(($rows | Where-Object Test -eq "tg$GenTokens").AverageTokensPerSecond, 2)
            HopMs          = [math]::Round($hopMs, 3)
            BytesPerToken  = [math]::Round(($long.Bytes - $short.Bytes) / $decoded, 0)
            Plan           = $cluster.Plan
        }
    }
    finally {
        $cluster | Remove-LlamaCluster
    }
}

function Start-LoopbackRpcServer {
    <#
        Starts llama.cpp's rpc-server -Count times on 127.0.0.1, each on a port the system had free a moment before,
        and waits (at most 30 s each) until it answers. Returns @{ Processes; Endpoint }; stop them with
        Stop-LoopbackRpcServer.
    #>
    param([Parameter(Mandatory)] [string] $RpcServer, [int] $Count = 2, [string] $LogDirectory)
    $servers = @{ Processes = [System.Collections.Generic.List[System.Diagnostics.Process]]::new(); Endpoint = @() }
    try {
        for ($i = 0; $i -lt $Count; $i++) {
            $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
            $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
            $start = [System.Diagnostics.ProcessStartInfo]::new($RpcServer)
            foreach ($argument in '--host', '127.0.0.1', '--port', "$port") { $start.ArgumentList.Add($argument) }
            $start.RedirectStandardOutput = $true; $start.RedirectStandardError = $true; $start.UseShellExecute = $false
            $process = [System.Diagnostics.Process]::Start($start)
            $servers.Processes.Add($process)
            if ($LogDirectory) {
                $log = Join-Path $LogDirectory "loopback-rpc-$i"
                $null = $process.StandardOutput.ReadToEndAsync().ContinueWith([Action[System.Threading.Tasks.Task[string]]] { param($t) [IO.File]::WriteAllText("$log.out", $t.Result) }.GetNewClosure())
                $null = $process.StandardError.ReadToEndAsync().ContinueWith([Action[System.Threading.Tasks.Task[string]]] { param($t) [IO.File]::WriteAllText("$log.err", $t.Result) }.GetNewClosure())
            }
            else { $null = $process.StandardOutput.ReadToEndAsync(); $null = $process.StandardError.ReadToEndAsync() }
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while (-not (Test-TcpAnswer -Address '127.0.0.1' -Port $port)) {
                if ($process.HasExited -or [DateTime]::UtcNow -gt $deadline) { throw "rpc-server on 127.0.0.1:$port did not start." }
                Start-Sleep -Milliseconds 100
            }
            $servers.Endpoint += "127.0.0.1:$port"
        }
        return $servers
    }
    catch { Stop-LoopbackRpcServer $servers; throw }
}

function Stop-LoopbackRpcServer {
    <# Kills what Start-LoopbackRpcServer started. #>
    param([Parameter(Mandatory)] $Servers)
    foreach ($process in $Servers.Processes) {
        try { if (-not $process.HasExited) { $process.Kill($true); $null = $process.WaitForExit(5000) } } catch { }
        $process.Dispose()
    }
    $Servers.Processes.Clear()
}

function Measure-LlamaCppRpcScenario {
    <# llama.cpp's llama-bench through rpc-servers at the endpoints (all layers offloaded to them), as one row. #>
    param([string] $Scenario, [string] $LlamaCppBin, [string] $Model, [string[]] $Endpoint, [int] $PromptTokens = 128, [int] $GenTokens = 32,
        [int] $Repetitions = 3, [int] $Threads = 2)
    $json = & (Join-Path $LlamaCppBin 'llama-bench') -m $Model --rpc ($Endpoint -join ',') -ngl 99 -p $PromptTokens -n $GenTokens -r $Repetitions -t $Threads -o json 2>$null
    if ($LASTEXITCODE -ne 0) { throw "llama-bench --rpc failed (exit code $LASTEXITCODE)." }
    $results = ($json -join "`n") | ConvertFrom-Json
    [pscustomobject]@{
        Scenario = $Scenario; Split = 'llama.cpp RPC'; Requested = 'rpc'; Workers = "$($Endpoint.Count) rpc-server"
        PromptTps = [math]::Round(($results | Where-Object { $_.n_prompt -gt 0 }).avg_ts, 2)
        DecodeTps = [math]::Round(($results | Where-Object { $_.n_gen -gt 0 }).avg_ts, 2)
        HopMs = ''; BytesPerToken = ''; Plan = ''
    }
}
