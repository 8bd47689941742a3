# Workers with a cluster token and TLS, through the cmdlets: tokens from -Token, -TokenFile, the worker object and
# LLAMADIST_TOKEN; certificates from New-LlamaWorkerCertificate pinned with -CertificateThumbprint; refusals with
# their ErrorIds.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Prompt = 'Once upon a time there was a little'
    $script:Model = Join-Path $TestDrive 'small-q8_0.gguf'
    $null = New-LlamaTestModel -Path $script:Model -Preset Small -Type Q8_0 -Seed 3
    $script:Expected = (Invoke-LlamaPrompt -Model $script:Model -Prompt $script:Prompt -Temperature 0 -MaxTokens 8 -Threads 1).TokenIds
    $script:TokenText = 'pester-cluster-token-' + [guid]::NewGuid().ToString('N')
    $script:Token = ConvertTo-SecureString $script:TokenText -AsPlainText -Force
    $script:TokenFile = Join-Path $TestDrive 'cluster.token'
    Set-Content -Path $script:TokenFile -Value $script:TokenText
    $script:Certificate = New-LlamaWorkerCertificate -Path (Join-Path $TestDrive 'worker.pfx') -DnsName localhost -IPAddress 127.0.0.1 -ValidDays 2
    $script:Secure1 = Start-LlamaWorker -Port 0 -Threads 1 -Name 'secure-1' -CacheDirectory (Join-Path $TestDrive 'cache-1') -Token $script:Token
    $script:Secure2 = Start-LlamaWorker -Port 0 -Threads 1 -Name 'secure-2' -CacheDirectory (Join-Path $TestDrive 'cache-2') -TokenFile $script:TokenFile `
        -CertificatePath $script:Certificate.Path
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker | Stop-LlamaWorker
    Remove-Item Env:LLAMADIST_TOKEN -ErrorAction SilentlyContinue
}

Describe 'Workers with a cluster token' -Tag 'Slow' {
    It 'says a worker is authenticated and never shows its token' {
        $script:Secure1.Authenticated | Should -BeTrue
        ($script:Secure1 | Format-List * | Out-String) | Should -Not -Match ([regex]::Escape($script:TokenText))
        ($script:Secure1 | ConvertTo-Json) | Should -Not -Match ([regex]::Escape($script:TokenText))
    }

    It 'runs a prompt across workers given as objects (their token goes with them)' {
        $result = Invoke-LlamaPrompt -Model $script:Model -Worker $script:Secure1, $script:Secure2 -Prompt $script:Prompt -Temperature 0 -MaxTokens 8
        $result.TokenIds | Should -Be $script:Expected
    }

    It 'refuses a query without the token or with another one (WorkerAuthenticationFailed)' {
        # Spelled "localhost:port", the endpoint is no worker this session started, so no token comes with it.
        $stranger = $script:Secure1.Endpoint -replace '^127\.0\.0\.1', 'localhost'
        Get-ErrorIdOf { Get-LlamaWorker -Endpoint $stranger } | Should -Be 'WorkerAuthenticationFailed'
        (Get-ErrorRecordOf { Get-LlamaWorker -Endpoint $stranger }).TargetObject | Should -Be $stranger
        $other = ConvertTo-SecureString 'not-the-cluster-token-0123456789' -AsPlainText -Force
        Get-ErrorIdOf { Get-LlamaWorker -Endpoint $script:Secure1.Endpoint -Token $other } | Should -Be 'WorkerAuthenticationFailed'
        (Get-LlamaWorker -Endpoint $script:Secure1.Endpoint).Name | Should -Be 'secure-1'
    }

    It 'takes the token from -Token, -TokenFile or LLAMADIST_TOKEN' {
        (Get-LlamaWorker -Endpoint $script:Secure1.Endpoint -Token $script:Token).Name | Should -Be 'secure-1'
        (Get-LlamaWorker -Endpoint $script:Secure1.Endpoint -TokenFile $script:TokenFile).Name | Should -Be 'secure-1'
        $env:LLAMADIST_TOKEN = $script:TokenText
        try { (Get-LlamaWorker -Endpoint $script:Secure1.Endpoint).Name | Should -Be 'secure-1' }
        finally { Remove-Item Env:LLAMADIST_TOKEN }
    }

    It 'builds a cluster from endpoint strings with -TokenFile and -CertificateThumbprint' {
        $cluster = New-LlamaCluster -Model $script:Model -Worker "$($script:Secure1.Endpoint)", "$($script:Secure2.Endpoint)" `
            -TokenFile $script:TokenFile -CertificateThumbprint $script:Certificate.Thumbprint -ActivationEncoding F32
        try {
            (Invoke-LlamaPrompt -Cluster $cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens 8).TokenIds | Should -Be $script:Expected
        }
        finally { $cluster | Remove-LlamaCluster }
    }

    It 'refuses a non-loopback address without a token (InsecureBinding), embedded or detached' {
        Get-ErrorIdOf { Start-LlamaWorker -Address 0.0.0.0 -Port 0 -Threads 1 } | Should -Be 'InsecureBinding'
        Get-ErrorIdOf { Start-LlamaWorker -Address 0.0.0.0 -Port 0 -Threads 1 -Detached } | Should -Be 'InsecureBinding'
    }

    It 'refuses a malformed token file (InvalidArgument)' {
        $short = Join-Path $TestDrive 'short.token'
        Set-Content -Path $short -Value 'short'
        Get-ErrorIdOf { Start-LlamaWorker -Port 0 -Threads 1 -TokenFile $short } | Should -Be 'InvalidArgument'
    }
}

