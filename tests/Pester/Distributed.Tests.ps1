# Clusters of real workers on loopback: embedded (in this process) and detached (their own process).
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Prompt = 'Once upon a time there was a little'
    $script:Models = @{}
    foreach ($type in 'F32', 'F16', 'Q8_0', 'Q4_0') {
        $path = Join-Path $TestDrive "small-$type.gguf"
        $null = New-LlamaTestModel -Path $path -Preset Small -Type $type -Seed 3
        $script:Models[$type] = $path
    }
    function Get-LocalTokens([string] $Model, [int] $MaxTokens = 12) {
        (Invoke-LlamaPrompt -Model $Model -Prompt $script:Prompt -Temperature 0 -MaxTokens $MaxTokens -Threads 1).TokenIds
    }
    $script:W1 = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-1' -CacheDirectory (Join-Path $TestDrive 'cache-1') -WeightMemory Resident
    $script:W2 = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-2' -CacheDirectory (Join-Path $TestDrive 'cache-2')
    $script:D1 = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-detached' -CacheDirectory (Join-Path $TestDrive 'cache-d') -Detached -WeightMemory Mapped
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker | Stop-LlamaWorker
}

Describe 'Start-LlamaWorker and Get-LlamaWorker' -Tag 'Slow' {
    It 'returns embedded workers hosted in this process' {
        $script:W1.Endpoint | Should -Match '^127\.0\.0\.1:\d+$'
        $script:W1.ProcessId | Should -Be $PID
        $script:W1.Detached | Should -BeFalse
        $script:W1.Backend | Should -Be 'CPU'
        $script:W1.Threads | Should -Be 1
        $script:W1.MemoryBytes | Should -BeGreaterThan 0
        $script:W1.State | Should -Be 'Running'
        $script:W1.PeerPort | Should -BeGreaterThan 0
        $script:W1.PeerPort | Should -Not -Be ([int]($script:W1.Endpoint -split ':')[1])
        "$($script:W1)" | Should -Be $script:W1.Endpoint
    }

    It 'returns a detached worker running as its own process' {
        $script:D1.Detached | Should -BeTrue
        $script:D1.ProcessId | Should -Not -Be $PID
        Get-Process -Id $script:D1.ProcessId | Should -Not -BeNullOrEmpty
        $script:D1.Name | Should -Be 'pester-detached'
        $script:D1.PeerPort | Should -BeGreaterThan 0
        (Get-LlamaWorker -Name 'pester-detached').PeerPort | Should -Be $script:D1.PeerPort
    }

    It 'lists the workers this session started, by name' {
        (Get-LlamaWorker -Name 'pester-*').Endpoint | Should -Contain $script:D1.Endpoint
        (Get-LlamaWorker 'pester-2').Endpoint | Should -Be $script:W2.Endpoint
    }

    It 'asks any worker for its status by endpoint' {
        $status = Get-LlamaWorker -Endpoint $script:D1.Endpoint
        $status.Name | Should -Be 'pester-detached'
        $status.Protocol | Should -Be '1.3'  # WireProtocol Major.Minor: 3 added EchoLink
        $status.BytesPerSecond | Should -BeGreaterThan 0
        $status.Sessions | Should -Be 0
    }

    It 'refuses a busy port with PortInUse' {
        $port = [int]($script:W1.Endpoint -split ':')[1]
        Get-ErrorIdOf { Start-LlamaWorker -Port $port -Threads 1 } | Should -Be 'PortInUse'
        Get-ErrorIdOf { Start-LlamaWorker -Port $port -Threads 1 -Detached } | Should -Be 'PortInUse'
        # The peer port too: another worker's peer port is refused before the worker serves anything.
        Get-ErrorIdOf { Start-LlamaWorker -Port 0 -PeerPort $script:W1.PeerPort -Threads 1 } | Should -Be 'PortInUse'
        Get-ErrorIdOf { Start-LlamaWorker -Port 0 -PeerPort $script:W1.PeerPort -Threads 1 -Detached } | Should -Be 'PortInUse'
    }

    It 'refuses beyond loopback without a token, warns with -AllowInsecure, and refuses an address that is not this machine''s' {
        Get-ErrorIdOf { Start-LlamaWorker -Address 192.0.2.1 -Port 0 -Threads 1 } | Should -Be 'InsecureBinding'
        $record = Get-ErrorRecordOf { Start-LlamaWorker -Address 192.0.2.1 -Port 0 -Threads 1 -AllowInsecure -WarningAction SilentlyContinue }
        ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'InvalidAddress'
        Get-ErrorIdOf { Start-LlamaWorker -Address 'not-an-address' -Port 0 -AllowInsecure -WarningAction SilentlyContinue } | Should -Be 'InvalidAddress'
        $null = Start-LlamaWorker -Address 192.0.2.1 -Port 0 -Threads 1 -AllowInsecure -WarningVariable warned -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
        $warned | Should -Match 'without a cluster token'
    }
}

