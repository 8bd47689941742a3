BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Source = Join-Path $TestDrive 'small-f32.gguf'
    $null = New-LlamaTestModel -Path $script:Source -Preset Small -Type F32 -Seed 9
}

Describe 'ConvertTo-LlamaQuantized' -Tag 'Slow' {
    It 'writes a <Type> model that loads and generates' -ForEach @(@{ Type = 'Q8_0' }, @{ Type = 'Q4_K_M' }) {
        $destination = Join-Path $TestDrive "small-$Type.gguf"
        $result = ConvertTo-LlamaQuantized -Path $script:Source -Destination $destination -Type $Type
        $result.Path | Should -Be $destination
        $result.Bytes | Should -Be (Get-Item $destination).Length
        $result.SizeRatio | Should -BeLessThan 0.5
        $result.ConvertedTensors | Should -BeGreaterThan 0
        (Get-LlamaModel -Path $destination).Type | Should -Be ($Type -replace '_M$', '')
        (Invoke-LlamaPrompt -Model $destination -Prompt 'Hello' -Temperature 0 -MaxTokens 4).GeneratedTokens | Should -Be 4
    }

    It 'keeps half of attn_v and ffn_down in Q6_K for Q4_K_M, as llama-quantize does' {
        $result = ConvertTo-LlamaQuantized -Path $script:Source -Destination (Join-Path $TestDrive 'mix.gguf') -Type Q4_K_M
        $result.TensorTypes | Should -Match 'Q6_K:\d+'
        $result.TensorTypes | Should -Match 'Q4_K:\d+'
    }

    It 'refuses to overwrite without -Force, and honours -WhatIf' {
        $destination = Join-Path $TestDrive 'exists.gguf'
        Set-Content -Path $destination -Value 'keep me'
        Get-ErrorIdOf { ConvertTo-LlamaQuantized -Path $script:Source -Destination $destination -Type Q8_0 } | Should -Be 'FileExists'
        Get-Content $destination | Should -Be 'keep me'
        ConvertTo-LlamaQuantized -Path $script:Source -Destination (Join-Path $TestDrive 'whatif.gguf') -Type Q8_0 -WhatIf
        Test-Path (Join-Path $TestDrive 'whatif.gguf') | Should -BeFalse
    }

    It 'reports a missing source and a file that is not GGUF' {
        Get-ErrorIdOf { ConvertTo-LlamaQuantized -Path (Join-Path $TestDrive 'none.gguf') -Destination (Join-Path $TestDrive 'x.gguf') -Type Q8_0 } | Should -Be 'ModelNotFound'
        $bad = Join-Path $TestDrive 'bad.gguf'
        Set-Content -Path $bad -Value 'not a model'
        Get-ErrorIdOf { ConvertTo-LlamaQuantized -Path $bad -Destination (Join-Path $TestDrive 'y.gguf') -Type Q8_0 } | Should -Be 'InvalidGguf'
    }
}
