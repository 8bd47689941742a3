namespace LlamaDist.Engine.Generation;

/// <summary>One prompt and how to continue it. Defaults are llama.cpp's.</summary>
public sealed record GenerationRequest
{
    /// <summary>
    /// The prompt text, tokenized with the model's BOS and without special-token parsing, unless
    /// <see cref="PromptTokenIds"/> is given (then it only names the prompt).
    /// </summary>
    public required string Prompt { get; init; }

    /// <summary>The prompt already tokenized (a rendered chat, for instance), evaluated as is.</summary>
    public IReadOnlyList<int>? PromptTokenIds { get; init; }

    /// <summary>Generation ends when the text contains one of these; the text stops just before it.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Most stop strings, and the longest one: bounds on the text held back while matching.</summary>
    public const int MaxStopStrings = 64;
    public const int MaxStopStringLength = 1024;

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

    /// <summary>
    /// Share of a long prompt evaluated so far (0..1), reported on the generating thread after each batch of a
    /// prompt longer than one batch; null reports nothing.
    /// </summary>
    public IProgress<double>? PromptProgress { get; init; }
}
