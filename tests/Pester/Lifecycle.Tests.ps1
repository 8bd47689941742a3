# Detached workers as a user meets them: found and stopped from a new session, by endpoint through the pipeline,
# surviving Ctrl+C and a closed console, advertising a dialable endpoint when bound to 0.0.0.0, never orphaned
# by a failed start, pinned to the CPUs asked for, and logging to a file.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:ModulePath = Join-Path $script:RepositoryRoot 'LlamaDist.psd1'
    $script:StateDirectory = Join-Path $env:XDG_STATE_HOME 'llamadist/workers'
    $script:Prompt = 'Once upon a time there was a little'

    function Invoke-NewSession([string] $Command) {
        # A separate pwsh process (a new session of the same user, with this suite's state directory).
        $output = & dotnet pwsh -NoProfile -NonInteractive -Command "Import-Module '$script:ModulePath'; $Command" 2>&1
        if ($LASTEXITCODE -ne 0) { throw "The new session failed ($LASTEXITCODE): $output" }
        return $output
    }

    function Test-ProcessRunning([int] $Id) {
        $null -ne (Get-Process -Id $Id -ErrorAction SilentlyContinue)
    }

    function Wait-ProcessExit([int] $Id, [int] $Seconds = 15) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        while ((Test-ProcessRunning $Id) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        -not (Test-ProcessRunning $Id)
    }
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker | Stop-LlamaWorker
}

Describe 'A detached worker seen from a new session' -Tag 'Slow' {
    It 'is listed by Get-LlamaWorker in a new session and stopped by Stop-LlamaWorker there' {
        $worker = Start-LlamaWorker -Port 0 -Threads 1 -Name 'lifecycle-listed' -Detached
        try {
            Test-Path (Join-Path $script:StateDirectory "$($worker.ProcessId).json") | Should -BeTrue
            $listed = Invoke-NewSession "Get-LlamaWorker -Name 'lifecycle-listed' | ForEach-Object { '{0}|{1}|{2}' -f `$_.Endpoint, `$_.ProcessId, `$_.Detached }"
            $listed | Should -Be "$($worker.Endpoint)|$($worker.ProcessId)|True"

            Invoke-NewSession "Get-LlamaWorker -Name 'lifecycle-listed' | Stop-LlamaWorker; @(Get-LlamaWorker -Name 'lifecycle-listed').Count" |
                Should -Be '0'
            Wait-ProcessExit $worker.ProcessId | Should -BeTrue
            Test-Path (Join-Path $script:StateDirectory "$($worker.ProcessId).json") | Should -BeFalse
        }
        finally { $worker | Stop-LlamaWorker -ErrorAction SilentlyContinue }
    }

    It 'stops through the pipeline from Get-LlamaWorker -Endpoint (the Shutdown call), with ShouldProcess' {
        $worker = Start-LlamaWorker -Port 0 -Threads 1 -Name 'lifecycle-endpoint' -Detached
        try {
            Get-LlamaWorker -Endpoint $worker.Endpoint | Stop-LlamaWorker -WhatIf
            Test-ProcessRunning $worker.ProcessId | Should -BeTrue

            $messages = Get-LlamaWorker -Endpoint $worker.Endpoint | Stop-LlamaWorker -Verbose 4>&1
            ($messages | Out-String) | Should -Match "process $($worker.ProcessId)\) shut down and exited"
            Wait-ProcessExit $worker.ProcessId | Should -BeTrue
            Get-Content $worker.LogPath -Raw | Should -Match 'Shutdown requested by'
        }
        finally { $worker | Stop-LlamaWorker -ErrorAction SilentlyContinue }
    }

    It 'survives Ctrl+C to its console''s process group and the console closing' -Skip:($IsWindows) {
        $endpointFile = Join-Path $TestDrive 'console-endpoint.txt'
        $command = "Import-Module '$script:ModulePath'; `$w = Start-LlamaWorker -Port 0 -Threads 1 -Name 'lifecycle-console' -Detached; " +
            "Set-Content -Path '$endpointFile' -Value `$w.Endpoint; Start-Sleep -Seconds 120"
        # The console: a pwsh in a process group (and session) of its own, as a terminal's shell is.
        $console = Start-Process -FilePath setsid -ArgumentList @('dotnet', 'pwsh', '-NoProfile', '-NonInteractive', '-Command', $command) -PassThru
        $workerProcess = $null
        try {
            $deadline = [DateTime]::UtcNow.AddSeconds(60)
            while (-not (Test-Path $endpointFile) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 200 }
            $endpoint = (Get-Content $endpointFile -ErrorAction Stop).Trim()
            $workerProcess = (Get-LlamaWorker -Name 'lifecycle-console').ProcessId

            & kill -s INT -- "-$($console.Id)"   # Ctrl+C: SIGINT to the console's foreground process group
            Start-Sleep -Milliseconds 500
            # The terminal closing: SIGHUP to its session's process group, then whatever is left of it is killed
            # (the console's pwsh may already have ended on SIGINT, so the group can be empty by now).
            & kill -s HUP -- "-$($console.Id)" 2>$null
            & kill -s KILL -- "-$($console.Id)" 2>$null
            Wait-ProcessExit $console.Id | Should -BeTrue
            Start-Sleep -Milliseconds 500

            (Get-LlamaWorker -Endpoint $endpoint).Name | Should -Be 'lifecycle-console'
            Test-ProcessRunning $workerProcess | Should -BeTrue
        }
        finally {
            if (-not $console.HasExited) { $console.Kill($true) }
            Get-LlamaWorker -Name 'lifecycle-console' | Stop-LlamaWorker
        }
    }
}

