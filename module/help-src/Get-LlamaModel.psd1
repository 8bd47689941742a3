# Help for Get-LlamaModel (format: README.md in this folder).
@{
    Synopsis    = 'Describes GGUF models: architecture, size, weight types, shape and tokenizer.'
    Description = @'
Get-LlamaModel reads a GGUF file's header (not its weights) and returns a LlamaModelInfo: name, architecture,
weight type, parameter count, file size, layers, embedding width, heads and KV heads, training context,
vocabulary and tokenizer. Any GGUF is described, its shape read from its own <architecture>.* keys; a model
LlamaDist cannot run shows Supported = False and says why in Reason, so a folder of mixed models lists
completely. Without -Path it describes the module's embedded default model.
'@
    Parameters  = @{
        Path = 'Model files; wildcards allowed. FileInfo objects from Get-ChildItem bind by their FullName property.'
    }
    Examples    = @(
        @{
            Title   = 'The embedded model'
            Code    = 'Get-LlamaModel'
            Remarks = 'Describes llama-2-tiny-random, the one-layer model that ships with the module.'
        }
        @{
            Title   = 'A folder of models, largest first'
            Code    = 'Get-ChildItem ~/models/*.gguf | Get-LlamaModel | Sort-Object ParameterCount -Descending'
        }
        @{
            Title   = 'What cannot run, and why'
            Code    = 'Get-LlamaModel -Path ~/models/*.gguf | Where-Object { -not $_.Supported } | Format-List Name, Architecture, Reason'
        }
    )
    Links       = @('Invoke-LlamaPrompt', 'ConvertTo-LlamaQuantized', 'New-LlamaTestModel', 'about_LlamaDist')
    Online      = 'README.md#usage'
}
