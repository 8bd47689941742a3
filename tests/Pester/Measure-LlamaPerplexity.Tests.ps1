BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'Measure-LlamaPerplexity' {
    BeforeAll {
        $script:textFile = Join-Path $TestDrive 'text.txt'
        $sentences = 'The quick brown fox jumps over the lazy dog.', 'A journey of a thousand miles begins with a single step.', 'All that glitters is not gold.'
        Set-Content -Path $textFile -Value ((1..20 | ForEach-Object { $sentences[$_ % 3] }) -join ' ')
    }

    It 'scores the second half of each chunk like llama-perplexity' {
        $result = Measure-LlamaPerplexity -Model $EmbeddedModel -Path $textFile -ContextSize 64
        $result | Should -BeOfType 'LlamaDist.PowerShell.Output.LlamaPerplexityResult'
        $result.Chunks | Should -Be ([math]::Floor($result.TextTokens / 64))
        $result.ScoredTokens | Should -Be ($result.Chunks * (64 - 1 - 32))
        $result.Perplexity | Should -BeGreaterThan 1
        [double]::IsFinite($result.Perplexity) | Should -BeTrue
        $result.Uncertainty | Should -BeGreaterThan 0
    }

    It 'gives the same perplexity from mapped and resident weights' {
        $mapped = Measure-LlamaPerplexity -Model $EmbeddedModel -Path $textFile -ContextSize 32 -WeightMemory Mapped
        $resident = Measure-LlamaPerplexity -Model $EmbeddedModel -Path $textFile -ContextSize 32 -WeightMemory Resident
        $resident.Perplexity | Should -Be $mapped.Perplexity
        $resident.Chunks | Should -BeGreaterThan 0
    }

    It 'takes the text file from the pipeline' {
        (Get-Item $textFile | Measure-LlamaPerplexity -Model $EmbeddedModel -ContextSize 32).Path | Should -Be $textFile
    }

    It 'needs at least one chunk of text' {
        $short = Join-Path $TestDrive 'short.txt'
        Set-Content -Path $short -Value 'Too short.'
        Get-ErrorIdOf { Measure-LlamaPerplexity -Model $EmbeddedModel -Path $short -ContextSize 64 } | Should -Be 'InvalidArgument'
    }

    It 'reports a missing text file' {
        Get-ErrorIdOf { Measure-LlamaPerplexity -Model $EmbeddedModel -Path (Join-Path $TestDrive 'nothing.txt') } | Should -Be 'TextFileNotFound'
    }
}
