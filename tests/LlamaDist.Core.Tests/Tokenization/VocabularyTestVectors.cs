using System.Collections.Concurrent;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Tokenization;

namespace LlamaDist.Core.Tests.Tokenization;

/// <summary>
/// llama.cpp's tokenizer test vectors for any vocabulary in Data/tokenizer (ggml-vocab-NAME.gguf with its .inp/.out,
/// the format of <see cref="LlamaSpmVocabularyFixture"/>), loaded once per vocabulary.
/// </summary>
internal static class VocabularyTestVectors
{
    private static readonly ConcurrentDictionary<string, Lazy<ITokenizer>> Tokenizers = new();
    private static readonly ConcurrentDictionary<string, Lazy<(string Input, int[] Expected)[]>> Vectors = new();

    public static string PathOf(string name) =>
        Path.Combine(AppContext.BaseDirectory, "Data", "tokenizer", $"ggml-vocab-{name}.gguf");

    public static ITokenizer Tokenizer(string name) => Tokenizers.GetOrAdd(name, key => new Lazy<ITokenizer>(() =>
    {
        using GgufFile file = GgufFile.Open(PathOf(key));
        return TokenizerFactory.FromGguf(file);
    })).Value;

    public static (string Input, int[] Expected)[] Cases(string name) =>
        Vectors.GetOrAdd(name, key => new Lazy<(string, int[])[]>(() => Load(PathOf(key)))).Value;

    private static (string Input, int[] Expected)[] Load(string vocabularyPath)
    {
        const string separator = "\n__ggml_vocab_test__\n";
        string inputText = File.ReadAllText(vocabularyPath + ".inp");
        if (!inputText.EndsWith(separator, StringComparison.Ordinal))
        {
            throw new InvalidDataException("The .inp file should end with a separator after its last input.");
        }

        string[] inputs = inputText[..^separator.Length].Split(separator);
        string[] lines = File.ReadAllText(vocabularyPath + ".out").TrimEnd('\n').Split('\n');
        if (inputs.Length != lines.Length)
        {
            throw new InvalidDataException($"{inputs.Length} inputs but {lines.Length} expected-output lines.");
        }

        return inputs
            .Select((input, index) => (input, lines[index]
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(int.Parse)
                .ToArray()))
            .ToArray();
    }
}
