namespace LlamaDist.Engine.Generation;

/// <summary>One prompt and how to continue it. Defaults are llama.cpp's.</summary>
public sealed class GenerationRequest
{
    public required string Prompt { get; init; }

    /// <summary>Most tokens to generate (llama.cpp's -n). Generation also stops at end of sequence.</summary>
    public int MaxTokens { get; init; } = 128;

    /// <summary>0 means greedy argmax.</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>0 or less disables top-k.</summary>
    public int TopK { get; init; } = 40;

    public float TopP { get; init; } = 0.95f;
    public float MinP { get; init; } = 0.05f;

    /// <summary>1.0 disables the penalty.</summary>
    public float RepeatPenalty { get; init; } = 1.0f;

    /// <summary>How many recent tokens the repeat penalty looks at.</summary>
    public int RepeatLastN { get; init; } = 64;

    /// <summary>Same seed, same model, same prompt: same tokens. Null draws a random seed (reported back).</summary>
    public int? Seed { get; init; }

    /// <summary>Tokens of KV cache to allocate; 0 takes the model's trained context, capped at 4096.</summary>
    public int ContextSize { get; init; }

    /// <summary>Prompt tokens evaluated per batch; smaller batches answer cancellation sooner.</summary>
    public int BatchSize { get; init; } = 128;
}
