# A cluster of three detached workers (real processes) losing one mid-prompt: killed (SIGKILL) while decoding,
# frozen (SIGSTOP) while the prompt is evaluated. The output stays the local run's, the failover is on the
# result, the node shows Down, and a worker restarted on its port serves again. The long version (20 faults, every
# stage, both phases) is tests/Reliability/Failover.Reliability.Tests.ps1, run by build.ps1 -Task Reliability.
BeforeDiscovery {
    $script:NoSignals = $IsWindows
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot 'FaultInjection.ps1')
    $script:Model = Join-Path $TestDrive 'small-q8_0.gguf'
    $null = New-LlamaTestModel -Path $script:Model -Preset Small -Type Q8_0 -Seed 3
    $script:Prompt = Get-FaultPrompt 24
    $script:MaxTokens = 160   # decoding lasts a few seconds: long enough to be hit
    $script:CacheRoot = Join-Path $TestDrive 'caches'
    $script:Expected = (Invoke-LlamaPrompt -Model $script:Model -Prompt $script:Prompt -Temperature 0 -MaxTokens $script:MaxTokens -Threads 1).TokenIds
    $script:Workers = @(1..3 | ForEach-Object { Start-FaultWorker -Name "failover-$_" -CacheRoot $script:CacheRoot })
    $script:Cluster = New-LlamaCluster -Model $script:Model -Worker $script:Workers -Split Even -StageTimeout 2
    # The prompt is a few batches of 128 tokens: one step message each, then one per decoded token.
    $script:PromptSteps = [Math]::Ceiling((ConvertTo-LlamaToken -Model $script:Model -Text $script:Prompt -AddSpecial).Count / 128)
    function Invoke-Faulted([int] $Stage, [string] $Signal, [long] $Steps, [string] $Prompt = $script:Prompt, [int] $MaxTokens = $script:MaxTokens) {
        $injector = Start-SignalAtStep -Worker $script:Workers[$Stage] -Signal $Signal -Steps $Steps
        try { Invoke-LlamaPrompt -Cluster $script:Cluster -Prompt $Prompt -Temperature 0 -MaxTokens $MaxTokens }
        finally { $injector | Wait-Job -Timeout 60 | Receive-Job | Should -Match "^SIG$Signal"; $injector | Remove-Job -Force }
    }
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker | ForEach-Object { & kill -CONT $_.ProcessId 2>$null; $_ } | Stop-LlamaWorker
}

Describe 'Failover with real processes' -Skip:$script:NoSignals {
    It 'gives the local run''s tokens when the last stage is killed while decoding, and records the failover' {
        $result = Invoke-Faulted -Stage 2 -Signal KILL -Steps ($script:PromptSteps + 20)
        $result.TokenIds | Should -Be $script:Expected
        $result.FailoverCount | Should -Be 1
        $result.Failovers[0].Endpoint | Should -Be $script:Workers[2].Endpoint
        $result.Failovers[0].Layers | Should -Be '3-3'
        $result.Failovers[0].Reason | Should -Match 'connection|closed|refused|reset'
        $result.Failovers[0].ReplayedTokens | Should -BeGreaterThan 0
        $result.Failovers[0].Position | Should -BeGreaterThan $result.PromptTokens   # while decoding
        ((Get-LlamaCluster).Nodes | Where-Object Endpoint -eq $script:Workers[2].Endpoint).Health | Should -Be 'Down'
    }

    It 'serves with the restarted worker again on the next prompt, without a new cluster' {
        $script:Workers[2] = Restart-FaultWorker $script:Workers[2] $script:CacheRoot
        Wait-ClusterHealthy
        $result = Invoke-LlamaPrompt -Cluster $script:Cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens $script:MaxTokens
        $result.TokenIds | Should -Be $script:Expected
        $result.FailoverCount | Should -Be 0
        $result.Workers.Endpoint | Should -Contain $script:Workers[2].Endpoint
        (Get-LlamaCluster).Nodes.Health | Should -Be @('Healthy', 'Healthy', 'Healthy')
    }

    It 'detects a stage frozen during prompt evaluation within the stage timeout and gives the same tokens' {
        # Frozen once the prompt's first batch has arrived. The prompt's batches reach the first stage within moments
        # of each other, so the signal has to land while that stage computes them (a later one is detected at the
        # first decoded token): the longest prompt the model's context takes beside a few tokens, so that a busy
        # machine has time to send it.
        $prompt = Get-FaultPrompt 48
        $maxTokens = 16
        $expected = (Invoke-LlamaPrompt -Model $script:Model -Prompt $prompt -Temperature 0 -MaxTokens $maxTokens -Threads 1).TokenIds
        try {
            $result = Invoke-Faulted -Stage 0 -Signal STOP -Steps 1 -Prompt $prompt -MaxTokens $maxTokens
            $result.TokenIds | Should -Be $expected
            $result.FailoverCount | Should -Be 1
            $result.Failovers[0].Endpoint | Should -Be $script:Workers[0].Endpoint
            $result.Failovers[0].Reason | Should -Match 'no answer within 2 s'
            $result.Failovers[0].DetectionMs | Should -BeLessThan 4000
            $result.Failovers[0].Position | Should -BeLessThan $result.PromptTokens      # during prompt evaluation
        }
        finally {
            # Thawed for good (a fresh process on its port) whatever happened, so the next test finds it serving.
            $script:Workers[0] = Restart-FaultWorker $script:Workers[0] $script:CacheRoot
        }
    }

    # A layer ring and a tensor-parallel pair: on the pair the killed shard's peer fails too (it loses the partial
    # sums) and must not be the node named. A shard receives one step message and, per layer, two partial sums
    # from its peer for every token, all counted as received messages.
    It 'with -Failover None fails naming the node, with the partial result on the error (<Split>)' -ForEach @(
        @{ Split = 'Even'; MessagesPerStep = 1 }
        @{ Split = 'Tensor'; MessagesPerStep = 1 + 2 * 4 }
    ) {
        $cluster = New-LlamaCluster -Model $script:Model -Worker $script:Workers[0], $script:Workers[1] -Split $Split -Failover None -StageTimeout 2
        try {
            # The cluster's own tokens: a tensor split of a quantized model sums its partials in another order than
            # one machine, so its greedy tokens may part from the local run's (more often on some instruction sets).
            $expected = (Invoke-LlamaPrompt -Cluster $cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens $script:MaxTokens).TokenIds
            $injector = Start-SignalAtStep -Worker $script:Workers[1] -Signal KILL -Steps (($script:PromptSteps + 20) * $MessagesPerStep)
            $record = Get-ErrorRecordOf { Invoke-LlamaPrompt -Cluster $cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens $script:MaxTokens }
            $injector | Wait-Job -Timeout 60 | Receive-Job | Should -Match '^SIGKILL'
            $injector | Remove-Job -Force
            ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'WorkerUnreachable'
            $record.TargetObject | Should -Be $script:Workers[1].Endpoint -Because $record.Exception.Message
            $record.Exception.Message | Should -Not -Match 'subchannel'
            $partial = $record.Exception.PartialResult
            $partial.StopReason | Should -Be 'NodeFailed'
            $partial.TokenIds.Count | Should -BeGreaterThan 0
            $partial.TokenIds.Count | Should -BeLessThan $script:MaxTokens
            $partial.TokenIds | Should -Be ($expected | Select-Object -First $partial.TokenIds.Count)
        }
        finally {
            $cluster | Remove-LlamaCluster
            $script:Workers[1] = Restart-FaultWorker $script:Workers[1] $script:CacheRoot
        }
    }
}
