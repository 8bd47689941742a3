BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'Invoke-LlamaPrompt' {
    BeforeAll {
        $script:greedy = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 8 -Temperature 0 -Threads 2
    }

    It 'returns a timing object counted like llama.cpp' {
        $greedy | Should -BeOfType 'LlamaDist.PowerShell.Output.LlamaPromptResult'
        $greedy.GeneratedTokens | Should -Be $greedy.TokenIds.Count
        if ($greedy.StopReason -eq 'MaxTokens') {
            $greedy.TokenIds | Should -HaveCount 8
            $greedy.EvalRuns | Should -Be 7
        }
        $greedy.PromptTokens | Should -BeGreaterThan 1
        $greedy.PromptEvalMs | Should -BeGreaterThan 0
        $greedy.PromptTokensPerSecond | Should -BeGreaterThan 0
        $greedy.LoadMs | Should -BeGreaterThan 0
        $greedy.TotalMs | Should -BeGreaterOrEqual ($greedy.PromptEvalMs + $greedy.EvalMs)
        $greedy.Threads | Should -Be 2
        $greedy.Workers | Should -HaveCount 0
        $greedy.Model | Should -Not -BeNullOrEmpty
        $greedy.Prompt | Should -Be 'Once upon a time'
        $greedy.TokenIds | Should -BeOfType [int]
    }

    It 'is deterministic when greedy' {
        $again = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 8 -Temperature 0 -Threads 1
        $again.TokenIds | Should -Be $greedy.TokenIds
        $again.Text | Should -Be $greedy.Text
    }

    It 'gives the same greedy tokens from mapped and resident weights' {
        $mapped = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 8 -Temperature 0 -Threads 2 -WeightMemory Mapped
        $resident = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 8 -Temperature 0 -Threads 2 -WeightMemory Resident
        $mapped.TokenIds | Should -Be $greedy.TokenIds
        $resident.TokenIds | Should -Be $greedy.TokenIds
    }

    It 'repeats a sampled run with the same seed' {
        $first = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Hello' -MaxTokens 16 -Temperature 1.0 -Seed 1234
        $second = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Hello' -MaxTokens 16 -Temperature 1.0 -Seed 1234
        $second.TokenIds | Should -Be $first.TokenIds
        $first.Seed | Should -Be 1234
        $others = 1..4 | ForEach-Object { (Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Hello' -MaxTokens 16 -Temperature 1.0 -Seed $_ -TopK 0 -MinP 0 -TopP 1).TokenIds -join ',' }
        ($others | Select-Object -Unique).Count | Should -BeGreaterThan 1
    }

    It 'takes prompts from the pipeline and loads the model once' {
        $results = 'Once upon a time', 'Hello world', 'The end' | Invoke-LlamaPrompt -Model $EmbeddedModel -MaxTokens 4 -Temperature 0
        $results | Should -HaveCount 3
        $results.Prompt | Should -Be @('Once upon a time', 'Hello world', 'The end')
        ($results.LoadMs | Select-Object -Unique) | Should -HaveCount 1
    }

    It 'pipes into Measure-Object and Export-Csv with flat numeric columns' {
        $results = 'a', 'b' | Invoke-LlamaPrompt -Model $EmbeddedModel -MaxTokens 6 -Temperature 0
        $measure = $results | Measure-Object -Property EvalTokensPerSecond, PromptEvalMs -Average -Sum
        $measure[0].Count | Should -Be 2
        $measure[0].Average | Should -BeGreaterThan 0
        $csv = Join-Path $TestDrive 'runs.csv'
        $results | Export-Csv -Path $csv
        $rows = Import-Csv $csv
        $rows | Should -HaveCount 2
        $columns = $rows[0].PSObject.Properties.Name
        $columns | Should -Contain 'PromptTokensPerSecond'
        $columns | Should -Contain 'EvalMs'
        $columns | Should -Not -Contain 'TokenIds'
        $columns | Should -Not -Contain 'Workers'
        [double]$rows[1].EvalMs | Should -BeGreaterThan 0
    }

    It 'streams text to the host as it is generated' {
        $output = Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt 'Once upon a time' -MaxTokens 8 -Temperature 0 -Stream 6>&1
        $streamed = ($output | Where-Object { $_ -is [System.Management.Automation.InformationRecord] } | ForEach-Object { $_.MessageData.Message }) -join ''
        $result = $output | Where-Object { $_ -is [LlamaDist.PowerShell.Output.LlamaPromptResult] }
        $streamed | Should -Be $result.Text
        $result.Text | Should -Be $greedy.Text
    }

    It 'uses the embedded model when -Model is omitted' {
        (Invoke-LlamaPrompt -Prompt 'Once upon a time' -MaxTokens 8 -Temperature 0).TokenIds | Should -Be $greedy.TokenIds
    }

    It 'reports a missing model as ModelNotFound' {
        Get-ErrorIdOf { Invoke-LlamaPrompt -Model (Join-Path $TestDrive 'none.gguf') -Prompt 'x' } | Should -Be 'ModelNotFound'
    }

    It 'reports a prompt longer than the context as ContextOverflow' {
        Get-ErrorIdOf { Invoke-LlamaPrompt -Model $EmbeddedModel -Prompt ('word ' * 50) -ContextSize 16 } | Should -Be 'ContextOverflow'
    }

    It 'stops promptly on Ctrl+C (StopProcessing)' {
        $shell = [powershell]::Create()
        $null = $shell.AddScript("Import-Module '$RepositoryRoot/LlamaDist.psd1'; Invoke-LlamaPrompt -Model '$EmbeddedModel' -Prompt 'Once' -MaxTokens 200000 -ContextSize 262144 -Temperature 0")
        $handle = $shell.BeginInvoke()
        Start-Sleep -Milliseconds 1500
        $handle.IsCompleted | Should -BeFalse
        $clock = [Diagnostics.Stopwatch]::StartNew()
        $shell.Stop()
        $clock.Elapsed.TotalSeconds | Should -BeLessThan 10
        $shell.InvocationStateInfo.State | Should -Be 'Stopped'
        $shell.Dispose()
    }
}
