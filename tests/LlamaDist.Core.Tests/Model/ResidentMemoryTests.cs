using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;

namespace LlamaDist.Core.Tests.Model;

/// <summary>
/// The weights are in memory once: mapped, loading and running a model adds its KV cache and small working
/// buffers to the process and never a copy of the weights; resident, the process holds exactly one private copy
/// of the streamed matrices and does not also map their file pages. Measured on a model whose weights (~67 MB of
/// F32) dwarf its cache and buffers (~1 MB), so a copy of even a quarter of them cannot hide in the slack.
/// </summary>
[Collection(ResidentMemoryCollection.Name)]
public sealed class ResidentMemoryTests
{
    // Room for the runtime's own growth while the test runs (JIT, thread stacks, pools): well under the weights.
    private const long SlackBytes = 12L * 1024 * 1024;

    [Fact]
    public void Running_a_mapped_model_adds_its_cache_and_buffers_but_no_copy_of_the_weights()
    {
        using var directory = new TemporaryDirectory();
        string path = WriteLargeModel(directory, out long weightBytes);

        long managedBefore = ManagedHeapBytes();
        long anonymousBefore = ResidentBytes("RssAnon:");

        using var model = new LoadedModel(path, threadCount: 2);
        long buffersBound = Run(model, WeightMemory.Mapped);

        long managedGrowth = ManagedHeapBytes() - managedBefore;
        Assert.True(managedGrowth < buffersBound + SlackBytes,
            $"managed heap grew by {managedGrowth} bytes for {weightBytes} bytes of weights (bound {buffersBound + SlackBytes})");
        if (OperatingSystem.IsLinux())
        {
            long anonymousGrowth = ResidentBytes("RssAnon:") - anonymousBefore;
            Assert.True(anonymousGrowth < buffersBound + SlackBytes,
                $"anonymous resident memory grew by {anonymousGrowth} bytes for {weightBytes} bytes of weights (bound {buffersBound + SlackBytes})");
        }
        GC.KeepAlive(model);
    }

