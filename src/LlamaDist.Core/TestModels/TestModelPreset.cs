namespace LlamaDist.Core.TestModels;

/// <summary>Named shapes for synthetic llama models (see <see cref="TestModelShape.For"/>).</summary>
public enum TestModelPreset
{
    /// <summary>64 embedding, 192 FFN, 2 layers, 4 heads, 4 KV heads (multi-head attention), context 512.</summary>
    Tiny,

    /// <summary>256 embedding, 704 FFN, 4 layers, 8 heads, 2 KV heads (grouped-query attention), context 1024.</summary>
    Small,

    /// <summary>TinyLlama 1.1B: 2048 embedding, 5632 FFN, 22 layers, 32 heads, 4 KV heads, context 2048.</summary>
    TinyLlama,
}
