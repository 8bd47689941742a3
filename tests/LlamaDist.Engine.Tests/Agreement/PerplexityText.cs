namespace LlamaDist.Engine.Tests.Agreement;

/// <summary>A fixed English text of a few hundred tokens for perplexity comparisons.</summary>
public static class PerplexityText
{
    private static readonly string[] Sentences =
    [
        "The llama is a domesticated South American camelid, widely used as a meat and pack animal by Andean cultures since the pre-Columbian era.",
        "Llamas are social animals and live with others as a herd.",
        "Their wool is soft and contains only a small amount of lanolin.",
        "Llamas can learn simple tasks after a few repetitions.",
        "When using a pack, they can carry about 25 to 30 percent of their body weight for 8 to 13 kilometres.",
        "The name llama was adopted by European settlers from native Peruvians.",
    ];

    public static string Build() => string.Join(' ', Enumerable.Range(0, 12).Select(i => Sentences[i * 5 % Sentences.Length]));
}
