# Write-Progress of long prompts: a prompt longer than one batch (128 tokens) reports its evaluation batch by batch.
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')

    # The progress stream cannot be redirected: a PowerShell of its own (a fresh runspace, so its progress goes to
    # its Streams and not to this host) keeps the records.
    function Get-PromptProgress([string] $Prompt) {
        $shell = [powershell]::Create()
        try {
            $null = $shell.AddCommand('Import-Module').AddParameter('Name', (Join-Path $RepositoryRoot 'LlamaDist.psd1')).AddStatement().
                AddCommand('Invoke-LlamaPrompt').AddParameter('Model', $EmbeddedModel).AddParameter('Prompt', $Prompt).
                AddParameter('MaxTokens', 1).AddParameter('Temperature', 0).AddParameter('Threads', 1)
            $result = $shell.Invoke()
            $result.Count | Should -Be 1
            @($shell.Streams.Progress | Where-Object Activity -EQ 'Evaluating prompt')
        }
        finally { $shell.Dispose() }
    }
}

Describe 'Prompt progress' {
    It 'reports each batch of a long prompt as Evaluating prompt, up to 100 percent' {
        $records = Get-PromptProgress ('once upon a time ' * 120)    # 482 tokens: four batches
        $records.Count | Should -BeGreaterOrEqual 2
        $records[-1].PercentComplete | Should -Be 100
        $records[0].PercentComplete | Should -BeLessThan 100
    }

    It 'reports nothing for a prompt of one batch' {
        @(Get-PromptProgress 'Once upon a time').Count | Should -Be 0
    }
}
