BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Llama3Tokenizer = Join-Path $RepositoryRoot 'tests/Data/tokenizers/llama3/tokenizer.json.gz'
    $script:Llama3Config = Join-Path $RepositoryRoot 'tests/Data/tokenizers/llama3/tokenizer_config.json'
    # A Tiny Llama 3 shaped model: the real 128,256-token vocabulary, synthetic weights.
    $script:Llama3Model = Join-Path $TestDrive 'llama3-tiny.gguf'
    $null = New-LlamaTestModel -Path $Llama3Model -Type Q8_0 -Tokenizer $Llama3Tokenizer -TokenizerConfig $Llama3Config
}

Describe 'New-LlamaTestModel -Tokenizer' -Tag 'Slow' {
    It 'builds the vocabulary from tokenizer.json and Get-LlamaModel shows the tokenizer kind and pre-tokenizer' {
        $info = Get-LlamaModel -Path $Llama3Model
        $info.VocabularySize | Should -Be 128256
        $info.Tokenizer | Should -Be 'gpt2'
        $info.PreTokenizer | Should -Be 'llama-bpe'
        (Get-LlamaModel -Path $EmbeddedModel).Tokenizer | Should -Be 'spm'
        (Get-LlamaModel -Path $EmbeddedModel).PreTokenizer | Should -BeNullOrEmpty
    }

    It 'writes a model Invoke-LlamaPrompt runs, its prompt tokenized as ConvertTo-LlamaToken -AddSpecial does' {
        $result = Invoke-LlamaPrompt -Model $Llama3Model -Prompt 'Hello world' -MaxTokens 2 -Temperature 0
        $result.PromptTokens | Should -Be 3
        $result.TokenIds | Should -HaveCount 2
        $result.TokenIds | ForEach-Object { $_ | Should -BeLessThan 128256 }
    }

    It 'refuses -TokenizerConfig without -Tokenizer as InvalidArgument' {
        Get-ErrorIdOf { New-LlamaTestModel -Path (Join-Path $TestDrive 'x.gguf') -TokenizerConfig $Llama3Config } |
            Should -Be 'InvalidArgument'
    }

    It 'reports a tokenizer.json that is not JSON as InvalidArgument and leaves no file' {
        $bad = Join-Path $TestDrive 'bad-tokenizer.json'
        Set-Content -Path $bad -Value '{ not json'
        $target = Join-Path $TestDrive 'bad.gguf'
        Get-ErrorIdOf { New-LlamaTestModel -Path $target -Tokenizer $bad } | Should -Be 'InvalidArgument'
        Test-Path $target | Should -BeFalse
    }
}

Describe 'ConvertTo-LlamaToken' -Tag 'Slow' {
    It 'writes the ids, with BOS only when -AddSpecial is given' {
        ConvertTo-LlamaToken -Model $Llama3Model -Text 'Hello world' | Should -Be @(9906, 1917)
        ConvertTo-LlamaToken -Model $Llama3Model -Text 'Hello world' -AddSpecial | Should -Be @(128000, 9906, 1917)
    }

    It 'tokenizes SentencePiece models too' {
        ConvertTo-LlamaToken -Model $EmbeddedModel -Text 'Once upon a time' -AddSpecial | Should -Be @(1, 9038, 2501, 263, 931)
    }

    It 'takes text from the pipeline, each string on its own' {
        $ids = 'Hello', ' world' | ConvertTo-LlamaToken -Model $Llama3Model
        $ids | Should -Be @(9906, 1917)
    }

    It 'keeps special-token text as text unless -ParseSpecial is given' {
        $plain = ConvertTo-LlamaToken -Model $Llama3Model -Text '<|eot_id|>'
        $plain | Should -Not -Contain 128009
        @($plain).Count | Should -BeGreaterThan 1
        ConvertTo-LlamaToken -Model $Llama3Model -Text '<|eot_id|>' -ParseSpecial | Should -Be 128009
    }

    It 'writes Id and Piece objects with -Detailed' {
        $tokens = ConvertTo-LlamaToken -Model $Llama3Model -Text 'Hello world' -AddSpecial -Detailed
        $tokens | Should -HaveCount 3
        $tokens[0] | Should -BeOfType 'LlamaDist.PowerShell.Output.LlamaToken'
        $tokens.Id | Should -Be @(128000, 9906, 1917)
        $tokens.Piece | Should -Be @('<|begin_of_text|>', 'Hello', ' world')
    }

    It 'writes nothing for empty text and only BOS with -AddSpecial' {
        @(ConvertTo-LlamaToken -Model $Llama3Model -Text '').Count | Should -Be 0
        ConvertTo-LlamaToken -Model $Llama3Model -Text '' -AddSpecial | Should -Be 128000
    }

    It 'reports a missing model as ModelNotFound' {
        Get-ErrorIdOf { ConvertTo-LlamaToken -Model (Join-Path $TestDrive 'missing.gguf') -Text 'x' } | Should -Be 'ModelNotFound'
    }

    It 'reports a tokenizer model it does not implement as UnsupportedTokenizer' {
        $path = Join-Path $TestDrive 'rwkv-tokens.gguf'
        New-ModelWithTokenizer -Path $path
        $record = Get-ErrorRecordOf { ConvertTo-LlamaToken -Model $path -Text 'x' }
        ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'UnsupportedTokenizer'
        $record.Exception.Message | Should -Match "'rwkv'"
    }
}

Describe 'ConvertFrom-LlamaToken' -Tag 'Slow' {
    It 'turns ids back into the text, ids from the pipeline' {
        $text = "Hello, world! ½ 日本語 🦙`n`tcode()"
        ConvertTo-LlamaToken -Model $Llama3Model -Text $text | ConvertFrom-LlamaToken -Model $Llama3Model | Should -BeExactly $text
    }

    It 'joins a character split across tokens' {
        $ids = ConvertTo-LlamaToken -Model $Llama3Model -Text '🦙'
        @($ids).Count | Should -BeGreaterThan 1
        ConvertFrom-LlamaToken -Model $Llama3Model -Id $ids | Should -BeExactly '🦙'
    }

    It 'leaves control tokens out unless -RenderSpecial is given' {
        ConvertFrom-LlamaToken -Model $Llama3Model -Id 128000, 9906 | Should -BeExactly 'Hello'
        ConvertFrom-LlamaToken -Model $Llama3Model -Id 128000, 9906 -RenderSpecial | Should -BeExactly '<|begin_of_text|>Hello'
    }

    It 'reports an id outside the vocabulary as InvalidArgument' {
        Get-ErrorIdOf { ConvertFrom-LlamaToken -Model $Llama3Model -Id 1, 128256 } | Should -Be 'InvalidArgument'
        Get-ErrorIdOf { ConvertFrom-LlamaToken -Model $Llama3Model -Id -1 } | Should -Be 'InvalidArgument'
    }
}
