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
        $model.Size | Should -Be '1.67 MiB'     # binary units, as every size the module shows
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

Describe 'Get-LlamaModel on a folder of mixed models' {
    BeforeAll {
        $folder = Join-Path $TestDrive 'mixed'
        $null = New-Item -ItemType Directory -Path $folder
        foreach ($architecture in 'Llama', 'Qwen2', 'Qwen3', 'Phi3', 'Gemma2') {
            $null = New-LlamaTestModel -Path (Join-Path $folder "$architecture.gguf") -Architecture $architecture -Type Q8_0
        }
        New-ModelWithArchitecture -Source (Join-Path $folder 'Llama.gguf') -Path (Join-Path $folder 'Mamba.gguf') -Architecture mamba
        $errors = @()
        $models = Get-ChildItem -Path $folder -Filter *.gguf | Get-LlamaModel -ErrorVariable errors
        $byName = @{}
        foreach ($model in $models) { $byName[[IO.Path]::GetFileNameWithoutExtension($model.Path)] = $model }
    }

    It 'lists every file without an error' {
        $errors | Should -HaveCount 0
        $models | Should -HaveCount 6
    }

    It 'reads <Name> as <Architecture> from its own keys' -ForEach @(
        @{ Name = 'Llama'; Architecture = 'llama' }
        @{ Name = 'Qwen2'; Architecture = 'qwen2' }
        @{ Name = 'Qwen3'; Architecture = 'qwen3' }
        @{ Name = 'Phi3'; Architecture = 'phi3' }
        @{ Name = 'Gemma2'; Architecture = 'gemma2' }
        @{ Name = 'Mamba'; Architecture = 'mamba' }
    ) {
        $model = $byName[$Name]
        $model.Architecture | Should -Be $Architecture
        # The Tiny shape: 2 layers, embedding 64, FFN 192, 4 heads, context 512, 32000 tokens.
        $model.LayerCount | Should -Be 2
        $model.EmbeddingLength | Should -Be 64
        $model.FeedForwardLength | Should -Be 192
        $model.HeadCount | Should -Be 4
        $model.ContextLength | Should -Be 512
        $model.VocabularySize | Should -Be 32000
        $model.Supported | Should -Be ($model.Reason -eq '')
    }

    It 'marks the runnable llama model Supported' {
        $byName['Llama'].Supported | Should -BeTrue
        $byName['Llama'].Reason | Should -BeNullOrEmpty
    }

    It 'marks an architecture the engine does not run Supported = $false, giving the reason' {
        $byName['Mamba'].Supported | Should -BeFalse
        $byName['Mamba'].Reason | Should -Match "'mamba'"
    }

    It 'shows the architecture and whether it is supported in the table view' {
        $table = $models | Format-Table | Out-String -Width 200
        $table | Should -Match 'Arch'
        $table | Should -Match 'Supported'
        $table | Should -Match 'mamba'
        $table | Should -Match 'False'
    }
}
