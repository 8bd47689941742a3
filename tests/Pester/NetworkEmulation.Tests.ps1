# The emulated-network benchmark in its short mode (few tokens, no timing assertions), so its tooling cannot rot:
# four workers in network namespaces, each pinned to a CPU (two to each of two CPUs), behind a 50 Mbit/s, 5 ms round-trip link (tc tbf + the latency relay), a
# layer, a tensor and an Auto cluster over two of them, a hybrid one (two pairs) over all four, and the
# namespaces gone afterwards. Skips, saying why, where the
# machine has no ip/tc or no rights to create namespaces.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    . (Join-Path $PSScriptRoot '../Benchmarks/NetworkEmulation.ps1')
    $script:Problem = Get-NetworkEmulationProblem
    $script:Network = $null
    $script:Rows = @{}
    if (-not $Problem) {
        $script:Model = Join-Path $TestDrive 'small-q8.gguf'
        $null = New-LlamaTestModel -Path $Model -Preset Small -Type Q8_0 -Seed 3
        $script:Network = New-EmulatedNetwork -Name 'ldpester' -WorkerCount 4 -RateMbit 50 -RoundTripMs 5 -Index 7
        Start-EmulatedWorker -Network $Network -ModelPath $Model -Threads 1 -LogDirectory $TestDrive -Pin
        $script:Endpoints = $Network.Workers.Endpoint
    }
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    if ($script:Network) { Remove-EmulatedNetwork $script:Network }
}

Describe 'Emulated network (short mode)' {
    It 'runs a <_> split over the emulated Wi-Fi link and reports every figure' -ForEach 'Even', 'Tensor', 'Auto', 'Hybrid' {
        if ($script:Problem) { Set-ItResult -Skipped -Because $script:Problem; return }
        $endpoints = if ($_ -eq 'Hybrid') { $script:Endpoints } else { $script:Endpoints[0..1] }
        $row = Measure-DistributedScenario -Scenario 'Wi-Fi (short)' -Model $script:Model -Endpoint $endpoints -Split $_ `
            -PromptTokens 8 -GenTokens 4 -Repetitions 1 -Pinned:$IsLinux
        $script:Rows[$_] = $row
        $row.PromptTps | Should -BeGreaterThan 0
        $row.DecodeTps | Should -BeGreaterThan 0
        $row.HopMs | Should -BeGreaterThan 0
        $row.BytesPerToken | Should -BeGreaterThan 0
        if ($_ -eq 'Tensor') { $row.Split | Should -Be 'Tensor' }
        if ($_ -eq 'Hybrid') { $row.Split | Should -Be 'Hybrid'; $row.Workers | Should -Be "4 x 1$(if ($IsLinux) { ', pinned' })"; $row.Plan | Should -Match '^Hybrid .* ms/token' }
        if ($_ -eq 'Auto') { $row.Plan | Should -Match 'Layer .* ms/token' }

    }

    It 'carries partial sums of 4 layers x 2 reductions per token in a tensor split, hidden states in a layer split' {
        if ($script:Problem) { Set-ItResult -Skipped -Because $script:Problem; return }
        if (-not $script:Rows.ContainsKey('Tensor') -or -not $script:Rows.ContainsKey('Even')) { Set-ItResult -Skipped -Because 'the split runs above did not complete'; return }
        # Small: 4 layers, n_embd 256. Tensor: each of 2 shards sends and receives 2 x 4 partials of 256 F16 values.
        $script:Rows['Tensor'].BytesPerToken | Should -BeGreaterThan (2 * 2 * 4 * 256 * 2 * 2)
        # Layer: the hidden state (256 x F16) crosses one worker-to-worker hop, sent and received.
        $script:Rows['Even'].BytesPerToken | Should -BeGreaterThan (256 * 2 * 2)
        $script:Rows['Even'].BytesPerToken | Should -BeLessThan $script:Rows['Tensor'].BytesPerToken
    }

    It 'leaves no namespace behind' {
        if ($script:Problem) { Set-ItResult -Skipped -Because $script:Problem; return }
        $names = $script:Network.Namespaces.ToArray()
        Remove-EmulatedNetwork $script:Network
        $left = & ip netns list 2>$null | ForEach-Object { ($_ -split ' ')[0] } | Where-Object { $_ -in $names }
        $left | Should -BeNullOrEmpty
        & ip link show "$($script:Network.Tag)c" 2>$null | Should -BeNullOrEmpty
        $script:Network = $null
    }
}
