# Help for New-LlamaTestModel (format: README.md in this folder).
@{
    Synopsis    = 'Writes a GGUF model with deterministic pseudo-random weights, for tests and benchmarks.'
    Description = @'
New-LlamaTestModel writes a model of a realistic shape without downloading one: Tiny (2 layers, multi-head
attention), Small (4 layers, grouped-query attention) or TinyLlama (the 1.1B shape), in the GGUF layout
llama.cpp's converter gives each -Architecture, with weights of -Type drawn from -Seed (the same seed gives the
same bytes). Its text is meaningless, but it loads, runs and splits like a real model, and llama.cpp reads it.

The vocabulary is the embedded model's 32000 SentencePiece tokens, another model's (-VocabFrom), or a real
byte-level BPE vocabulary built from a Hugging Face tokenizer.json (-Tokenizer, with -TokenizerConfig for
BOS/EOS and the chat template). Rows that do not fit a type's block size fall back to Q8_0.
'@
    Parameters  = @{
        Path            = 'The GGUF file to write.'
        Preset          = 'The shape: Tiny (2 layers, multi-head), Small (4 layers, grouped-query) or TinyLlama (the 1.1B shape: 22 layers, 2048 wide).'
        Architecture    = 'The GGUF layout of that family: Llama (Llama 2 / TinyLlama), Llama3 (rope_freqs, tied embeddings), Qwen2 (Q/K/V biases), Qwen3 (Q/K norms), Phi3 (fused QKV and gate/up), Phi35 (Phi3 with LongRoPE factors), Gemma2 (post-norms, soft-capping, sliding window) or Mistral.'
        Type            = 'The weight type of the matrices: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 or a K type (Q2_K to Q6_K). Norms stay F32.'
        Seed            = 'The seed of the weights: the same seed gives the same bytes.'
        VocabFrom       = 'A GGUF model whose tokenizer to copy. The embedded model''s 32000-token vocabulary when omitted.'
        Tokenizer       = 'A Hugging Face tokenizer.json (gzipped or not) to build the vocabulary from; the model''s vocabulary size follows it. Byte-level BPE tokenizers (Llama 3, Qwen 2/3, GPT-2 style).'
        TokenizerConfig = 'The tokenizer_config.json beside -Tokenizer: BOS/EOS, add_bos/add_eos and the chat template.'
        Force           = 'Overwrites the file when it exists.'
    }
    Examples    = @(
        @{
            Title   = 'A TinyLlama-shaped model in Q8_0'
            Code    = 'New-LlamaTestModel -Path ./tinyllama-q8.gguf -Preset TinyLlama -Type Q8_0'
        }
        @{
            Title   = 'A Qwen3-layout model, then a benchmark of it'
            Code    = @'
New-LlamaTestModel -Path ./qwen3-small.gguf -Preset Small -Architecture Qwen3 -Type Q8_0 -Force |
    Invoke-LlamaBenchmark -PromptTokens 64 -GenTokens 16 -Repetitions 2
'@
            Remarks = 'The model description New-LlamaTestModel writes binds to Invoke-LlamaBenchmark -Model by its Path property.'
        }
        @{
            Title   = 'A real Llama 3 vocabulary'
            Code    = 'New-LlamaTestModel -Path ./llama3-tiny.gguf -Architecture Llama3 -Tokenizer ./tokenizer.json.gz -TokenizerConfig ./tokenizer_config.json'
        }
    )
    Links       = @('Get-LlamaModel', 'ConvertTo-LlamaQuantized', 'Invoke-LlamaBenchmark', 'about_LlamaDist')
    Online      = 'README.md#usage'
}