Describe 'Wildcard addresses and failed starts' -Tag 'Slow' {
    It 'advertises a dialable endpoint when bound to 0.0.0.0, embedded and detached' {
        $embedded = Start-LlamaWorker -Address 0.0.0.0 -Port 0 -Threads 1 -AllowInsecure -WarningAction SilentlyContinue
        $detached = Start-LlamaWorker -Address 0.0.0.0 -Port 0 -Threads 1 -AllowInsecure -Detached -WarningAction SilentlyContinue
        try {
            foreach ($worker in $embedded, $detached) {
                $hostPart = $worker.Endpoint -replace ':\d+$', ''
                $hostPart | Should -Not -Be '0.0.0.0'
                $address = $null
                if ([System.Net.IPAddress]::TryParse($hostPart, [ref] $address)) {
                    [System.Net.IPAddress]::IsLoopback($address) | Should -BeFalse
                    $address.Equals([System.Net.IPAddress]::Any) | Should -BeFalse
                }
                else {
                    $hostPart | Should -Be ([System.Net.Dns]::GetHostName())
                }
            }
        }
        finally { $embedded, $detached | Stop-LlamaWorker }
    }

    It 'pipes a 0.0.0.0 worker with -AdvertiseAddress straight into New-LlamaCluster, with the local greedy tokens' {
        $model = Join-Path $TestDrive 'small.gguf'
        $null = New-LlamaTestModel -Path $model -Preset Small -Type F32 -Seed 3
        $expected = (Invoke-LlamaPrompt -Model $model -Prompt $script:Prompt -Temperature 0 -MaxTokens 8 -Threads 1).TokenIds
        $worker = Start-LlamaWorker -Address 0.0.0.0 -Port 0 -Threads 1 -AllowInsecure -AdvertiseAddress 127.0.0.1 -Detached -WarningAction SilentlyContinue
        try {
            $worker.Endpoint | Should -Match '^127\.0\.0\.1:\d+$'
            $cluster = $worker | New-LlamaCluster -Model $model -ActivationEncoding F32
            $cluster.Nodes.Endpoint | Should -Be @($worker.Endpoint)
            (Invoke-LlamaPrompt -Cluster $cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens 8).TokenIds | Should -Be $expected
            $cluster | Remove-LlamaCluster
        }
        finally { $worker | Stop-LlamaWorker }
    }

    It 'stops the process it started when the readiness check fails (no orphan)' {
        # A PEM certificate with mutual TLS pinned to someone else's client certificate: the worker starts, but the
        # module's own readiness check cannot present a client certificate it accepts.
        $rsa = [System.Security.Cryptography.RSA]::Create(2048)
        $request = [System.Security.Cryptography.X509Certificates.CertificateRequest]::new('CN=localhost', $rsa, 'SHA256',
            [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
        $certificate = $request.CreateSelfSigned([DateTimeOffset]::Now.AddDays(-1), [DateTimeOffset]::Now.AddDays(1))
        Set-Content (Join-Path $TestDrive 'worker.pem') $certificate.ExportCertificatePem()
        Set-Content (Join-Path $TestDrive 'worker.key') $rsa.ExportPkcs8PrivateKeyPem()
        $before = @(Get-LlamaWorker).Count
        $log = Join-Path $TestDrive 'orphan.log'

        $record = Get-ErrorRecordOf {
            Start-LlamaWorker -Port 0 -Threads 1 -Detached -LogPath $log -CertificatePath (Join-Path $TestDrive 'worker.pem') `
                -CertificateKeyPath (Join-Path $TestDrive 'worker.key') -ClientCertificateThumbprint ('AB' * 32)
        }

        $record | Should -Not -BeNullOrEmpty
        $record.FullyQualifiedErrorId | Should -Match 'Start-?LlamaWorker|StartLlamaWorker'
        Get-Content $log -Raw | Should -Match 'LlamaDist worker listening on'   # it had started: the failure came after
        $started = [int]((Get-Content $log | Select-String 'process (\d+)').Matches[0].Groups[1].Value)
        Wait-ProcessExit $started | Should -BeTrue
        @(Get-LlamaWorker).Count | Should -Be $before
    }

    It 'reports an unusable certificate with its ErrorId and leaves nothing running' {
        Set-Content (Join-Path $TestDrive 'broken.pfx') 'not a certificate'
        $before = @(Get-LlamaWorker).Count
        Get-ErrorIdOf { Start-LlamaWorker -Port 0 -Threads 1 -Detached -CertificatePath (Join-Path $TestDrive 'broken.pfx') } |
            Should -Be 'InvalidCertificate'
        @(Get-LlamaWorker).Count | Should -Be $before
    }
}

Describe 'CPU affinity' -Tag 'Slow' {
    BeforeAll {
        # The CPUs this session may run on, as /proc spells them ("0-1"); the first of them is the one pinned to.
        $script:AllowedCpus = if ($IsLinux) { ((Get-Content /proc/self/status | Select-String '^Cpus_allowed_list:').Line -split ':\s*')[1] }
        $script:FirstCpu = if ($AllowedCpus) { [int](($AllowedCpus -split '[,-]')[0]) }
    }

    It 'pins every thread of a detached worker, which then computes on one thread and answers like the local model' -Skip:(-not $IsLinux) {
        $model = Join-Path $TestDrive 'pinned.gguf'
        $null = New-LlamaTestModel -Path $model -Preset Small -Type F32 -Seed 5
        $expected = (Invoke-LlamaPrompt -Model $model -Prompt $script:Prompt -Temperature 0 -MaxTokens 6 -Threads 1).TokenIds
        $worker = Start-LlamaWorker -Port 0 -Detached -CpuAffinity $FirstCpu
        try {
            $worker.Threads | Should -Be 1
            $cluster = $worker | New-LlamaCluster -Model $model -ActivationEncoding F32
            (Invoke-LlamaPrompt -Cluster $cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens 6).TokenIds | Should -Be $expected
            $cluster | Remove-LlamaCluster
            # Every thread, the ones the host started after the pinning included (Kestrel's, the compute thread).
            $tasks = @(Get-ChildItem "/proc/$($worker.ProcessId)/task")
            $tasks.Count | Should -BeGreaterThan 5
            $sets = $tasks | ForEach-Object {
                ((Get-Content "$($_.FullName)/status" -ErrorAction SilentlyContinue | Select-String '^Cpus_allowed_list:').Line -split ':\s*')[1]
            } | Where-Object { $_ } | Sort-Object -Unique
            $sets | Should -Be @("$FirstCpu")
            Get-Content $worker.LogPath -Raw | Should -Match "1 threads on CPUs $FirstCpu,"
        }
        finally { $worker | Stop-LlamaWorker }
    }

    It 'refuses a CPU this session may not run on, before a worker starts' -Skip:(-not ($IsLinux -or $IsWindows)) {
        $before = @(Get-LlamaWorker).Count
        $record = Get-ErrorRecordOf { Start-LlamaWorker -Port 0 -Detached -CpuAffinity 0, 1023 }
        ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'InvalidArgument'
        $record.Exception.Message | Should -Match 'CPU 1023 is not available'
        @(Get-LlamaWorker).Count | Should -Be $before
    }

    It 'refuses to pin a worker hosted in this PowerShell (it would pin PowerShell itself)' {
        $before = @(Get-LlamaWorker).Count
        $record = Get-ErrorRecordOf { Start-LlamaWorker -Port 0 -CpuAffinity 0 }
        ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'InvalidArgument'
        $record.Exception.Message | Should -Match '-Detached'
        @(Get-LlamaWorker).Count | Should -Be $before
    }
}

Describe 'The log of a detached worker' -Tag 'Slow' {
    It 'reports a log file it cannot write, with the worker''s own reason' -Skip:($IsWindows) {
        $record = Get-ErrorRecordOf { Start-LlamaWorker -Port 0 -Threads 1 -Detached -LogPath '/proc/llamadist-no-such-dir/worker.log' }
        ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'WorkerFailed'
        $record.Exception.Message | Should -Match 'Cannot write the log file /proc/llamadist-no-such-dir/worker.log'
    }

    It 'logs to the state directory by default (workers/PORT.log), and to -LogPath' {
        $port = Get-Random -Minimum 20000 -Maximum 60000
        $default = Start-LlamaWorker -Port $port -Threads 1 -Detached -ErrorAction SilentlyContinue
        $chosen = Start-LlamaWorker -Port 0 -Threads 1 -Detached -LogPath (Join-Path $TestDrive 'logs/chosen.log')
        try {
            if ($default) {
                $default.LogPath | Should -Be (Join-Path $script:StateDirectory "$port.log")
                Get-Content $default.LogPath -Raw | Should -Match 'LlamaDist worker listening on'
            }
            $chosen.LogPath | Should -Be (Join-Path $TestDrive 'logs/chosen.log')
            $null = Get-LlamaWorker -Endpoint $chosen.Endpoint
            $text = Get-Content $chosen.LogPath -Raw
            $text | Should -Match "process $($chosen.ProcessId)"
            $text | Should -Match "Handshake from 'status@"
            if (-not $IsWindows) {
                (Get-Item $chosen.LogPath).UnixMode | Should -Be '-rw-------'
            }
        }
        finally { $default, $chosen | Where-Object { $_ } | Stop-LlamaWorker }
        Get-Content $chosen.LogPath -Tail 1 | Should -Match 'LlamaDist worker stopped'
    }
}
