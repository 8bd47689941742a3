BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'Get-LlamaModel' {
    It 'describes the embedded model from its header' {
        $model = Get-LlamaModel -Path $EmbeddedModel
        $model | Should -BeOfType 'LlamaDist.PowerShell.Output.LlamaModelInfo'
        $model.Architecture | Should -Be 'llama'
        $model.VocabularySize | Should -Be 32000
        $model.TokenizerModel | Should -Be 'llama'
        $model.FileSize | Should -Be 1750560
        $model.GgufVersion | Should -Be 3
        $model.LayerCount | Should -BeGreaterThan 0
        $model.ParameterCount | Should -BeGreaterThan 0
        $model.Size | Should -Match 'MB'
    }

    It 'takes files from the pipeline' {
        $models = Get-Item $EmbeddedModel, $EmbeddedModel | Get-LlamaModel
        $models | Should -HaveCount 2
        $models[0].Path | Should -Be $EmbeddedModel
    }

    It 'expands wildcards' {
        $models = Get-LlamaModel -Path (Join-Path (Split-Path $EmbeddedModel) '*.gguf')
        $models.Name | Should -Not -BeNullOrEmpty
    }

    It 'reports a missing file as ModelNotFound' {
        Get-ErrorIdOf { Get-LlamaModel -Path (Join-Path $TestDrive 'missing.gguf') } | Should -Be 'ModelNotFound'
    }

    It 'reports a file that is not GGUF as InvalidGguf and carries on with the next one' {
        $bad = Join-Path $TestDrive 'bad.gguf'
        Set-Content -Path $bad -Value 'this is not a model'
        $errors = @()
        $results = Get-LlamaModel -Path $bad, $EmbeddedModel -ErrorVariable errors -ErrorAction SilentlyContinue
        ($errors[0].FullyQualifiedErrorId -split ',')[0] | Should -Be 'InvalidGguf'
        $errors[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $errors[0].Exception.Message | Should -Match 'bad.gguf'
        $results | Should -HaveCount 1
    }

    It 'reports a truncated model as InvalidGguf' {
        $truncated = Join-Path $TestDrive 'truncated.gguf'
        [IO.File]::WriteAllBytes($truncated, [IO.File]::ReadAllBytes($EmbeddedModel)[0..999])
        Get-ErrorIdOf { Get-LlamaModel -Path $truncated } | Should -Be 'InvalidGguf'
    }
}

Describe 'Errors for models the engine cannot run' {
    It 'reports a weight type without kernels as UnsupportedWeightType, naming type and tensor' {
        # A Tiny Q8_0 model (64x64 attn_q: 4352 bytes) with attn_q retyped IQ4_NL (2304 bytes), a real llama.cpp
        # type this engine has no kernels for.
        $source = Join-Path $TestDrive 'tiny-q8.gguf'
        $null = New-LlamaTestModel -Path $source -Type Q8_0
        $path = Join-Path $TestDrive 'iq4_nl.gguf'
        New-ModelWithTensorType -Source $source -Path $path -TypeId 20
        $record = Get-ErrorRecordOf { Invoke-LlamaPrompt -Model $path -Prompt 'x' }
        ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'UnsupportedWeightType'
        $record.CategoryInfo.Category | Should -Be 'NotImplemented'
        $record.Exception.Message | Should -Match 'IQ4_NL'
        $record.Exception.Message | Should -Match 'blk\.0\.attn_q\.weight'
    }

    It 'reports an unsupported tokenizer as UnsupportedTokenizer' {
        $path = Join-Path $TestDrive 'rwkv.gguf'
        New-ModelWithTokenizer -Path $path
        (Get-LlamaModel -Path $path).TokenizerModel | Should -Be 'rwkv'
        Get-ErrorIdOf { Invoke-LlamaPrompt -Model $path -Prompt 'x' } | Should -Be 'UnsupportedTokenizer'
    }
}
