using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;

namespace LlamaDist.Core.Tests.Model;

/// <summary>
/// Weights are read where the file is mapped: loading and running a model adds its KV cache and small working
/// buffers to the process, never a copy of the weights. Measured on a model whose weights (~67 MB of F32) dwarf
/// its cache and buffers (~1 MB), so a copy of even a quarter of them cannot hide in the slack.
/// </summary>
[Collection(ResidentMemoryCollection.Name)]
public sealed class ResidentMemoryTests
{
    // Room for the runtime's own growth while the test runs (JIT, thread stacks, pools): well under the weights.
    private const long SlackBytes = 12L * 1024 * 1024;

    [Fact]
    public void Running_a_model_adds_its_cache_and_buffers_but_no_copy_of_the_weights()
    {
        using var directory = new TemporaryDirectory();
        string path = new SyntheticLlama(512, 4, 1536, 8, 4, 4096, seed: 3).Write(directory.File("m.gguf"));
        long weightBytes = WeightBytes(path);
        Assert.True(weightBytes > 60L * 1024 * 1024, $"the model is meant to be large: {weightBytes} bytes");

        long managedBefore = ManagedHeapBytes();
        long anonymousBefore = AnonymousResidentBytes();

        using var model = new LoadedModel(path, threadCount: 2);
        LlamaForward forward = model.Whole();
        using LlamaSession session = model.WholeSession(contextSize: 64, maxBatch: 16);
        var logits = new float[model.Config.VocabularySize];
        forward.EvaluateTokens(session, [1, 17, 300, 4000, 29, 5], logits, logitsForAllTokens: false);
        int[] token = [7];
        for (int i = 0; i < 8; i++)
        {
            token[0] = 100 + i;
            forward.EvaluateTokens(session, token, logits, logitsForAllTokens: false);
        }

        // Session buffers are sized by the batch and context, not by the weights: bounded by the cache itself
        // plus rows x (embd, ffn, vocabulary) floats.
        long buffersBound = session.KvCacheBytes + 16L * (512 * 4 + 1536 * 2 + 4096) * sizeof(float) * 4;
        long managedGrowth = ManagedHeapBytes() - managedBefore;
        Assert.True(managedGrowth < buffersBound + SlackBytes,
            $"managed heap grew by {managedGrowth} bytes for {weightBytes} bytes of weights (bound {buffersBound + SlackBytes})");
        if (OperatingSystem.IsLinux())
        {
            long anonymousGrowth = AnonymousResidentBytes() - anonymousBefore;
            Assert.True(anonymousGrowth < buffersBound + SlackBytes,
                $"anonymous resident memory grew by {anonymousGrowth} bytes for {weightBytes} bytes of weights (bound {buffersBound + SlackBytes})");
        }
        GC.KeepAlive(model);
    }

    private static long WeightBytes(string path)
    {
        using GgufFile file = GgufFile.Open(path);
        return file.Tensors.Sum(tensor => tensor.ByteSize);
    }

    private static long ManagedHeapBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>RssAnon of /proc/self/status: resident pages not backed by a file (heaps, stacks, copies).</summary>
    private static long AnonymousResidentBytes()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
            {
                string kilobytes = line["RssAnon:".Length..].Trim().Split(' ')[0];
                return long.Parse(kilobytes, System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException("/proc/self/status has no RssAnon line.");
    }
}

/// <summary>Process-wide memory figures are only meaningful while no other test runs beside them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ResidentMemoryCollection
{
    public const string Name = "resident memory";
}
