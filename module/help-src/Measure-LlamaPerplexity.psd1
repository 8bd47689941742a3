# Help for Measure-LlamaPerplexity (format: README.md in this folder).
@{
    Synopsis    = 'Measures a model''s perplexity on a text file, as llama-perplexity does.'
    Description = @'
Measure-LlamaPerplexity tokenizes a UTF-8 text file, cuts it into chunks of -ContextSize tokens and scores the
second half of each chunk, exactly as llama-perplexity does, so the figure compares with llama.cpp's on the
same file (wiki.test.raw is the usual one). The result has the perplexity, its uncertainty, the chunk and
token counts and the time taken. Lower is better; a quantized model's perplexity against its F16 source shows
what the quantization cost.
'@
    Parameters  = @{
        Backend                   = 'Where the layers run: Auto (CUDA, then OpenCL, then the CPU engine; -Verbose says why), Cpu, Cuda, OpenCL or IlgpuCpu (the GPU kernels on ILGPU''s CPU accelerator). An explicit backend this machine lacks fails with BackendUnavailable.'
        Model        = 'The GGUF model file.'
        Path         = 'The UTF-8 text file to score. FileInfo objects from Get-ChildItem bind by their FullName property.'
        ContextSize  = 'Tokens per chunk (llama-perplexity -c); the second half of each chunk is scored.'
        Threads      = 'Compute threads. The number of physical cores when omitted.'
        WeightMemory = 'Where the weight matrices are read from: Auto, Mapped (the file mapping) or Resident (read into memory); see Invoke-LlamaPrompt.'
    }
    Examples    = @(
        @{
            Title   = 'Perplexity on wikitext-2'
            Code    = 'Measure-LlamaPerplexity -Model ./model-q4_k_m.gguf -Path ./wiki.test.raw -ContextSize 512'
        }
        @{
            Title   = 'What quantization costs'
            Code    = @'
'./model-f16.gguf', './model-q8_0.gguf', './model-q4_k_m.gguf' | ForEach-Object {
    Measure-LlamaPerplexity -Model $_ -Path ./wiki.test.raw } | Format-Table Model, Perplexity, Uncertainty
'@
        }
    )
    Links       = @('ConvertTo-LlamaQuantized', 'Invoke-LlamaBenchmark', 'about_LlamaDist')
    Online      = 'README.md#usage'
}
