# Help for ConvertFrom-LlamaToken (format: README.md in this folder).
@{
    Synopsis    = 'Turns token ids back into text with a model''s tokenizer (llama_detokenize).'
    Description = @'
ConvertFrom-LlamaToken decodes token ids into text as llama_detokenize does. Ids from the pipeline are gathered
and decoded together at the end, so a character whose bytes are split across tokens comes out whole. Control
tokens (BOS, "<|eot_id|>" ...) are left out unless -RenderSpecial is given.
'@
    Parameters  = @{
        Model         = 'The GGUF model whose tokenizer to use.'
        Id            = 'Token ids. Ids from the pipeline (ConvertTo-LlamaToken, or a result''s TokenIds) are gathered and decoded together.'
        RenderSpecial = 'Writes control tokens (BOS, "<|eot_id|>" ...) as their text instead of leaving them out.'
    }
    Examples    = @(
        @{
            Title   = 'Ids to text'
            Code    = 'ConvertFrom-LlamaToken -Model ./module/Models/llama-2-tiny-random.gguf -Id 1, 15043, 3186'
            Remarks = 'Writes " Hello world": BOS is a control token and is left out; the leading space is the SentencePiece word marker of the first piece, kept as llama_detokenize keeps it.'
        }
        @{
            Title   = 'The generated tokens of a prompt, with control tokens shown'
            Code    = @'
$result = Invoke-LlamaPrompt -Model ./llama3.gguf -Prompt 'Hi' -Temperature 0
$result.TokenIds | ConvertFrom-LlamaToken -Model ./llama3.gguf -RenderSpecial
'@
        }
    )
    Links       = @('ConvertTo-LlamaToken', 'Invoke-LlamaPrompt', 'about_LlamaDist')
    Online      = 'README.md#usage'
}
