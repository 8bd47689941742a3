namespace LlamaDist.Core.Tests.Gguf;

/// <summary>The tiny llama model copied into the test output (1.7 MB, GGUF v3, 32000-token SPM vocabulary).</summary>
internal static class RealModel
{
    public static string Path => System.IO.Path.Combine(AppContext.BaseDirectory, "Models", "llama-2-tiny-random.gguf");

    // Layout facts of that file, verified with an independent Python parser.
    public const long EndOfMetadata = 723_709;     // first tensor info starts here
    public const long EndOfTensorInfos = 724_398;  // data section starts at the next multiple of 32
    public const long DataOffset = 724_416;
    public const long FileSize = 1_750_560;
}
