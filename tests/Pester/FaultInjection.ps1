# Fault injection for the failover suites: detached workers (real processes) that a test kills (SIGKILL) or
# freezes (SIGSTOP) while a prompt runs, and restarts on the same port afterwards. Linux and macOS only (signals).

function Start-FaultWorker {
    # A detached worker with one thread and a cache directory of its own (kept across restarts on the same port).
    param([string] $Name, [string] $CacheRoot, [int] $Port = 0)
    Start-LlamaWorker -Port $Port -Threads 1 -Name $Name -CacheDirectory (Join-Path $CacheRoot $Name) -Detached
}

function Invoke-DelayedSignal {
    # Sends SIG$Signal (KILL or STOP) to a process after $DelayMs, from a process of its own, so the test can be
    # inside Invoke-LlamaPrompt when it lands. Returns that process, to wait for.
    param([int] $ProcessId, [ValidateSet('KILL', 'STOP')] [string] $Signal, [int] $DelayMs)
    $seconds = ($DelayMs / 1000).ToString([Globalization.CultureInfo]::InvariantCulture)
    # One argument string: Start-Process joins a list with spaces, which would split the script.
    Start-Process -FilePath 'bash' -ArgumentList "-c `"sleep $seconds; kill -$Signal $ProcessId`"" -PassThru
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
