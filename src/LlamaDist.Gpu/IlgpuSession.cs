using ILGPU;
using ILGPU.Runtime;
using LlamaDist.Core.Backends;
using LlamaDist.Core.Model;

namespace LlamaDist.Gpu;

/// <summary>
/// One sequence on a device-resident range: its own stream, the F16 KV cache of every layer ([ContextSize, n_kv]
/// keys and values each) and the activation buffers of a micro-batch, all allocated once here; evaluating a
/// token allocates nothing on the device.
/// </summary>
internal sealed class IlgpuSession : IForwardSession
{
    private readonly List<MemoryBuffer> buffers = [];
    private bool disposed;

    public IlgpuSession(IlgpuRangeForward owner, Accelerator accelerator, LlamaConfig config, int contextSize, int maxBatch)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(contextSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBatch);
        Owner = owner;
        ContextSize = contextSize;
        MicroBatch = Math.Min(Math.Min(maxBatch, contextSize), LlamaSession.MaxMicroBatch);
        int rows = MicroBatch;
        int layers = owner.Range.Count;
        long kvElements = (long)contextSize * config.KvWidth;
        AttentionTokens = Math.Max(1, (int)Math.Min(rows, AttentionScratchElements / ((long)config.HeadCount * contextSize)));
        int widest = Math.Max(Math.Max(config.EmbeddingLength, config.FeedForwardLength), config.QueryWidth);
        long required = SessionBytes(config, owner.Range, contextSize, rows, AttentionTokens);
        owner.Backend.RequireFree(required, $"A session of {contextSize} positions on layers {owner.Range}");