    [SkippableFact]
    public void Running_a_resident_model_holds_one_private_copy_of_the_streamed_matrices_and_maps_none_of_them()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "The figures come from /proc/self/status, which only Linux has.");
        using var directory = new TemporaryDirectory();
        string path = WriteLargeModel(directory, out long weightBytes);

        long managedBefore = ManagedHeapBytes();
        long anonymousBefore = ResidentBytes("RssAnon:");
        long fileBefore = ResidentBytes("RssFile:");

        using var model = new LoadedModel(path, threadCount: 2);
        long buffersBound = Run(model, WeightMemory.Resident);
        long copied = model.File.ResidentTensorBytes;

        // Everything but the token embedding (one row read per token) and the two norm vectors is copied.
        GgufTensorInfo embedding = model.File.GetTensor(LlamaTensorNames.TokenEmbedding);
        Assert.InRange(copied, weightBytes - embedding.ByteSize - 64 * 1024, weightBytes - embedding.ByteSize + 64 * 1024);
        long managedGrowth = ManagedHeapBytes() - managedBefore;
        Assert.True(managedGrowth < buffersBound + SlackBytes,
            $"managed heap grew by {managedGrowth} bytes: the copy must be native memory");
        // The copy's own pages are in memory (mincore over each copied tensor: exact, whatever else the process
        // frees meanwhile), and the process grew by no more than one copy.
        long copyResident = model.File.Tensors.Where(model.File.IsTensorResident).Sum(tensor => ResidentPageBytes(model.File, tensor));
        Assert.InRange(copyResident, copied - 64 * 1024, copied + 2L * 64 * Environment.SystemPageSize);
        long anonymousGrowth = ResidentBytes("RssAnon:") - anonymousBefore;
        Assert.True(anonymousGrowth < copied + buffersBound + SlackBytes,
            $"anonymous resident memory grew by {anonymousGrowth} bytes for one copy of {copied} (bound {copied + buffersBound + SlackBytes})");
        // The copy is read with file reads, so the matrices' pages are not mapped into the process as well; only
        // the embedding rows used and the header are.
        long fileGrowth = ResidentBytes("RssFile:") - fileBefore;
        Assert.True(fileGrowth < embedding.ByteSize + SlackBytes,
            $"file-backed resident memory grew by {fileGrowth} bytes; the copied matrices ({copied} bytes) must not be mapped too");
        GC.KeepAlive(model);
    }

    private static string WriteLargeModel(TemporaryDirectory directory, out long weightBytes)
    {
        string path = new SyntheticLlama(512, 4, 1536, 8, 4, 4096, seed: 3).Write(directory.File("m.gguf"));
        using GgufFile file = GgufFile.Open(path);
        weightBytes = file.Tensors.Sum(tensor => tensor.ByteSize);
        Assert.True(weightBytes > 60L * 1024 * 1024, $"the model is meant to be large: {weightBytes} bytes");
        return path;
    }

    /// <summary>
    /// Loads the whole model with <paramref name="memory"/>, runs a prompt and 8 decode steps, and returns the bound
    /// on the session's own buffers: the KV cache plus rows x (embd, ffn, vocabulary) floats, sized by the batch
    /// and context, not by the weights.
    /// </summary>
    private static long Run(LoadedModel model, WeightMemory memory)
    {
        LlamaForward forward = model.Whole(memory);
        using LlamaSession session = model.WholeSession(contextSize: 64, maxBatch: 16);
        var logits = new float[model.Config.VocabularySize];
        forward.EvaluateTokens(session, [1, 17, 300, 4000, 29, 5], logits, logitsForAllTokens: false);
        int[] token = [7];
        for (int i = 0; i < 8; i++)
        {
            token[0] = 100 + i;
            forward.EvaluateTokens(session, token, logits, logitsForAllTokens: false);
        }
        return session.KvCacheBytes + 16L * (512 * 4 + 1536 * 2 + 4096) * sizeof(float) * 4;
    }

    /// <summary>
    /// The managed heap after a full collection that also gives freed memory back to the system at once
    /// (Aggressive): otherwise the heap of the tests that ran before shrinks while this one measures, and the
    /// resident figures move by tens of megabytes that have nothing to do with the model.
    /// </summary>
    private static long ManagedHeapBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>
    /// Bytes of the pages holding <paramref name="tensor"/>'s copy that are in memory (mincore(2), whole pages).
    /// <para>Why not the process's RssAnon growth: other memory of the process (allocator arenas of earlier tests
    /// trimmed back to the system) can leave while this runs; once the growth read 41.8 MB for a 58 MB copy.</para>
    /// </summary>
    private static unsafe long ResidentPageBytes(GgufFile file, GgufTensorInfo tensor)
    {
        long page = Environment.SystemPageSize;
        long start = (long)file.GetTensorPointer(tensor) / page * page;
        long end = ((long)file.GetTensorPointer(tensor) + tensor.ByteSize + page - 1) / page * page;
        var pages = new byte[(end - start) / page];
        fixed (byte* vector = pages)
        {
            Assert.Equal(0, PageResidency((void*)start, (nuint)(end - start), vector));
        }
        return pages.Count(flags => (flags & 1) != 0) * page;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mincore", SetLastError = true)]
    private static extern unsafe int PageResidency(void* start, nuint length, byte* vector);

    /// <summary>
    /// A resident-set line of /proc/self/status in bytes: RssAnon (pages not backed by a file: heaps, stacks,
    /// copies) or RssFile (mapped file pages). 0 off Linux.
    /// </summary>
    private static long ResidentBytes(string field)
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                string kilobytes = line[field.Length..].Trim().Split(' ')[0];
                return long.Parse(kilobytes, System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException($"/proc/self/status has no {field} line.");
    }
}

/// <summary>Process-wide memory figures are only meaningful while no other test runs beside them.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ResidentMemoryCollection
{
    public const string Name = "resident memory";
}
