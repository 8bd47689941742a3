using System.Collections.Concurrent;
using Google.Protobuf;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.TestModels;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Weights;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// Tiny synthetic models (2 layers, 64 wide, the bundled model's 32000-token vocabulary) in F32 and Q8_0,
/// written once for every worker test, and what the tests derive from them: range hashes, LoadRange requests,
/// weight chunks and reference results computed locally with <see cref="LlamaForward"/>.
/// </summary>
public sealed class WorkerModels : IDisposable
{
    private readonly ConcurrentDictionary<(string, LayerRange), string> hashes = new();
    private readonly ConcurrentDictionary<(string, string, int), int[]> greedy = new();

    public WorkerModels()
    {
        Directory = Path.Combine(Path.GetTempPath(), $"llamadist-wmodels-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(Directory);
        var vocabulary = Path.Combine(AppContext.BaseDirectory, "Models", "llama-2-tiny-random.gguf");
        F32Path = Path.Combine(Directory, "tiny-f32.gguf");
        Q8Path = Path.Combine(Directory, "tiny-q8_0.gguf");
        TestModelWriter.Write(F32Path, TestModelPreset.Tiny, GgmlType.F32, seed: 11, vocabulary, null, CancellationToken.None);
        TestModelWriter.Write(Q8Path, TestModelPreset.Tiny, GgmlType.Q8_0, seed: 11, vocabulary, null, CancellationToken.None);
        using var file = GgufFile.Open(F32Path);
        Config = LlamaConfig.FromGguf(file);
    }

    public string Directory { get; }

    public string F32Path { get; }

    public string Q8Path { get; }

    /// <summary>Both files have this shape.</summary>
    public LlamaConfig Config { get; }

    public int LayerCount => Config.LayerCount;

    public LayerRange Whole => LayerRange.All(LayerCount);

    public LayerRange FirstHalf => new(0, LayerCount / 2);

    public LayerRange SecondHalf => new(LayerCount / 2, LayerCount);

    public string Hash(string path, LayerRange range) => hashes.GetOrAdd((path, range), key =>
    {
        using var file = GgufFile.Open(key.Item1);
        return RangeHasher.Hash(file, RangeTensors.Select(file, Config, key.Item2));
    });

    /// <summary>The range hash of a worker's cache file, recomputed here (it holds only the range's tensors).</summary>
    public string HashOfCachedFile(string path, LayerRange range)
    {
        using var file = GgufFile.Open(path);
        var tensors = RangeTensors.Select(file, Config, range);
        Assert.Equal(file.Tensors.Count, tensors.Count);
        return RangeHasher.Hash(file, tensors);
    }

    public (long Bytes, int Count) Size(string path, LayerRange range)
    {
        using var file = GgufFile.Open(path);
        var tensors = RangeTensors.Select(file, Config, range);
        return (RangeTensors.ByteCount(tensors), tensors.Count);
    }

    /// <summary>LoadRange for <paramref name="range"/> of <paramref name="path"/>, naming the file and offering no stream.</summary>
    public LoadRangeRequest LoadRequest(string path, LayerRange range) => new()
    {
        Model = new ModelIdentity { FileName = Path.GetFileName(path), RangeHash = Hash(path, range) },
        Layers = ProtocolMapping.ToMessage(range, LayerCount),
        Config = ProtocolMapping.ToMessage(Config),
        WorkerPath = path,
    };

    /// <summary>LoadRange that gives the worker no path and offers to stream the range instead.</summary>
    public LoadRangeRequest StreamRequest(string path, LayerRange range)
    {
        var request = LoadRequest(path, range);
        request.WorkerPath = "";
        var (bytes, count) = Size(path, range);
        request.Stream = new WeightStreamSource { TotalBytes = (ulong)bytes, TensorCount = (uint)count };
        return request;
    }

    /// <summary>The range's tensors as a coordinator streams them, in chunks of <paramref name="chunkBytes"/>.</summary>
    public List<WeightChunk> Chunks(string path, LayerRange range, int chunkBytes = 256 << 10)
    {
        var hash = Hash(path, range);
        using var file = GgufFile.Open(path);
        var chunks = new List<WeightChunk>();
        foreach (var tensor in RangeTensors.Select(file, Config, range))
        {
            var data = file.GetTensorBytes(tensor);
            for (int offset = 0; offset < data.Length; offset += chunkBytes)
            {
                var chunk = new WeightChunk
                {
                    RangeHash = hash,
                    TensorName = tensor.Name,
                    Offset = (ulong)offset,
                    Data = ByteString.CopyFrom(data.Slice(offset, Math.Min(chunkBytes, data.Length - offset))),
                };
                if (offset == 0)
                {
                    chunk.Tensor = new TensorDescriptor { GgmlType = (uint)tensor.Type, ByteSize = (ulong)tensor.ByteSize };
                    chunk.Tensor.Dimensions.AddRange(tensor.Dimensions.Select(d => (ulong)d));
                }
                chunks.Add(chunk);
            }
        }
        return chunks;
    }

    /// <summary>
    /// The whole model evaluated locally, one thread like the workers: each step's logits
    /// ([tokens, vocab] when <paramref name="allTokens"/> is set for it, else the last row).
    /// </summary>
    public List<float[]> LocalLogits(string path, IReadOnlyList<int[]> steps, Func<int, bool>? allTokens = null)
    {
        using var file = GgufFile.Open(path);
        using var threads = new ComputeThreads(1);
        var forward = new LlamaForward(Config, LlamaWeights.Load(file, Config, Whole), threads);
        using var session = new LlamaSession(Config, Whole, 64, 16);
        var results = new List<float[]>();
        for (int i = 0; i < steps.Count; i++)
        {
            bool all = allTokens?.Invoke(i) ?? false;
            var logits = new float[(all ? steps[i].Length : 1) * Config.VocabularySize];
            forward.EvaluateTokens(session, steps[i], logits, all);
            results.Add(logits);
        }
        return results;
    }

    /// <summary>Greedy decoding from <paramref name="prompt"/> locally: the <paramref name="count"/> tokens chosen.</summary>
    public int[] LocalGreedy(string path, int[] prompt, int count) =>
        greedy.GetOrAdd((path, string.Join(",", prompt), count), _ => ComputeGreedy(path, prompt, count));

    private int[] ComputeGreedy(string path, int[] prompt, int count)
    {
        using var file = GgufFile.Open(path);
        using var threads = new ComputeThreads(1);
        var forward = new LlamaForward(Config, LlamaWeights.Load(file, Config, Whole), threads);
        using var session = new LlamaSession(Config, Whole, 64, 16);
        var logits = new float[Config.VocabularySize];
        var chosen = new int[count];
        forward.EvaluateTokens(session, prompt, logits, false);
        for (int i = 0; i < count; i++)
        {
            chosen[i] = VectorMath.ArgMax(logits);
            if (i + 1 < count)
            {
                forward.EvaluateTokens(session, [chosen[i]], logits, false);
            }
        }
        return chosen;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// Every worker test shares the models and runs one at a time: the workers' timers and compute threads then
/// never compete with another test's on a small machine.
/// </summary>
[CollectionDefinition(Name)]
public sealed class WorkerCollection : ICollectionFixture<WorkerModels>
{
    public const string Name = "Worker";
}
