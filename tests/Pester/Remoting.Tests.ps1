# The remoting use of the module, for real: a real OpenSSH server on a loopback port with pwsh as its
# "powershell" subsystem; Invoke-Command -HostName starts a detached worker there, the remoting session closes,
# and a cluster over that (still running) worker gives the local run's greedy tokens.
# Needs sshd: when it is missing and this runs as root, Debian's openssh-server is installed; otherwise the tests
# are skipped with the reason.
BeforeDiscovery {
    $script:SkipReason = $null
    if ($IsWindows) {
        $script:SkipReason = 'SSH remoting is tested on Linux and macOS (Windows uses WinRM, -ComputerName)'
    }
    else {
        $sshd = @('/usr/sbin/sshd', '/usr/local/sbin/sshd') | Where-Object { Test-Path $_ } | Select-Object -First 1
        if (-not $sshd -and (& id -u) -eq '0' -and (Get-Command apt-get -ErrorAction SilentlyContinue)) {
            $env:DEBIAN_FRONTEND = 'noninteractive'
            $null = & apt-get install -y --no-install-recommends openssh-server openssh-client 2>&1
            if ($LASTEXITCODE -ne 0) { $null = & apt-get update 2>&1; $null = & apt-get install -y --no-install-recommends openssh-server openssh-client 2>&1 }
            $sshd = @('/usr/sbin/sshd') | Where-Object { Test-Path $_ } | Select-Object -First 1
        }
        if (-not $sshd) {
            $script:SkipReason = 'no OpenSSH server (sshd) here, and it cannot be installed (needs root and apt-get)'
        }
        elseif (-not (Get-Command ssh -ErrorAction SilentlyContinue)) {
            $script:SkipReason = 'no OpenSSH client (ssh), which Invoke-Command -HostName runs'
        }
    }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:ModulePath = Join-Path $script:RepositoryRoot 'LlamaDist.psd1'
    $script:Prompt = 'Once upon a time there was a little'
    $script:Token = 'remoting-cluster-secret-' + [Guid]::NewGuid().ToString('N')
    $script:SecureToken = ConvertTo-SecureString $script:Token -AsPlainText -Force
    $script:Sshd = $null
    $script:Endpoint = $null
}

AfterAll {
    if ($script:Endpoint) {
        Stop-LlamaWorker -Endpoint $script:Endpoint -Token $script:SecureToken -ErrorAction SilentlyContinue
    }
    Get-LlamaWorker | Stop-LlamaWorker
    if ($script:Sshd -and -not $script:Sshd.HasExited) { $script:Sshd.Kill($true); $script:Sshd.WaitForExit(5000) }
}