Describe 'Invoke-LlamaPrompt -Worker' -Tag 'Slow' {
    It 'generates the same greedy tokens as the local run for <Type> (F32 hand-off: exactly the local values)' -ForEach @(
        @{ Type = 'F32' }, @{ Type = 'F16' }, @{ Type = 'Q8_0' }, @{ Type = 'Q4_0' }
    ) {
        $expected = Get-LocalTokens $script:Models[$Type]
        $result = Invoke-LlamaPrompt -Model $script:Models[$Type] -Worker $script:W1, $script:W2 -ActivationEncoding F32 -Prompt $script:Prompt -Temperature 0 -MaxTokens 12
        $result.TokenIds | Should -Be $expected
        $result.WorkerCount | Should -Be 2
        $result.Workers.Endpoint | Should -Be @($script:W1.Endpoint, $script:W2.Endpoint)
        $result.Workers | ForEach-Object { $_.ComputeMs | Should -BeGreaterThan 0; $_.BytesSent | Should -BeGreaterThan 0 }
        ($result.Workers | Measure-Object -Property LastLayer -Maximum).Maximum | Should -Be 3
    }

    # The default F32 hand-off passes the hidden state exactly, so every weight type gives the local run's tokens.
    It 'generates the same greedy tokens as the local run for <Type> with the default F32 hand-off' -ForEach @(
        @{ Type = 'F16' }, @{ Type = 'Q8_0' }
    ) {
        $result = Invoke-LlamaPrompt -Model $script:Models[$Type] -Worker $script:W1, $script:W2 -Prompt $script:Prompt -Temperature 0 -MaxTokens 12
        $result.TokenIds | Should -Be (Get-LocalTokens $script:Models[$Type])
    }

    It 'tears the implicit cluster down afterwards' {
        $null = Invoke-LlamaPrompt -Model $script:Models['F16'] -Worker $script:W1, $script:W2 -Prompt 'Hi' -Temperature 0 -MaxTokens 2
        (Get-LlamaWorker -Endpoint $script:W1.Endpoint).Ranges | Should -BeNullOrEmpty
        (Get-LlamaWorker -Endpoint $script:W2.Endpoint).Sessions | Should -Be 0
    }

    It 'names an unreachable worker in the error' {
        $record = Get-ErrorRecordOf { Invoke-LlamaPrompt -Model $script:Models['F16'] -Worker $script:W1, '127.0.0.1:1' -Prompt 'Hi' }
        ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'WorkerUnreachable'
        $record.TargetObject | Should -Be '127.0.0.1:1'
        $record.Exception.Message | Should -Match '127\.0\.0\.1:1'
    }
}

