# Help for ConvertTo-LlamaQuantized (format: README.md in this folder).
@{
    Synopsis    = 'Writes a copy of a GGUF model with its weights quantized, like llama-quantize.'
    Description = @'
ConvertTo-LlamaQuantized reads a GGUF model (F32, F16, BF16 or already quantized) and writes a copy with its
weight matrices in -Type, keeping every metadata key and the tensor order. The K mixes (Q3_K_S/M/L, Q4_K_S/M,
Q5_K_S/M) choose a type per tensor by llama.cpp's rules (Q4_K_M, for instance, keeps half of attn_v and ffn_down
in Q6_K); norms and other one-dimensional tensors stay F32. Requantizing an already quantized model works but
loses precision, as llama-quantize --allow-requantize does.

The result names the destination and source, the type, the sizes before and after, how many tensors were converted, the types written and the time taken. An
existing destination is kept unless -Force is given.
'@
    Parameters  = @{
        Path        = 'The source GGUF model. FileInfo objects from Get-ChildItem bind by their FullName property.'
        Destination = 'The GGUF file to write.'
        Type        = 'The target type: F32, F16, BF16, the legacy block types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, or the K types and mixes Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K.'
        Threads     = 'Threads that quantize rows. All cores when omitted.'
        Force       = 'Overwrites the destination when it exists.'
    }
    Examples    = @(
        @{
            Title   = 'The usual 4-bit mix'
            Code    = 'ConvertTo-LlamaQuantized -Path ./model-f16.gguf -Destination ./model-q4_k_m.gguf -Type Q4_K_M'
        }
        @{
            Title   = 'Several types from one source'
            Code    = "'Q8_0', 'Q4_0' | ForEach-Object { ConvertTo-LlamaQuantized ./model-f16.gguf ""./model-`$_.gguf"" -Type `$_ -Force }"
        }
        @{
            Title   = 'A synthetic model, quantized and described'
            Code    = @'
New-LlamaTestModel -Path ./small-f32.gguf -Preset Small
ConvertTo-LlamaQuantized -Path ./small-f32.gguf -Destination ./small-q8_0.gguf -Type Q8_0
Get-LlamaModel ./small-f32.gguf, ./small-q8_0.gguf
'@
        }
    )
    Links       = @('Get-LlamaModel', 'Measure-LlamaPerplexity', 'New-LlamaTestModel', 'about_LlamaDist')
    Online      = 'README.md#usage'
}