Describe 'Start-LlamaWorker -Detached over SSH remoting' -Skip:([bool]$script:SkipReason) -Tag 'Slow' {
    BeforeAll {
        $directory = Join-Path $TestDrive 'ssh'
        $null = New-Item -ItemType Directory -Path $directory
        & chmod 700 $directory
        $hostKey = Join-Path $directory 'host_ed25519'
        $userKey = Join-Path $directory 'user_ed25519'
        & ssh-keygen -q -t ed25519 -N '' -f $hostKey
        & ssh-keygen -q -t ed25519 -N '' -f $userKey
        Copy-Item "$userKey.pub" (Join-Path $directory 'authorized_keys')
        & chmod 600 (Join-Path $directory 'authorized_keys')

        # A free loopback port: bound, read, released.
        $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $listener.Start(); $script:SshPort = $listener.LocalEndpoint.Port; $listener.Stop()

        # pwsh is a dotnet tool here: the subsystem runs its pwsh.dll under the dotnet host.
        $dotnet = (Get-Command dotnet).Source
        $pwshDll = Join-Path $PSHOME 'pwsh.dll'
        $config = Join-Path $directory 'sshd_config'
        @(
            "Port $script:SshPort"
            'ListenAddress 127.0.0.1'
            "HostKey $hostKey"
            "PidFile $(Join-Path $directory 'sshd.pid')"
            "AuthorizedKeysFile $(Join-Path $directory 'authorized_keys')"
            'PubkeyAuthentication yes'
            'PasswordAuthentication no'
            'KbdInteractiveAuthentication no'
            'PermitRootLogin prohibit-password'
            'UsePAM no'
            'StrictModes no'
            "Subsystem powershell $dotnet $pwshDll -sshs -NoLogo -NoProfile"
        ) | Set-Content $config
        $null = New-Item -ItemType Directory -Path /run/sshd -Force   # privilege separation directory
        $sshdPath = @('/usr/sbin/sshd', '/usr/local/sbin/sshd') | Where-Object { Test-Path $_ } | Select-Object -First 1
        & $sshdPath -t -f $config
        $LASTEXITCODE | Should -Be 0
        $script:Sshd = Start-Process -FilePath $sshdPath -ArgumentList @('-D', '-e', '-f', $config) -PassThru `
            -RedirectStandardError (Join-Path $directory 'sshd.log')
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        do {
            Start-Sleep -Milliseconds 100
            $client = [System.Net.Sockets.TcpClient]::new()
            try { $client.Connect([System.Net.IPAddress]::Loopback, $script:SshPort); $listening = $true } catch { $listening = $false } finally { $client.Dispose() }
        } until ($listening -or [DateTime]::UtcNow -gt $deadline)
        $listening | Should -BeTrue

        # The server's key is pinned in a known_hosts file of the test's own: no prompt, no trust on first use.
        $knownHosts = Join-Path $directory 'known_hosts'
        "[127.0.0.1]:$script:SshPort $((Get-Content "$hostKey.pub").Trim())" | Set-Content $knownHosts
        $script:SshArguments = @{
            HostName = '127.0.0.1'; Port = $script:SshPort; UserName = (& id -un); KeyFilePath = $userKey
            Options = @{ UserKnownHostsFile = $knownHosts; StrictHostKeyChecking = 'yes'; GlobalKnownHostsFile = '/dev/null' }
        }
        $script:Model = Join-Path $TestDrive 'small.gguf'
        $null = New-LlamaTestModel -Path $script:Model -Preset Small -Type F32 -Seed 3
    }

    It 'starts a worker that outlives the remoting session, and a cluster over it gives the local greedy tokens' {
        $stateHome = $env:XDG_STATE_HOME
        $remote = Invoke-Command @script:SshArguments -ErrorAction Stop -ScriptBlock {
            # The remote session's state directory: the suite's own, not the account's.
            $env:XDG_STATE_HOME = $using:stateHome
            Import-Module $using:ModulePath
            $token = ConvertTo-SecureString $using:Token -AsPlainText -Force
            $worker = Start-LlamaWorker -Port 0 -Threads 1 -Name 'remoting-worker' -Detached -Token $token
            [pscustomobject]@{ Endpoint = $worker.Endpoint; ProcessId = $worker.ProcessId; RemotePid = $PID }
        }
        $script:Endpoint = $remote.Endpoint
        $remote.Endpoint | Should -Match '^127\.0\.0\.1:\d+$'
        # The remoting session has ended (Invoke-Command -HostName closes it): its pwsh is gone, the worker runs.
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ((Get-Process -Id $remote.RemotePid -ErrorAction SilentlyContinue) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        Get-Process -Id $remote.RemotePid -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Get-Process -Id $remote.ProcessId | Should -Not -BeNullOrEmpty

        $expected = (Invoke-LlamaPrompt -Model $script:Model -Prompt $script:Prompt -Temperature 0 -MaxTokens 8 -Threads 1).TokenIds
        $cluster = New-LlamaCluster -Model $script:Model -Worker $remote.Endpoint -Token $script:SecureToken -ActivationEncoding F32
        try {
            (Invoke-LlamaPrompt -Cluster $cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens 8).TokenIds | Should -Be $expected
        }
        finally { $cluster | Remove-LlamaCluster }

        Stop-LlamaWorker -Endpoint $remote.Endpoint -Token $script:SecureToken
        $deadline = [DateTime]::UtcNow.AddSeconds(15)
        while ((Get-Process -Id $remote.ProcessId -ErrorAction SilentlyContinue) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        Get-Process -Id $remote.ProcessId -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $script:Endpoint = $null
    }
}

# Says why, in the results, when the remoting test above was skipped (no test is generated when it ran).
Describe 'SSH remoting prerequisites' -Tag 'Slow' {
    It 'SSH remoting test skipped: <Reason>' -Skip -ForEach @(@($script:SkipReason) | Where-Object { $_ } | ForEach-Object { @{ Reason = $_ } }) { }
}
