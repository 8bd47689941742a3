namespace LlamaDist.PowerShell.Output;

/// <summary>Get-LlamaModel's output: what a GGUF model is, from its header.</summary>
public sealed class LlamaModelInfo
{
    public string Name { get; init; } = "";
    public string Path { get; init; } = "";
    public string Architecture { get; init; } = "";
    public long ParameterCount { get; init; }

    /// <summary>"1.1B", "4.11M".</summary>
    public string Parameters { get; init; } = "";

    public long FileSize { get; init; }

    /// <summary>"636.18 MiB" (binary units, as every size LlamaDist shows).</summary>
    public string Size { get; init; } = "";

    /// <summary>The weight type of most parameters ("Q8_0").</summary>
    public string Type { get; init; } = "";

    /// <summary>Tensor count per weight type: "Q8_0:154 F32:45".</summary>
    public string WeightTypes { get; init; } = "";

    public uint GgufVersion { get; init; }
    public int TensorCount { get; init; }
    public int LayerCount { get; init; }
    public int EmbeddingLength { get; init; }
    public int FeedForwardLength { get; init; }
    public int HeadCount { get; init; }
    public int KvHeadCount { get; init; }
    public int ContextLength { get; init; }
    public int VocabularySize { get; init; }
    public string TokenizerModel { get; init; } = "";

    /// <summary>Whether LlamaDist can run the model; when not, <see cref="Reason"/> says why.</summary>
    public bool Supported { get; init; }

    /// <summary>Why the model cannot run (architecture, tokenizer or tensor refused); empty when supported.</summary>
    public string Reason { get; init; } = "";
    /// <summary>"spm" or "gpt2" (llama.cpp's names for SentencePiece and byte-level BPE).</summary>
    public string Tokenizer { get; init; } = "";

    /// <summary>The byte-level BPE pre-tokenizer (tokenizer.ggml.pre), e.g. "llama-bpe"; empty for SentencePiece.</summary>
    public string PreTokenizer { get; init; } = "";
}
