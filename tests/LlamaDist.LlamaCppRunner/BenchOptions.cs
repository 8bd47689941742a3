using System.Globalization;

namespace LlamaDist.LlamaCppRunner;

/// <summary>
/// Options of the <c>bench</c> command, named like llama-bench's:
/// <c>bench --model &lt;gguf&gt; [--threads N] [--prompt-tokens 128] [--gen-tokens 32] [--repetitions 5]</c>.
/// </summary>
internal sealed class BenchOptions
{
    public required string ModelPath { get; init; }
    public int Threads { get; init; } = 2;
    public int PromptTokens { get; init; } = 128;
    public int GenerateTokens { get; init; } = 32;
    public int Repetitions { get; init; } = 5;

    /// <summary>Parses the arguments after "bench"; a bad or missing value throws <see cref="ArgumentException"/>.</summary>
    public static BenchOptions Parse(ReadOnlySpan<string> arguments)
    {
        string? model = null;
        int threads = 2, prompt = 128, generate = 32, repetitions = 5;
        for (var i = 0; i < arguments.Length; i++)
        {
            var name = arguments[i];
            if (i + 1 >= arguments.Length)
            {
                throw new ArgumentException($"Option {name} needs a value.");
            }

            var value = arguments[++i];
            switch (name)
            {
                case "--model": model = value; break;
                case "--threads": threads = ParsePositive(name, value); break;
                case "--prompt-tokens": prompt = ParsePositive(name, value); break;
                case "--gen-tokens": generate = ParsePositive(name, value); break;
                case "--repetitions": repetitions = ParsePositive(name, value); break;
                default: throw new ArgumentException($"Unknown option {name}.");
            }
        }

        if (string.IsNullOrEmpty(model))
        {
            throw new ArgumentException("--model <gguf> is required.");
        }

        return new BenchOptions
        {
            ModelPath = model, Threads = threads, PromptTokens = prompt, GenerateTokens = generate,
            Repetitions = repetitions,
        };
    }

    private static int ParsePositive(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number
            : throw new ArgumentException($"Option {name} needs a positive integer; got '{value}'.");
}
