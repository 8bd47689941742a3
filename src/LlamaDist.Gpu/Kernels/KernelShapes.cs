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