Describe 'New-LlamaCluster' -Tag 'Slow' {
    It 'splits across three workers, embedded and detached, and serves many prompts without reloading' {
        $cluster = New-LlamaCluster -Model $script:Models['Q8_0'] -Worker $script:W1, $script:W2, $script:D1 -Split Even
        try {
            $cluster.NodeCount | Should -Be 3
            $cluster.Nodes.Layers | Should -Be @('0-1', '2-2', '3-3')
            $cluster.Nodes | ForEach-Object { $_.WeightBytes | Should -BeGreaterThan 0 }
            (Get-LlamaCluster).Id | Should -Contain $cluster.Id
            # Each worker holds its range as it was told: resident (W1), mapped (the detached D1).
            (Get-LlamaWorker -Endpoint $script:W1.Endpoint).Ranges | Should -Match '\[0, 2\) .* loaded, resident$'
            (Get-LlamaWorker -Endpoint $script:D1.Endpoint).Ranges | Should -Match '\[3, 4\) .* loaded, mapped$'
            $expected = Get-LocalTokens $script:Models['Q8_0'] 8
            $runs = 1..5 | ForEach-Object { Invoke-LlamaPrompt -Cluster $cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens 8 }
            $runs | ForEach-Object { $_.TokenIds | Should -Be $expected }
            ($runs | Measure-Object -Property EvalTokensPerSecond -Average).Average | Should -BeGreaterThan 0
        }
        finally {
            $cluster | Remove-LlamaCluster
        }
        $cluster.State | Should -Be 'Removed'
        (Get-LlamaWorker -Endpoint $script:D1.Endpoint).Ranges | Should -BeNullOrEmpty
        Get-ErrorIdOf { Invoke-LlamaPrompt -Cluster $cluster -Prompt 'Hi' } | Should -Be 'ClusterNotFound'
    }

    It 'runs a hybrid split from -TensorGroupSize alone: a tensor pair and a single worker as two stages' {
        $expected = Get-LocalTokens $script:Models['F32']
        $cluster = New-LlamaCluster -Model $script:Models['F32'] -Worker $script:W1, $script:W2, $script:D1 -TensorGroupSize 2, 1
        try {
            $cluster.Split | Should -Be 'Hybrid'
            $cluster.Nodes.Layers | Should -Be @('0-2: KV heads 0-0, FFN 0-351', '0-2: KV heads 1-1, FFN 352-703', '3-3: KV heads 0-1, FFN 0-703, vocab 0-31999')
            $cluster.Plan | Should -Match '^Hybrid [\d.]+ ms/token'
            (Invoke-LlamaPrompt -Cluster $cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens 12).TokenIds | Should -Be $expected
        }
        finally {
            $cluster | Remove-LlamaCluster
        }
        Get-ErrorIdOf { New-LlamaCluster -Model $script:Models['F32'] -Worker $script:W1, $script:W2 -TensorGroupSize 2 } | Should -Be 'InvalidArgument'
        Get-ErrorIdOf { New-LlamaCluster -Model $script:Models['F32'] -Worker $script:W1, $script:W2 -Split Even -TensorGroupSize 1 } | Should -Be 'InvalidArgument'
    }

    It 'runs the first layers in this process with -IncludeLocal' {
        $cluster = New-LlamaCluster -Model $script:Models['Q4_0'] -Worker $script:W1, $script:W2 -IncludeLocal -Split 2, 1, 1 -Threads 1
        try {
            $cluster.Nodes.Endpoint | Should -Be @('local', $script:W1.Endpoint, $script:W2.Endpoint)
            $cluster.Split | Should -Be 'Explicit'
            $result = Invoke-LlamaPrompt -Cluster $cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens 12
            $result.TokenIds | Should -Be (Get-LocalTokens $script:Models['Q4_0'])
            $result.Workers[0].Endpoint | Should -Be 'local'
        }
        finally {
            $cluster | Remove-LlamaCluster
        }
    }

    It 'benchmarks a cluster like llama-bench, with -Cluster and with -Worker' {
        $cluster = New-LlamaCluster -Model $script:Models['Q4_0'] -Worker $script:W1, $script:W2
        try {
            $rows = Invoke-LlamaBenchmark -Cluster $cluster -PromptTokens 16 -GenTokens 4 -Repetitions 2
            $rows.Test | Should -Be @('pp16', 'tg4')
            $rows | ForEach-Object { $_.Backend | Should -Be 'CPU x2 (LlamaDist ring)'; $_.AverageTokensPerSecond | Should -BeGreaterThan 0; $_.Samples.Count | Should -Be 2 }
        }
        finally {
            $cluster | Remove-LlamaCluster
        }
        $implicit = Invoke-LlamaBenchmark -Model $script:Models['Q4_0'] -Worker $script:W1, $script:W2 -PromptTokens 8 -GenTokens 0 -Repetitions 1
        $implicit.Test | Should -Be 'pp8'
        (Get-LlamaWorker -Endpoint $script:W1.Endpoint).Ranges | Should -BeNullOrEmpty
    }

    It 'gives seeded sampling the local result' {
        $local = Invoke-LlamaPrompt -Model $script:Models['F32'] -Prompt $script:Prompt -Seed 7 -MaxTokens 10 -Threads 1
        $remote = Invoke-LlamaPrompt -Model $script:Models['F32'] -Worker $script:W1, $script:W2 -ActivationEncoding F32 -Prompt $script:Prompt -Seed 7 -MaxTokens 10
        $remote.TokenIds | Should -Be $local.TokenIds
    }

    It 'streams weights to a worker without the model once, then loads them from its cache' {
        $empty = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'no-models') -Force
        $fresh = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-fresh' -ModelPath $empty.FullName -CacheDirectory (Join-Path $TestDrive 'cache-fresh')
        try {
            $first = New-LlamaCluster -Model $script:Models['F16'] -Worker $fresh, $script:W1 -Split Even
            $first.Nodes[0].BytesStreamed | Should -Be $first.Nodes[0].WeightBytes
            $first.Nodes[0].WeightSource | Should -Be 'streamed'
            $first.Nodes[1].BytesStreamed | Should -Be 0
            (Invoke-LlamaPrompt -Cluster $first -Prompt $script:Prompt -Temperature 0 -MaxTokens 12).TokenIds | Should -Be (Get-LocalTokens $script:Models['F16'])
            $first | Remove-LlamaCluster

            $second = New-LlamaCluster -Model $script:Models['F16'] -Worker $fresh, $script:W1 -Split Even
            $second.Nodes[0].BytesStreamed | Should -Be 0
            $second.Nodes[0].WeightSource | Should -Be 'cache'
            $second | Remove-LlamaCluster
            @(Get-ChildItem (Join-Path $TestDrive 'cache-fresh') -Filter *.gguf).Count | Should -Be 1
        }
        finally {
            $fresh | Stop-LlamaWorker
        }
    }

    It 'refuses a worker whose copy of the model differs (ModelMismatch)' {
        $other = New-Item -ItemType Directory -Path (Join-Path $TestDrive 'other-models') -Force
        $null = New-LlamaTestModel -Path (Join-Path $other.FullName 'small-Q8_0.gguf') -Preset Small -Type Q8_0 -Seed 4
        $mismatched = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-other' -ModelPath $other.FullName -CacheDirectory (Join-Path $TestDrive 'cache-other')
        try {
            $record = Get-ErrorRecordOf { New-LlamaCluster -Model $script:Models['Q8_0'] -Worker $mismatched }
            ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'ModelMismatch'
            $record.TargetObject | Should -Be $mismatched.Endpoint
        }
        finally {
            $mismatched | Stop-LlamaWorker
        }
    }

    It 'refuses a split the layers cannot take (PlanningFailed) and a malformed one (InvalidArgument)' {
        Get-ErrorIdOf { New-LlamaCluster -Model $script:Models['F16'] -Worker $script:W1, $script:W2 -Split 3, 3 } | Should -Be 'PlanningFailed'
        Get-ErrorIdOf { New-LlamaCluster -Model $script:Models['F16'] -Worker $script:W1 -Split 'Fastest' } | Should -Be 'InvalidArgument'
    }
}

