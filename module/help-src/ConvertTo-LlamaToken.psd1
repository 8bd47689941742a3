# Help for ConvertTo-LlamaToken (format: README.md in this folder).
@{
    Synopsis    = 'Tokenizes text with a model''s tokenizer, like llama-tokenize, and writes the token ids.'
    Description = @'
ConvertTo-LlamaToken runs the model's own tokenizer (SentencePiece, byte-level BPE or WordPiece, with the
pre-tokenizer llama.cpp picks for the model) over each string and writes the token ids, the same ids
llama_tokenize gives. -Detailed writes objects with Id and Piece, as llama-tokenize shows them. Each string from
the pipeline is tokenized on its own.
'@
    Parameters  = @{
        Model        = 'The GGUF model whose tokenizer to use (only its vocabulary is read, not its weights).'
        Text         = 'The text to tokenize. Strings from the pipeline are tokenized one by one.'
        AddSpecial   = 'Adds BOS/EOS as the model''s add_bos_token/add_eos_token say (llama_tokenize''s add_special).'
        ParseSpecial = 'Turns special-token text in the input ("<|eot_id|>", "<|im_start|>") into the special token''s id; without it such text is tokenized as ordinary text.'
        Detailed     = 'Writes objects with Id and Piece instead of bare ids.'
    }
    Examples    = @(
        @{
            Title   = 'Ids with the beginning-of-sequence token'
            Code    = "ConvertTo-LlamaToken -Model ./module/Models/llama-2-tiny-random.gguf -Text 'Hello world' -AddSpecial"
            Remarks = 'Writes 1, 15043, 3186: BOS, then the two pieces.'
        }
        @{
            Title   = 'Pieces, with a special token parsed'
            Code    = "ConvertTo-LlamaToken -Model ./qwen3.gguf -Text '<|im_start|>user' -ParseSpecial -Detailed"
        }
        @{
            Title   = 'A round trip'
            Code    = "'Hello world' | ConvertTo-LlamaToken -Model ./llama3.gguf | ConvertFrom-LlamaToken -Model ./llama3.gguf"
        }
    )
    Links       = @('ConvertFrom-LlamaToken', 'Get-LlamaModel', 'about_LlamaDist')
    Online      = 'README.md#usage'
}