        Stream = accelerator.CreateStream();
        KvCacheBytes = 2L * layers * kvElements * sizeof(ushort);
        Keys = new ArrayView<ushort>[layers];
        Values = new ArrayView<ushort>[layers];
        for (int i = 0; i < layers; i++)
        {
            Keys[i] = Allocate<ushort>(accelerator, kvElements);
            Values[i] = Allocate<ushort>(accelerator, kvElements);
        }
        Residual = Allocate<float>(accelerator, (long)rows * config.EmbeddingLength);
        Normalized = Allocate<float>(accelerator, (long)rows * config.EmbeddingLength);
        Projection = Allocate<float>(accelerator, (long)rows * config.EmbeddingLength);
        Query = Allocate<float>(accelerator, (long)rows * config.QueryWidth);
        Key = Allocate<float>(accelerator, (long)rows * config.KvWidth);
        Value = Allocate<float>(accelerator, (long)rows * config.KvWidth);
        AttentionOutput = Allocate<float>(accelerator, (long)rows * config.QueryWidth);
        Gate = Allocate<float>(accelerator, (long)rows * config.FeedForwardLength);
        Up = Allocate<float>(accelerator, (long)rows * config.FeedForwardLength);
        Rounded = Allocate<float>(accelerator, (long)rows * widest);
        Fused = Allocate<float>(accelerator, (long)rows * Math.Max(config.QueryWidth + 2 * config.KvWidth, 2 * config.FeedForwardLength));
        Scores = Allocate<float>(accelerator, (long)AttentionTokens * config.HeadCount * contextSize);
        int pairs = config.RopeDimensionCount / 2;
        Cosines = Allocate<float>(accelerator, (long)rows * pairs);
        Sines = Allocate<float>(accelerator, (long)rows * pairs);
        Tokens = Allocate<int>(accelerator, rows);
        Logits = owner.Range.IncludesOutput(config.LayerCount) ? Allocate<float>(accelerator, (long)rows * config.VocabularySize) : default;
        Greedy = Allocate<int>(accelerator, 1);
        if (owner.Range.IncludesOutput(config.LayerCount))
        {
            // Room for every logit (a row of ties) and the extra ids, so a selection always fits.
            CandidateIds = Allocate<int>(accelerator, config.VocabularySize + IlgpuRangeForward.MaxExtraCandidates);
            CandidateLogits = Allocate<float>(accelerator, config.VocabularySize + IlgpuRangeForward.MaxExtraCandidates);
            ExtraIds = Allocate<int>(accelerator, IlgpuRangeForward.MaxExtraCandidates);
        }
        HostCosines = new float[rows * pairs];
        HostSines = new float[rows * pairs];
    }

    /// <summary>Scores scratch bound: attention runs in launches of at most this many (token, head, position) scores.</summary>
    internal const long AttentionScratchElements = 32L << 20;

    /// <summary>Device bytes a session needs (KV cache, activations, scores), for the free-memory check and the planner.</summary>
    public static long SessionBytes(LlamaConfig config, LayerRange range, int contextSize, int rows, int attentionTokens)
    {
        long kv = 2L * range.Count * contextSize * config.KvWidth * sizeof(ushort);
        int widest = Math.Max(Math.Max(config.EmbeddingLength, config.FeedForwardLength), config.QueryWidth);
        long activations = 4L * rows * (3L * config.EmbeddingLength + 2L * config.QueryWidth + 2L * config.KvWidth
            + 2L * config.FeedForwardLength + widest + Math.Max(config.QueryWidth + 2 * config.KvWidth, 2 * config.FeedForwardLength)
            + config.RopeDimensionCount + (range.IncludesOutput(config.LayerCount) ? config.VocabularySize : 0));
        // The sampler's candidates: ids and logits for the vocabulary plus the extra ids, and the extra ids.
        long candidates = range.IncludesOutput(config.LayerCount) ? 4L * (2L * config.VocabularySize + 3L * IlgpuRangeForward.MaxExtraCandidates) : 0;
        long scores = 4L * attentionTokens * config.HeadCount * contextSize;
        return kv + activations + scores + candidates;
    }

    public IlgpuRangeForward Owner { get; }

    public AcceleratorStream Stream { get; }

    public int ContextSize { get; }

    public int MicroBatch { get; }

    /// <summary>Tokens per attention launch (the scores scratch holds this many tokens' rows).</summary>
    public int AttentionTokens { get; }

    public int Position { get; private set; }

    public int RemainingCapacity => ContextSize - Position;

    public long KvCacheBytes { get; }

    public bool IsDisposed => disposed;

    public ArrayView<ushort>[] Keys { get; }
    public ArrayView<ushort>[] Values { get; }
    public ArrayView<float> Residual { get; }
    public ArrayView<float> Normalized { get; }
    public ArrayView<float> Projection { get; }
    public ArrayView<float> Query { get; }
    public ArrayView<float> Key { get; }
    public ArrayView<float> Value { get; }
    public ArrayView<float> AttentionOutput { get; }
    public ArrayView<float> Gate { get; }
    public ArrayView<float> Up { get; }
    public ArrayView<float> Rounded { get; }
    public ArrayView<float> Fused { get; }
    public ArrayView<float> Scores { get; }
    public ArrayView<float> Cosines { get; }
    public ArrayView<float> Sines { get; }
    public ArrayView<int> Tokens { get; }
    public ArrayView<float> Logits { get; }
    public ArrayView<int> Greedy { get; }
    public ArrayView<int> CandidateIds { get; }
    public ArrayView<float> CandidateLogits { get; }
    public ArrayView<int> ExtraIds { get; }
    public float[] HostCosines { get; }
    public float[] HostSines { get; }

    public void Reset()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Position = 0;
    }

    internal void EnsureCapacity(int tokens)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if ((long)Position + tokens > ContextSize)
        {
            throw new InvalidOperationException(
                $"The context is full: {Position} tokens are cached and {tokens} more would exceed the session's " +
                $"context of {ContextSize} tokens. Reset the session or create one with a larger context.");
        }
    }

    internal void Advance(int tokens) => Position += tokens;

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        Stream.Synchronize();
        foreach (var buffer in buffers)
        {
            buffer.Dispose();
        }
        buffers.Clear();
        Stream.Dispose();
    }

    private ArrayView<T> Allocate<T>(Accelerator accelerator, long length)
        where T : unmanaged
    {
        var buffer = accelerator.Allocate1D<T>(Math.Max(1, length));
        buffers.Add(buffer);
        return buffer.View;
    }
}