Describe 'Workers serving TLS' -Tag 'Slow' {
    It 'makes a self-signed certificate whose thumbprint the worker reports' {
        $script:Certificate.Thumbprint | Should -Match '^[0-9A-F]{64}$'
        $script:Certificate.DnsNames | Should -Be @('localhost')
        $script:Certificate.IPAddresses | Should -Be @('127.0.0.1')
        $script:Certificate.NotAfter | Should -BeGreaterThan (Get-Date).AddDays(1)
        Get-ErrorIdOf { New-LlamaWorkerCertificate -Path $script:Certificate.Path } | Should -Be 'FileExists'
        $script:Secure2.Endpoint | Should -Match '^https://127\.0\.0\.1:\d+$'
        $script:Secure2.CertificateThumbprint | Should -Be $script:Certificate.Thumbprint
    }

    It 'refuses a worker whose certificate matches no pin (WorkerCertificateRejected)' {
        Get-ErrorIdOf { Get-LlamaWorker -Endpoint $script:Secure2.Endpoint -Token $script:Token -CertificateThumbprint ('0' * 64) } |
            Should -Be 'WorkerCertificateRejected'
        (Get-LlamaWorker -Endpoint $script:Secure2.Endpoint -Token $script:Token -CertificateThumbprint $script:Certificate.Thumbprint).Name |
            Should -Be 'secure-2'
    }

    It 'starts a detached TLS worker whose token and certificate password never appear on its command line' {
        $password = ConvertTo-SecureString 'pfx-password-123' -AsPlainText -Force
        $protected = New-LlamaWorkerCertificate -Path (Join-Path $TestDrive 'detached.pfx') -DnsName localhost -IPAddress 127.0.0.1 -Password $password
        $detached = Start-LlamaWorker -Port 0 -Threads 1 -Name 'secure-detached' -Detached -CacheDirectory (Join-Path $TestDrive 'cache-d') `
            -Token $script:Token -CertificatePath $protected.Path -CertificatePassword $password
        try {
            $detached.Endpoint | Should -Match '^https://'
            $detached.CertificateThumbprint | Should -Be $protected.Thumbprint
            if ($IsLinux) {
                $commandLine = (Get-Content "/proc/$($detached.ProcessId)/cmdline" -Raw) -replace "`0", ' '
                $commandLine | Should -Not -Match ([regex]::Escape($script:TokenText))
                $commandLine | Should -Not -Match 'pfx-password-123'
            }
            $result = Invoke-LlamaPrompt -Model $script:Model -Worker $detached, $script:Secure1 -Prompt $script:Prompt -Temperature 0 -MaxTokens 8
            $result.TokenIds | Should -Be $script:Expected
        }
        finally { $detached | Stop-LlamaWorker }
    }

    It 'serves a worker that requires a client certificate only to callers that present a trusted one' {
        $coordinator = New-LlamaWorkerCertificate -Path (Join-Path $TestDrive 'coordinator.pfx') -DnsName coordinator -IPAddress 127.0.0.1
        $mutual = Start-LlamaWorker -Port 0 -Threads 1 -Name 'secure-mutual' -CacheDirectory (Join-Path $TestDrive 'cache-m') -Token $script:Token `
            -CertificatePath $script:Certificate.Path -ClientCertificateThumbprint $coordinator.Thumbprint
        try {
            (Get-LlamaWorker -Endpoint $mutual.Endpoint -ClientCertificatePath $coordinator.Path).Name | Should -Be 'secure-mutual'
            Get-ErrorIdOf { Get-LlamaWorker -Endpoint $mutual.Endpoint } | Should -BeIn @('WorkerCertificateRejected', 'WorkerUnreachable')
        }
        finally { $mutual | Stop-LlamaWorker }
    }
}
