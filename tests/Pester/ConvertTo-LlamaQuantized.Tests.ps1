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

    It 'keeps half of attn_v and ffn_down in Q6_K for Q4_K_M and falls back per tensor as llama-quantize does, reporting each fallback' {
        # The Small model's ffn_down rows are 704 wide: Q4_K (layers 0-1) falls back to Q5_0, Q6_K (use_more_bits,
        # layers 2-3) to Q8_0; every other matrix keeps its K type.
        $destination = Join-Path $TestDrive 'fallback-q4_k_m.gguf'
        $output = ConvertTo-LlamaQuantized -Path $script:Source -Destination $destination -Type Q4_K_M -Verbose 4>&1
        $verbose = @($output | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)
        $result = $output | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }

        $result.FallbackCount | Should -Be 4
        $result.QuantizedTensors | Should -Be 30
        $result.Fallbacks.Tensor | Should -Be @('blk.0.ffn_down.weight', 'blk.1.ffn_down.weight', 'blk.2.ffn_down.weight', 'blk.3.ffn_down.weight')
        $result.Fallbacks.PlannedType | Should -Be @('Q4_K', 'Q4_K', 'Q6_K', 'Q6_K')
        $result.Fallbacks.FallbackType | Should -Be @('Q5_0', 'Q5_0', 'Q8_0', 'Q8_0')
        $result.Fallbacks[0].Columns | Should -Be 704
        $result.Fallbacks[0].PlannedBlockSize | Should -Be 256
        $verbose | Should -Contain 'blk.0.ffn_down.weight: rows of 704 are not divisible by 256, required for Q4_K; using fallback quantization Q5_0'
        $verbose | Should -Contain 'blk.3.ffn_down.weight: rows of 704 are not divisible by 256, required for Q6_K; using fallback quantization Q8_0'
        $verbose | Should -Contain '4 of 30 tensor(s) required fallback quantization.'
        $result.TensorTypes | Should -Match 'Q6_K:\d+'
        $result.TensorTypes | Should -Match 'Q4_K:\d+'

        $model = Get-LlamaModel -Path $destination
        $model.WeightTypes | Should -Match 'Q5_0:2'
        $model.WeightTypes | Should -Match 'Q8_0:2'
        (Invoke-LlamaPrompt -Model $destination -Prompt 'Hello' -Temperature 0 -MaxTokens 4).GeneratedTokens | Should -Be 4
    }

    It 'reports no fallbacks when every row fits' {
        $result = ConvertTo-LlamaQuantized -Path $script:Source -Destination (Join-Path $TestDrive 'fits-q8_0.gguf') -Type Q8_0
        $result.FallbackCount | Should -Be 0
        $result.Fallbacks | Should -BeNullOrEmpty
    }

    It 'explains a tensor no type fits, as llama-quantize stops on it too' {
        # The embedded model's rows are 8 wide: the output head's Q8_0 (32-blocks) cannot hold them.
        $record = Get-ErrorRecordOf { ConvertTo-LlamaQuantized -Path $EmbeddedModel -Destination (Join-Path $TestDrive 'unfit.gguf') -Type Q4_K_M }
        ($record.FullyQualifiedErrorId -split ',')[0] | Should -Be 'UnsupportedWeightType'
        $record.Exception.Message | Should -Match "Tensor 'output\.weight' \(Q4_K_M stores this tensor as Q8_0\)"
        $record.Exception.Message | Should -Match 'convert the model to F16, BF16 or F32'
        Test-Path (Join-Path $TestDrive 'unfit.gguf') | Should -BeFalse
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
