using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Tests.Model;

/// <summary>A GGUF opened with one forward pass per layer range, disposed together.</summary>
internal sealed class LoadedModel : IDisposable
{
    public LoadedModel(string path, int threadCount = 1)
    {
        File = GgufFile.Open(path);
        Config = LlamaConfig.FromGguf(File);
        Threads = new ComputeThreads(threadCount);
    }

    public GgufFile File { get; }

    public LlamaConfig Config { get; }

    public ComputeThreads Threads { get; }

    public LlamaForward Forward(LayerRange range, WeightMemory memory = WeightMemory.Auto) =>
        new(Config, LlamaWeights.Load(File, Config, range, memory), Threads);

    public LlamaForward Whole(WeightMemory memory = WeightMemory.Auto) => Forward(LayerRange.All(Config.LayerCount), memory);

    public LlamaSession Session(LayerRange range, int contextSize = 32, int maxBatch = 32) =>
        new(Config, range, contextSize, maxBatch);

    public LlamaSession WholeSession(int contextSize = 32, int maxBatch = 32) =>
        Session(LayerRange.All(Config.LayerCount), contextSize, maxBatch);

    /// <summary>Logits [tokens, vocab] of a fresh whole-model session evaluating all tokens in one batch.</summary>
    public float[] AllLogits(int[] tokens, int maxBatch = 32)
    {
        using LlamaSession session = WholeSession(contextSize: 32, maxBatch);
        var logits = new float[tokens.Length * Config.VocabularySize];
        Whole().EvaluateTokens(session, tokens, logits, logitsForAllTokens: true);
        return logits;
    }

    public void Dispose()
    {
        Threads.Dispose();
        File.Dispose();
    }
}
