# Prompts generated at the same time on one model or cluster (-ThrottleLimit, parallel runspaces), prompts
# pipelined through the ring in micro-batches (-MicroBatchSize), and benchmarks of concurrent sequences.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Model = Join-Path $TestDrive 'small-q8.gguf'
    $null = New-LlamaTestModel -Path $Model -Preset Small -Type Q8_0 -Seed 4
    $script:Prompts = 'Once upon a time', 'The capital of France is', 'In a hole in the ground', 'Four score and seven'
    $script:Alone = @{}
    foreach ($prompt in $Prompts) {
        $Alone[$prompt] = (Invoke-LlamaPrompt -Model $Model -Prompt $prompt -Temperature 0 -MaxTokens 10 -Threads 1).TokenIds
    }
    $script:W1 = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-concurrent-1' -CacheDirectory (Join-Path $TestDrive 'cache-1')
    $script:W2 = Start-LlamaWorker -Port 0 -Threads 1 -Name 'pester-concurrent-2' -CacheDirectory (Join-Path $TestDrive 'cache-2')
}

AfterAll {
    Get-LlamaCluster | Remove-LlamaCluster
    $W1, $W2 | Stop-LlamaWorker -Confirm:$false
}

Describe 'Concurrent prompts' {
    It 'generates piped prompts together with -ThrottleLimit, each as alone, in input order' {
        $results = $Prompts | Invoke-LlamaPrompt -Model $Model -Temperature 0 -MaxTokens 10 -Threads 2 -ThrottleLimit 4
        $results.Prompt | Should -Be $Prompts
        foreach ($result in $results) { $result.TokenIds | Should -Be $Alone[$result.Prompt] }
    }

    It 'refuses -Stream with -ThrottleLimit above 1 (InvalidArgument)' {
        Get-ErrorIdOf { 'a', 'b' | Invoke-LlamaPrompt -Model $Model -MaxTokens 2 -Stream -ThrottleLimit 2 } | Should -Be 'InvalidArgument'
    }

    It 'decodes prompts of several callers on one cluster together, pipelining each prompt in micro-batches' {
        # A layer ring, named: -Split Auto picks a tensor split for these two workers in most runs (each shard's
        # slice of a row then sums in another order than one machine's, and with the workers measured at different
        # speeds the slices differ from run to run), and its greedy tokens may then part from the local ones.
        $cluster = New-LlamaCluster -Model $Model -Worker $W1, $W2 -Split Even -ActivationEncoding F32 -MicroBatchSize 3
        try {
            $results = $Prompts | Invoke-LlamaPrompt -Cluster $cluster -Temperature 0 -MaxTokens 10 -ThrottleLimit 4
            foreach ($result in $results) { $result.TokenIds | Should -Be $Alone[$result.Prompt] }

            # Runspaces of their own, sharing the cluster object.
            $manifest = Join-Path $RepositoryRoot 'LlamaDist.psd1'
            $parallel = $Prompts | ForEach-Object -ThrottleLimit 4 -Parallel {
                Import-Module $using:manifest
                Invoke-LlamaPrompt -Cluster $using:cluster -Prompt $_ -Temperature 0 -MaxTokens 10
            }
            $parallel | Should -HaveCount 4
            foreach ($result in $parallel) { $result.TokenIds | Should -Be $Alone[$result.Prompt] }
        }
        finally {
            $cluster | Remove-LlamaCluster
        }
    }

    It 'benchmarks concurrent sequences, counting the tokens of all of them' {
        $rows = Invoke-LlamaBenchmark -Model $Model -PromptTokens 0 -GenTokens 4 -Repetitions 1 -Threads 1 -Concurrency 3
        $rows.Test | Should -Be 'tg4'
        $rows.Concurrency | Should -Be 3
        $rows.AverageTokensPerSecond | Should -BeGreaterThan 0
        # 3 sequences x 4 tokens per AverageMs. Both columns are rounded (t/s to 0.01, ms to 0.001), so they agree
        # within 0.005 t/s plus what 0.0005 ms moves 12000 / ms by: 0.06 t/s at 10 ms, more on a faster machine.
        $allowed = 0.005 + 12000 * 0.0005 / ($rows.AverageMs * ($rows.AverageMs - 0.0005)) + 1e-9
        [math]::Abs($rows.AverageTokensPerSecond - 12000 / $rows.AverageMs) | Should -BeLessOrEqual $allowed
    }
}