Describe 'Stop-LlamaWorker' -Tag 'Slow' {
    It 'honours -WhatIf, then stops an embedded worker' {
        $worker = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-stop'
        $worker | Stop-LlamaWorker -WhatIf
        (Get-LlamaWorker -Endpoint $worker.Endpoint).Name | Should -Be 'pester-stop'
        $worker | Stop-LlamaWorker
        $worker.State | Should -Be 'Stopped'
        Get-ErrorIdOf { Get-LlamaWorker -Endpoint $worker.Endpoint } | Should -Be 'WorkerUnreachable'
    }

    It 'stops a detached worker''s process' {
        $worker = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-stop-detached' -Detached
        $messages = Stop-LlamaWorker -Name 'pester-stop-detached' -Verbose 4>&1
        Get-Process -Id $worker.ProcessId -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        if (-not $IsWindows) {
            # SIGTERM: the worker's host stops by itself, no kill needed.
            "$messages" | Should -BeLike '*shut down gracefully*'
        }
        Get-LlamaWorker -Name 'pester-stop-detached' | Should -BeNullOrEmpty
    }

    It 'reports a name that matches nothing' {
        Get-ErrorIdOf { Stop-LlamaWorker -Name 'no-such-worker' } | Should -Be 'WorkerNotFound'
    }
}
