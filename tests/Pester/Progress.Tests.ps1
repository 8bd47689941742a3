# Write-Progress of long prompts: a prompt longer than one batch (128 tokens) reports its evaluation batch by batch.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'Prompt progress' {
    It 'reports each batch of a long prompt as Evaluating prompt, up to 100 percent' {
        # The progress stream cannot be redirected; a nested PowerShell keeps its records.
        $shell = [powershell]::Create([System.Management.Automation.RunspaceMode]::CurrentRunspace)
        try {
            $null = $shell.AddCommand('Invoke-LlamaPrompt').AddParameter('Model', $EmbeddedModel).
                AddParameter('Prompt', ('once upon a time ' * 120)).AddParameter('MaxTokens', 1).AddParameter('Temperature', 0).
                AddParameter('Threads', 1)
            $result = $shell.Invoke()
            $result.Count | Should -Be 1
            $records = @($shell.Streams.Progress | Where-Object Activity -EQ 'Evaluating prompt')
            $records.Count | Should -BeGreaterOrEqual 2
            $records[-1].PercentComplete | Should -Be 100
            $records[0].PercentComplete | Should -BeLessThan 100
        }
        finally { $shell.Dispose() }
    }

    It 'reports nothing for a prompt of one batch' {
        $shell = [powershell]::Create([System.Management.Automation.RunspaceMode]::CurrentRunspace)
        try {
            $null = $shell.AddCommand('Invoke-LlamaPrompt').AddParameter('Model', $EmbeddedModel).
                AddParameter('Prompt', 'Once upon a time').AddParameter('MaxTokens', 1).AddParameter('Temperature', 0).AddParameter('Threads', 1)
            $null = $shell.Invoke()
            @($shell.Streams.Progress | Where-Object Activity -EQ 'Evaluating prompt').Count | Should -Be 0
        }
        finally { $shell.Dispose() }
    }
}
