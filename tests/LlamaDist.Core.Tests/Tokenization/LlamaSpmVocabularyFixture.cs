using LlamaDist.Core.Gguf;
using LlamaDist.Core.Tokenization;

namespace LlamaDist.Core.Tests.Tokenization;

/// <summary>
/// llama.cpp's tokenizer test vectors for the LLaMA SentencePiece vocabulary (models/ggml-vocab-llama-spm.gguf with
/// its .inp/.out, as test-tokenizer-0 uses them). The .inp file is every input followed by "\n__ggml_vocab_test__\n";
/// the .out file has one line per input of space-separated ids, encoded without BOS.
/// </summary>
internal static class LlamaSpmVocabularyFixture
{
    private const string Separator = "\n__ggml_vocab_test__\n";

    private static readonly Lazy<SentencePieceTokenizer> LazyTokenizer = new(() =>
    {
        using GgufFile file = GgufFile.Open(VocabularyPath);
        return (SentencePieceTokenizer)TokenizerFactory.FromGguf(file);
    });

    private static readonly Lazy<(string Input, int[] Expected)[]> LazyVectors = new(LoadVectors);

    public static string VocabularyPath => Path.Combine(AppContext.BaseDirectory, "Data", "tokenizer", "ggml-vocab-llama-spm.gguf");

    public static SentencePieceTokenizer Tokenizer => LazyTokenizer.Value;

    public static (string Input, int[] Expected)[] Vectors => LazyVectors.Value;

    public static string TinyModelPath => Path.Combine(AppContext.BaseDirectory, "Models", "llama-2-tiny-random.gguf");

    private static (string Input, int[] Expected)[] LoadVectors()
    {
        string inputText = File.ReadAllText(VocabularyPath + ".inp");
        if (!inputText.EndsWith(Separator, StringComparison.Ordinal))
        {
            throw new InvalidDataException("The .inp file should end with a separator after its last input.");
        }

        string[] inputs = inputText[..^Separator.Length].Split(Separator);
        string[] lines = File.ReadAllText(VocabularyPath + ".out").TrimEnd('\n').Split('\n');
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
