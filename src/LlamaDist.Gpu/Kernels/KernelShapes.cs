namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// y[t, row] = Σ_c W[row, c] · x[t, c] for tokens t in [0, Tokens): W has Rows rows of Columns elements,
/// RowBytes bytes each; x rows start at XOffset (stride Columns); y rows at YOffset with stride YStride.
/// </summary>
internal struct MatMulShape
{
    public int Rows;
    public int Columns;
    public long RowBytes;
    public int Tokens;
    public long XOffset;
    public long YOffset;
    public int YStride;
}

/// <summary>
/// Causal attention of query rows [FirstToken, FirstToken + Tokens) of a micro-batch whose first token sits at
/// session position Position, over the F16 cache of one layer ([ContextSize, KvWidth] keys and values).
/// </summary>
internal struct AttentionShape
{
    public int FirstToken;
    public int Tokens;
    public int Position;
    public int HeadCount;
    public int HeadDimension;
    public int HeadsPerKvHead;
    public int QueryWidth;
    public int KvWidth;
    public int ContextSize;
    public float Scale;
    public float SoftCap;
    public int Window;
    public int RoundOutput;
}

/// <summary>
/// RoPE, query scaling/rounding and the KV-cache store of <see cref="Tokens"/> rows (see ElementKernels.RopeStore):
/// QueryHeads × HeadDimension query columns, KvHeads × HeadDimension = KvWidth key and value columns, Pairs rotated
/// pairs per head, the rows entering the cache at session position Position.
/// </summary>
internal struct RopeStoreShape
{
    public int Tokens;
    public int QueryHeads;
    public int KvHeads;
    public int HeadDimension;
    public int Pairs;
    public int Neox;
    public int KvWidth;
    public int Position;
    public float QueryScale;

    /// <summary>Threads per token: the query's and keys' pairs, their unrotated dimensions, the values.</summary>
    public readonly int ThreadsPerToken =>
        (QueryHeads + KvHeads) * (Pairs + HeadDimension - 2 * Pairs) + KvWidth;
}
