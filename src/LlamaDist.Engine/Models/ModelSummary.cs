namespace LlamaDist.Engine.Models;

/// <summary>
/// What a GGUF model is, read from its header without loading weights (Get-LlamaModel's data). Shape values come
/// from the &lt;architecture&gt;.* keys; one the header does not state as a single number is 0.
/// </summary>
public sealed class ModelSummary
{
    public required string Path { get; init; }
    public required string Name { get; init; }
    public required string Architecture { get; init; }
    public required long ParameterCount { get; init; }
    public required long FileSize { get; init; }
    public required uint GgufVersion { get; init; }

    /// <summary>The weight type of most parameters in the matrices ("Q8_0"), like llama.cpp's model type column.</summary>
    public required string PredominantType { get; init; }

    /// <summary>Tensor count per weight type, most parameters first: "Q8_0:154 F32:45".</summary>
    public required string WeightTypes { get; init; }

    public required int TensorCount { get; init; }
    public required int LayerCount { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int HeadCount { get; init; }
    public required int KvHeadCount { get; init; }
    public required int ContextLength { get; init; }
    public required int VocabularySize { get; init; }
    public required string TokenizerModel { get; init; }

    /// <summary>The model's tokenizer.chat_template (a Jinja source or a template name), or null when it has none.</summary>
    public string? ChatTemplate { get; init; }
    /// <summary>Whether the engine can run the model (its hyper-parameters, tokenizer and tensors all load).</summary>
    public required bool Supported { get; init; }

    /// <summary>Why the engine cannot run it (the loader's own message); empty when <see cref="Supported"/>.</summary>
    public required string Reason { get; init; }
    /// <summary>The tokenizer kind as llama.cpp names it: "spm" (tokenizer.ggml.model "llama"), "gpt2" (byte-level
    /// BPE), otherwise the model value itself.</summary>
    public string Tokenizer => TokenizerModel == "llama" ? "spm" : TokenizerModel;

    /// <summary>tokenizer.ggml.pre of a byte-level BPE vocabulary ("llama-bpe", "qwen2" ...); empty when the file has none.</summary>
    public string PreTokenizer { get; init; } = "";
}
