# Fault injection for the failover suites: detached workers (real processes) that a test kills (SIGKILL) or
# freezes (SIGSTOP) while a prompt runs, and restarts on the same port afterwards. Linux and macOS only (signals).

function Start-FaultWorker {
    # A detached worker with one thread and a cache directory of its own (kept across restarts on the same port).
    param([string] $Name, [string] $CacheRoot, [int] $Port = 0)
    Start-LlamaWorker -Port $Port -Threads 1 -Name $Name -CacheDirectory (Join-Path $CacheRoot $Name) -Detached
}

function Start-SignalAtStep {
    # Sends SIG$Signal to $Worker's process once it has received $Steps more Forward step messages than now (a
    # prompt batch or a decoded token is one message per stage), from a thread job that watches its counters: the
    # fault lands at a chosen point of the generation whatever the machine's speed. Returns once the job watches
    # (its module imported, its first reading taken): a job that started late on a busy machine would otherwise
    # first look when the prompt was already past the chosen point. Receive the job afterwards: it says at which
    # message the signal went, or that it never did.
    param($Worker, [ValidateSet('KILL', 'STOP')] [string] $Signal, [long] $Steps)
    $target = (Get-LlamaWorker -Endpoint $Worker.Endpoint).ForwardMessagesReceived + $Steps
    $manifest = Join-Path $script:RepositoryRoot 'LlamaDist.psd1'
    $watching = [System.Threading.ManualResetEventSlim]::new($false)
    $job = Start-ThreadJob -ArgumentList $manifest, $Worker.Endpoint, $Worker.ProcessId, $Signal, $target, $watching -ScriptBlock {
        param($manifest, $endpoint, $processId, $signal, $target, $watching)
        Import-Module $manifest
        $deadline = [DateTime]::UtcNow.AddSeconds(120)
        while ([DateTime]::UtcNow -lt $deadline) {
            $status = Get-LlamaWorker -Endpoint $endpoint -ErrorAction SilentlyContinue
            $watching.Set()
            if ($status -and $status.ForwardMessagesReceived -ge $target) {
                & kill "-$signal" $processId
                return "SIG$signal at message $($status.ForwardMessagesReceived)"
            }
            Start-Sleep -Milliseconds 2
        }
        "never reached message $target"
    }
    if (-not $watching.Wait([TimeSpan]::FromSeconds(60))) {
        $job | Remove-Job -Force
        throw "The signal job for $($Worker.Endpoint) did not start watching within 60 s."
    }
    $job
}

function Restart-FaultWorker {
    # Ends a killed or frozen worker for good and starts a fresh process on the same port (it holds no layers:
    # the cluster reloads them from its cache on the next prompt).
    param($Worker, [string] $CacheRoot)
    $process = Get-Process -Id $Worker.ProcessId -ErrorAction SilentlyContinue
    if ($process) {
        & kill -KILL $Worker.ProcessId 2>$null
        $null = $process.WaitForExit(10000)
    }
    $port = [int]($Worker.Endpoint -split ':')[-1]
    for ($try = 0; ; $try++) {
        try { return Start-FaultWorker -Name $Worker.Name -CacheRoot $CacheRoot -Port $port }
        catch { if ($try -ge 20) { throw }; Start-Sleep -Milliseconds 250 }   # the port may linger a moment
    }
}

function Get-FaultPrompt {
    # A prompt long enough that evaluating it takes a while on one thread (its batches are where "during prompt
    # evaluation" faults land), and fixed, so every run and the local reference see the same tokens.
    param([int] $Sentences = 60)
    (1..$Sentences | ForEach-Object { "Sentence $_ of a long story about a lighthouse keeper and the sea." }) -join ' '
}

function Wait-ClusterHealthy {
    # Until Get-LlamaCluster shows every node Healthy (a coordinator dials a refused address again after at most a
    # second), at most $Seconds.
    param([int] $Seconds = 10)
    $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
    while (((Get-LlamaCluster).Nodes.Health -contains 'Down') -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
}
