BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
}

Describe 'New-LlamaTestModel' -Tag 'Slow' {
    It 'writes a <Preset> <Type> model that Get-LlamaModel reads back' -ForEach @(
        @{ Preset = 'Tiny'; Type = 'Q8_0'; Heads = 4; KvHeads = 4; Layers = 2; Embedding = 64 }
        @{ Preset = 'Small'; Type = 'Q4_0'; Heads = 8; KvHeads = 2; Layers = 4; Embedding = 256 }
        @{ Preset = 'Tiny'; Type = 'F16'; Heads = 4; KvHeads = 4; Layers = 2; Embedding = 64 }
        @{ Preset = 'Tiny'; Type = 'Q5_1'; Heads = 4; KvHeads = 4; Layers = 2; Embedding = 64 }
        @{ Preset = 'Small'; Type = 'Q4_K'; Heads = 8; KvHeads = 2; Layers = 4; Embedding = 256 }
    ) {
        $path = Join-Path $TestDrive "$Preset-$Type.gguf"
        $info = New-LlamaTestModel -Path $path -Preset $Preset -Type $Type -Seed 3
        $info | Should -BeOfType 'LlamaDist.PowerShell.Output.LlamaModelInfo'
        Test-Path $path | Should -BeTrue
        $read = Get-LlamaModel -Path $path
        $read.Type | Should -Be $Type
        $read.HeadCount | Should -Be $Heads
        $read.KvHeadCount | Should -Be $KvHeads
        $read.LayerCount | Should -Be $Layers
        $read.EmbeddingLength | Should -Be $Embedding
        $read.VocabularySize | Should -Be 32000
    }

    It 'writes a <Architecture> model as general.architecture <Expected>' -ForEach @(
        @{ Architecture = 'Llama3'; Expected = 'llama'; Tensors = 21 }
        @{ Architecture = 'Qwen2'; Expected = 'qwen2'; Tensors = 27 }
        @{ Architecture = 'Qwen3'; Expected = 'qwen3'; Tensors = 24 }
        @{ Architecture = 'Phi3'; Expected = 'phi3'; Tensors = 15 }
        @{ Architecture = 'Phi35'; Expected = 'phi3'; Tensors = 17 }
        @{ Architecture = 'Gemma2'; Expected = 'gemma2'; Tensors = 24 }
        @{ Architecture = 'Mistral'; Expected = 'llama'; Tensors = 21 }
    ) {
        $path = Join-Path $TestDrive "$Architecture.gguf"
        $info = New-LlamaTestModel -Path $path -Architecture $Architecture -Type Q8_0 -Seed 3
        $info.Architecture | Should -Be $Expected
        $info.TensorCount | Should -Be $Tensors
        $info.LayerCount | Should -Be 2
        $info.Supported | Should -Be ($info.Reason -eq '')
    }

    It 'refuses an architecture it does not know' {
        { New-LlamaTestModel -Path (Join-Path $TestDrive 'x.gguf') -Architecture Falcon } | Should -Throw -ErrorId 'ParameterArgumentValidationError,LlamaDist.PowerShell.Commands.NewLlamaTestModelCommand'
    }

    It 'writes the same bytes for the same seed' {
        $a = Join-Path $TestDrive 'a.gguf'; $b = Join-Path $TestDrive 'b.gguf'
        $null = New-LlamaTestModel -Path $a -Type Q4_0 -Seed 9
        $null = New-LlamaTestModel -Path $b -Type Q4_0 -Seed 9
        (Get-FileHash $a).Hash | Should -Be (Get-FileHash $b).Hash
    }

    It 'writes a model Invoke-LlamaPrompt can run' {
        $path = Join-Path $TestDrive 'runnable.gguf'
        $null = New-LlamaTestModel -Path $path -Preset Small -Type Q8_0
        $result = Invoke-LlamaPrompt -Model $path -Prompt 'Once upon a time' -MaxTokens 4 -Temperature 0
        $result.TokenIds | Should -HaveCount 4
    }

    It 'refuses to overwrite without -Force' {
        $path = Join-Path $TestDrive 'exists.gguf'
        Set-Content -Path $path -Value 'keep me'
        Get-ErrorIdOf { New-LlamaTestModel -Path $path } | Should -Be 'FileExists'
        Get-Content $path | Should -Be 'keep me'
        $null = New-LlamaTestModel -Path $path -Force
        (Get-LlamaModel -Path $path).Architecture | Should -Be 'llama'
    }

    It 'writes nothing with -WhatIf' {
        $path = Join-Path $TestDrive 'whatif.gguf'
        New-LlamaTestModel -Path $path -WhatIf
        Test-Path $path | Should -BeFalse
    }
}
