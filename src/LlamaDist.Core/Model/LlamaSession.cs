namespace LlamaDist.Core.Model;

/// <summary>
/// The state of one sequence on one <see cref="LayerRange"/>: the F16 KV cache of each layer in the range, the
/// activation buffers of a micro-batch, plus <see cref="Position"/>, the number of tokens already evaluated (the
/// position the next token gets).
/// <para>The cache is allocated here once. The activation buffers grow to the largest pass evaluated so far
/// (powers of two, at most <see cref="MicroBatch"/> rows): a session opened for 512-token batches that only
/// decodes holds one-row buffers, not the ~44 MB a 512-row pass of a 1B model needs, and a prompt allocates at
/// most log2(512) + 1 times.</para>
/// </summary>
public sealed class LlamaSession : Backends.IForwardSession
{
    /// <summary>
    /// Largest micro-batch the activation buffers are sized for, llama.cpp's default n_ubatch: longer inputs are
    /// evaluated in passes of this many tokens with identical results (every token's computation is independent
    /// of how the batch is cut), and a session created with a huge maxBatch does not reserve hundreds of MB.
    /// </summary>
    public const int MaxMicroBatch = 512;

    private KvCache? _cache;
    private SessionBuffers? _buffers;
    private AttentionScratch? _attention;

    /// <param name="config">The model's hyper-parameters.</param>
    /// <param name="range">The layers this session caches; must match the <see cref="LlamaForward"/> it is used with.</param>
    /// <param name="contextSize">Positions the KV cache holds; evaluating past it throws.</param>
    /// <param name="maxBatch">Tokens evaluated per pass (capped at <see cref="MaxMicroBatch"/> and contextSize).</param>
    public LlamaSession(LlamaConfig config, LayerRange range, int contextSize, int maxBatch)
    {
        ArgumentNullException.ThrowIfNull(config);
        range.EnsureWithin(config.LayerCount, nameof(range));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(contextSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBatch);
        Config = config;
        Range = range;
        ContextSize = contextSize;
        MaxBatch = maxBatch;
        MicroBatch = Math.Min(Math.Min(maxBatch, contextSize), MaxMicroBatch);
        _cache = new KvCache(range.Count, contextSize, config.KvWidth);
        _attention = new AttentionScratch(config, contextSize);
    }

    public LlamaConfig Config { get; }

    /// <summary>The layers whose keys and values this session holds.</summary>
    public LayerRange Range { get; }

    /// <summary>Positions the cache holds.</summary>
    public int ContextSize { get; }

    /// <summary>The batch size requested at construction.</summary>
    public int MaxBatch { get; }

    /// <summary>Tokens per forward pass: min(MaxBatch, ContextSize, <see cref="MaxMicroBatch"/>).</summary>
    public int MicroBatch { get; }

    /// <summary>Tokens evaluated so far; the next token is evaluated at this position.</summary>
    public int Position { get; private set; }

    /// <summary>Positions still free in the cache.</summary>
    public int RemainingCapacity => ContextSize - Position;

    /// <summary>Bytes held by the KV cache (keys and values, all layers of the range).</summary>
    public long KvCacheBytes => Cache.Bytes;

    /// <summary>True after <see cref="Dispose"/>.</summary>
    public bool IsDisposed => _cache is null;

    /// <summary>Rows the activation buffers hold now (0 before the first pass).</summary>
    internal int BufferRows => _buffers?.Rows ?? 0;

    /// <summary>Forgets every evaluated token: the next evaluation starts at position 0. Buffers are kept.</summary>
    public void Reset()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        Position = 0;
    }

    /// <summary>Releases the cache and buffers (the memory is reclaimed by the GC once nothing references it).</summary>
    public void Dispose()
    {
        _cache = null;
        _buffers = null;
        _attention = null;
    }

    internal KvCache Cache => _cache ?? throw new ObjectDisposedException(nameof(LlamaSession));

    internal AttentionScratch Attention => _attention ?? throw new ObjectDisposedException(nameof(LlamaSession));

    /// <summary>The buffers of the pass in progress (<see cref="BuffersFor"/> made them).</summary>
    internal SessionBuffers Buffers
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return _buffers ?? throw new InvalidOperationException("No pass has sized the session's buffers yet.");
        }
    }

    /// <summary>
    /// The activation buffers for a pass of <paramref name="rows"/> tokens (1 .. <see cref="MicroBatch"/>), grown to
    /// the next power of two when the current ones are smaller.
    /// </summary>
    internal SessionBuffers BuffersFor(int rows)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rows, MicroBatch);
        if (_buffers is null || _buffers.Rows < rows)
        {
            int capacity = Math.Min(MicroBatch, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)rows));
            _buffers = new SessionBuffers(Config, capacity);
        }
        return _buffers;
    }

    /// <summary>Throws unless <paramref name="tokens"/> more positions fit in the cache.</summary>
    internal void EnsureCapacity(int tokens)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if ((long)Position + tokens > ContextSize)
        {
            throw new InvalidOperationException(
                $"The context is full: {Position} tokens are cached and {tokens} more would exceed the session's " +
                $"context of {ContextSize} tokens. Reset the session or create one with a larger context.");
        }
    }

    /// <summary>Records that <paramref name="tokens"/> positions were written to the cache.</summary>
    internal void Advance(int tokens) => Position += tokens;
}
