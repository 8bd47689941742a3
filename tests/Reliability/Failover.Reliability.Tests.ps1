# Twenty injected faults on a cluster of three detached workers (real processes), fixed model, prompt and seeds:
# SIGKILL and SIGSTOP of the first, middle and last stage, during prompt evaluation and during decoding (early
# and late), each sent when the victim has received a chosen number of step messages (Start-SignalAtStep). Every run must give the local run's tokens, detect the fault within the stage timeout (plus the
# step in flight) and record the failover; the victim is then restarted on its port and the cluster repairs
# itself on the next prompt. Run by build.ps1 -Task Reliability (tag Reliability; not part of the Test task).
# Each fault's figures go to $env:LLAMADIST_RELIABILITY_REPORT (CSV) when set.
BeforeDiscovery {
    $script:NoSignals = $IsWindows
    # Signal, stage, phase: every combination once, then decoding faults again later in the generation.
    $script:Faults = @(
        foreach ($phase in 'prompt', 'decoding', 'late decoding') {
            foreach ($stage in 0, 1, 2) {
                foreach ($signal in 'KILL', 'STOP') { @{ Signal = $signal; Stage = $stage; Phase = $phase } }
            }
        }
    ) | Select-Object -First 18
    $script:Faults += @{ Signal = 'KILL'; Stage = 1; Phase = 'prompt' }, @{ Signal = 'STOP'; Stage = 2; Phase = 'decoding' }
}

BeforeAll {
    . (Join-Path $PSScriptRoot '../Pester/TestHelpers.ps1')
    . (Join-Path $PSScriptRoot '../Pester/FaultInjection.ps1')
    $script:StageTimeout = 2
    $script:Model = Join-Path $TestDrive 'small-q8_0.gguf'
    $null = New-LlamaTestModel -Path $script:Model -Preset Small -Type Q8_0 -Seed 3
    $script:Prompt = Get-FaultPrompt 40
    $script:MaxTokens = 160
    $script:CacheRoot = Join-Path $TestDrive 'caches'
    $script:Expected = (Invoke-LlamaPrompt -Model $script:Model -Prompt $script:Prompt -Temperature 0 -MaxTokens $script:MaxTokens -Threads 1).TokenIds
    $script:Workers = @(1..3 | ForEach-Object { Start-FaultWorker -Name "reliability-$_" -CacheRoot $script:CacheRoot })
    $script:Cluster = New-LlamaCluster -Model $script:Model -Worker $script:Workers -Split Even -StageTimeout $script:StageTimeout
    # One step message per prompt batch of 128 tokens, then one per decoded token.
    $script:PromptSteps = [Math]::Ceiling((ConvertTo-LlamaToken -Model $script:Model -Text $script:Prompt -AddSpecial).Count / 128)
    $script:Rows = [Collections.Generic.List[object]]::new()
}

AfterAll {
    if ($env:LLAMADIST_RELIABILITY_REPORT) { $script:Rows | Export-Csv -Path $env:LLAMADIST_RELIABILITY_REPORT -NoTypeInformation }
    Get-LlamaCluster | Remove-LlamaCluster
    Get-LlamaWorker | ForEach-Object { & kill -CONT $_.ProcessId 2>$null; $_ } | Stop-LlamaWorker
}

Describe 'Twenty faults on a three-worker cluster' -Tag Reliability -Skip:$script:NoSignals {
    It 'SIG<Signal> of stage <Stage> during <Phase>: same tokens, detected in time, failover recorded' -ForEach $script:Faults {
        $steps = switch ($Phase) {
            'prompt' { [Math]::Max(1, $script:PromptSteps - 3) }
            'decoding' { $script:PromptSteps + 10 }
            'late decoding' { $script:PromptSteps + 100 }
        }
        $victim = $script:Workers[$Stage]
        $layers = ($script:Cluster.Nodes | Where-Object Endpoint -eq $victim.Endpoint).Layers
        $injector = Start-SignalAtStep -Worker $victim -Signal $Signal -Steps $steps
        try {
            $result = Invoke-LlamaPrompt -Cluster $script:Cluster -Prompt $script:Prompt -Temperature 0 -MaxTokens $script:MaxTokens
        }
        finally {
            $sent = $injector | Wait-Job -Timeout 60 | Receive-Job
            $injector | Remove-Job -Force
            $script:Workers[$Stage] = Restart-FaultWorker $victim $script:CacheRoot
            Wait-ClusterHealthy
        }
        $sent | Should -Match "^SIG$Signal"
        $failover = $result.Failovers | Select-Object -First 1
        $script:Rows.Add([pscustomobject]@{
                Signal = $Signal; Stage = $Stage; Phase = $Phase; Layers = $layers; AtStepMessage = $steps; Identical = (@($result.TokenIds) -join ',') -eq (@($script:Expected) -join ',')
                Failovers = $result.FailoverCount; Position = $failover.Position; PromptTokens = $result.PromptTokens; DetectionMs = $failover.DetectionMs
                ReplanMs = $failover.ReplanMs; ReplayMs = $failover.ReplayMs; ReplayedTokens = $failover.ReplayedTokens; Reason = $failover.Reason
            })

        $result.TokenIds | Should -Be $script:Expected
        $result.FailoverCount | Should -Be 1
        $failover.Endpoint | Should -Be $victim.Endpoint
        $failover.Layers | Should -Be $layers
        $failover.DetectionMs | Should -BeLessThan (($script:StageTimeout + 1.5) * 1000)
        if ($Phase -eq 'prompt') { $failover.Position | Should -BeLessThan $result.PromptTokens }
        else { $failover.Position | Should -BeGreaterThan $result.PromptTokens }
        if ($Signal -eq 'STOP') { $failover.Reason | Should -Match "no answer within $($script:StageTimeout) s" }
        else { $failover.Reason | Should -Not -Match 'subchannel' }
    }
}
