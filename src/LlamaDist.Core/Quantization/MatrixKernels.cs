using System.Runtime.InteropServices;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Matrix x activation products for the forward pass. Activations are converted once per call to the weight
/// type's partner (<see cref="Quantizer.ActivationType"/>), exactly as llama.cpp's CPU backend converts src1
/// before ggml_mul_mat, then weight rows are split across <see cref="ComputeThreads"/>. Each output element is
/// one row dot at <see cref="Quantizer.DefaultLevel"/>; on AVX2 those dots are bit-identical to ggml's x86 ones
/// (Q4_0 / Q8_0 run through <see cref="Q8TileKernels"/> and Q3_K / Q4_K / Q5_K / Q6_K through <see cref="KQuantTileKernels"/>,
/// which compute the same values two weight rows or four tokens at a time). The exceptions are Q4_0 batches on
/// AVX2 and regrouped matrices (<see cref="WeightLayout.Q4_0RowGroups"/>, <see cref="WeightLayout.Q4_KRowGroups"/>):
/// <see cref="Q4_0RowGroups"/> / <see cref="Q4_KRowGroups"/> sum each (sub-)block exactly for eight rows at once,
/// which changes the float rounding (not the products), as llama.cpp's own repacked paths do; and F16 batches on
/// AVX2 / AVX-512, which run <see cref="F16Gemm"/> with llamafile_sgemm's one-accumulator-per-output numerics (what
/// llama.cpp computes for a batch), not the row dot's four accumulators. <see cref="MatMul2"/> /
/// <see cref="MatMul3"/> convert a shared input once for several matrices and run them as one parallel pass. No
/// allocation per call (the converted activations live in a pooled buffer).
/// </summary>
public static unsafe class MatrixKernels
{
    // MatMul tiles: RowTile weight rows (about 70 KB of a 4096-wide Q8_0 matrix) stay in L2 while every token of
    // the batch passes over them in TokenTile groups, so each weight row is read from memory once per batch.
    private const int RowTile = 16;
    private const int TokenTile = 16;
    private const int Q8TokenTile = 64;

    // Most stack bytes a Q4_0 batch pass packs its eight rows into: rows up to 16384 wide (512 blocks, 72 KB)
    // fit; wider ones use native memory.
    private const int MaxStackScratch = 72 * 1024;

    /// <summary>y[r] = dot(row r of <paramref name="weights"/>, x) for x [Columns] and y [Rows].</summary>
    public static void MatVec(ComputeThreads threads, in WeightMatrix weights, ReadOnlySpan<float> x, Span<float> y) =>
        MatMul(threads, weights, x, y, 1);

    /// <summary>
    /// y[t * Rows + r] = dot(row r of <paramref name="weights"/>, row t of x) for x [n, Columns] and
    /// y [n, Rows]. Results do not depend on the thread count or on n (each element is one row dot).
    /// x and y must not overlap; extra elements past n rows are ignored.
    /// </summary>
    public static void MatMul(ComputeThreads threads, in WeightMatrix weights, ReadOnlySpan<float> x, Span<float> y, int n)
    {
        ArgumentNullException.ThrowIfNull(threads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        CheckMatrix(weights, x, y, n, nameof(weights), nameof(y));
        fixed (float* xPointer = x)
        fixed (float* yPointer = y)
        {
            WeightMatrix none = default;
            MatMulCore(threads, xPointer, n, 1, weights, yPointer, none, null, none, null);
        }
    }

    /// <summary>
    /// Two products of the same input (llama's ffn_gate / ffn_up): when both matrices share a type and width the
    /// input is converted once and both run as one parallel pass. Each output equals its own
    /// <see cref="MatMul"/>.
    /// </summary>
    public static void MatMul2(ComputeThreads threads, ReadOnlySpan<float> x, int n,
        in WeightMatrix a, Span<float> ya, in WeightMatrix b, Span<float> yb)
    {
        ArgumentNullException.ThrowIfNull(threads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        CheckMatrix(a, x, ya, n, nameof(a), nameof(ya));
        CheckMatrix(b, x, yb, n, nameof(b), nameof(yb));
        fixed (float* xPointer = x)
        fixed (float* yaPointer = ya)
        fixed (float* ybPointer = yb)
        {
            WeightMatrix none = default;
            if (SharePass(a, b))
            {
                MatMulCore(threads, xPointer, n, 2, a, yaPointer, b, ybPointer, none, null);
            }
            else
            {
                MatMulCore(threads, xPointer, n, 1, a, yaPointer, none, null, none, null);
                MatMulCore(threads, xPointer, n, 1, b, ybPointer, none, null, none, null);
            }
        }
    }

    /// <summary>
    /// Three products of the same input (llama's Q, K, V): matrices of the same type and width share one input
    /// conversion and one parallel pass. Each output equals its own <see cref="MatMul"/>.
    /// </summary>
    public static void MatMul3(ComputeThreads threads, ReadOnlySpan<float> x, int n,
        in WeightMatrix a, Span<float> ya, in WeightMatrix b, Span<float> yb, in WeightMatrix c, Span<float> yc)
    {
        ArgumentNullException.ThrowIfNull(threads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        CheckMatrix(a, x, ya, n, nameof(a), nameof(ya));
        CheckMatrix(b, x, yb, n, nameof(b), nameof(yb));
        CheckMatrix(c, x, yc, n, nameof(c), nameof(yc));
        fixed (float* xPointer = x)
        fixed (float* yaPointer = ya)
        fixed (float* ybPointer = yb)
        fixed (float* ycPointer = yc)
        {
            WeightMatrix none = default;
            bool abSame = SharePass(a, b);
            bool acSame = SharePass(a, c);
            bool bcSame = SharePass(b, c);
            if (abSame && acSame)
            {
                MatMulCore(threads, xPointer, n, 3, a, yaPointer, b, ybPointer, c, ycPointer);
            }
            else if (abSame)
            {
                MatMulCore(threads, xPointer, n, 2, a, yaPointer, b, ybPointer, none, null);
                MatMulCore(threads, xPointer, n, 1, c, ycPointer, none, null, none, null);
            }
            else if (acSame)
            {
                MatMulCore(threads, xPointer, n, 2, a, yaPointer, c, ycPointer, none, null);
                MatMulCore(threads, xPointer, n, 1, b, ybPointer, none, null, none, null);
            }
            else if (bcSame)
            {
                MatMulCore(threads, xPointer, n, 1, a, yaPointer, none, null, none, null);
                MatMulCore(threads, xPointer, n, 2, b, ybPointer, c, ycPointer, none, null);
            }
            else
            {
                MatMulCore(threads, xPointer, n, 1, a, yaPointer, none, null, none, null);
                MatMulCore(threads, xPointer, n, 1, b, ybPointer, none, null, none, null);
                MatMulCore(threads, xPointer, n, 1, c, ycPointer, none, null, none, null);
            }
        }
    }

    /// <summary>Whether two matrices can run in one pass: same type, width and layout (so the same kernel and input).</summary>
    private static bool SharePass(in WeightMatrix a, in WeightMatrix b) =>
        a.Type == b.Type && a.Columns == b.Columns && a.Layout == b.Layout &&
        a.Plan.Decode == b.Plan.Decode && a.Plan.Batch == b.Plan.Batch;

    private static void CheckMatrix(in WeightMatrix weights, ReadOnlySpan<float> x, Span<float> y, int n,
        string weightsName, string yName)
    {
        if (weights.Data == null)
        {
            throw new ArgumentException("The weight matrix is uninitialized (default struct).", weightsName);
        }
        RowArguments.RequireElements(x.Length, checked(n * weights.Columns), nameof(x));
        RowArguments.RequireElements(y.Length, checked(n * weights.Rows), yName);
    }

    /// <summary>
    /// 1 to 3 matrices of one type, width and layout (the first <paramref name="count"/> of a, b, c) times the same
    /// input: one conversion of x, then one parallel pass over all their rows.
    /// </summary>
    private static void MatMulCore(ComputeThreads threads, float* x, int n, int count,
        in WeightMatrix a, float* ya, in WeightMatrix b, float* yb, in WeightMatrix c, float* yc)
    {
        GgmlType type = a.Type;
        int columns = a.Columns;
        RowKernel plan = RowKernel.For(type, columns); // NotSupportedException for other types
        if (!RowGroupLayouts.IsSupported(a.Layout))
        {
            throw new NotSupportedException($"{a.Layout} matrices need AVX2 and FMA, which this CPU lacks.");
        }
        MatrixPassKind kind = a.Plan.For(n); // chosen when the matrix was made (MatrixPlan)
        // The int8 tile passes take activations in Q8TileKernels' extended layout (with the block correction for
        // the passes that sum unsigned nibbles or offset weights).
        bool tiles = kind is MatrixPassKind.Q8Tiles or MatrixPassKind.Q4_0Groups or MatrixPassKind.Q8_0Gemm
            or MatrixPassKind.Q8_0Groups;
        bool corrected = type == GgmlType.Q4_0 || kind is MatrixPassKind.Q8_0Gemm or MatrixPassKind.Q8_0Groups;
        int activationRowBytes = tiles ? Q8TileKernels.ExtRowBytes(columns) : plan.ActivationRowBytes;
        bool converts = tiles || plan.ConvertsActivations;

        byte[]? scratch = converts ? ActivationScratch.Get(checked(n * activationRowBytes + 64)) : null;
        fixed (byte* scratchPointer = scratch)
        {
            byte* activations = (byte*)x;
            if (converts)
            {
                activations = (byte*)(((nuint)scratchPointer + 63) & ~(nuint)63);
                var convert = new ConvertWork(type, x, columns, activations, activationRowBytes, tiles, corrected,
                    kind is MatrixPassKind.HalfRowPairs or MatrixPassKind.HalfRowPairs512);
                if (n == 1)
                {
                    convert.Execute(0, 1);
                }
                else
                {
                    threads.For(n, convert);
                }
            }

            var work = new FusedWork
            {
                Kind = kind,
                Type = type,
                Kernel = plan.Dot,
                Columns = columns,
                Activations = activations,
                ActivationRowBytes = activationRowBytes,
                Tokens = n,
                RowsPerIndex = 1,
                Weights0 = a.Data, RowBytes0 = a.RowBytes, Rows0 = a.Rows, Output0 = ya,
            };
            int total = a.Rows;
            if (count > 1)
            {
                work.Weights1 = b.Data; work.RowBytes1 = b.RowBytes; work.Rows1 = b.Rows; work.Output1 = yb;
                total += b.Rows;
            }
            if (count > 2)
            {
                work.Weights2 = c.Data; work.RowBytes2 = c.RowBytes; work.Rows2 = c.Rows; work.Output2 = yc;
                total += c.Rows;
            }
            // Threads take whole groups of rows: a row group is one kernel call in the regrouped layout, and an
            // even number of rows per range leaves the two-row decode kernels no odd row to run alone.
            if (kind is MatrixPassKind.Q4_0Groups or MatrixPassKind.Q4_KGroups or MatrixPassKind.Q8_0Groups)
            {
                work.RowsPerIndex = RowGroupVectors.RowGroup;
            }
            else if (kind == MatrixPassKind.Q8_0Gemm && ((a.Rows | work.Rows1 | work.Rows2) % Q8_0Gemm.RowGroup) == 0)
            {
                work.RowsPerIndex = Q8_0Gemm.RowGroup;
            }
            else if (kind == MatrixPassKind.HalfGemm && ((a.Rows | work.Rows1 | work.Rows2) % F16Gemm.RowBlock) == 0)
            {
                work.RowsPerIndex = F16Gemm.RowBlock;
            }
            else if (kind is MatrixPassKind.Q8Tiles or MatrixPassKind.KQuantTiles or MatrixPassKind.LegacyTiles && n == 1 &&
                ((a.Rows | work.Rows1 | work.Rows2) & 1) == 0)
            {
                work.RowsPerIndex = 2;
            }
            threads.For(total / work.RowsPerIndex, work);
        }
    }

    /// <summary>Embedding lookup: dequantizes row <paramref name="row"/> into the first Columns floats of dst.</summary>
    public static void GetRow(in WeightMatrix weights, int row, Span<float> destination)
    {
        if (weights.Data == null)
        {
            throw new ArgumentException("The weight matrix is uninitialized (default struct).", nameof(weights));
        }
        RowArguments.RequireElements(destination.Length, weights.Columns, nameof(destination));
        Quantizer.DequantizeRow(weights.Type, weights.Row(row), destination[..weights.Columns]);
    }

    /// <summary>
    /// How one weight type is multiplied: the row dot kernel and the layout of the converted activation rows.
    /// F16 activations are kept as half-rounded floats: the values an F16 x F16 dot sees, converted once.
    /// </summary>
    private readonly struct RowKernel
    {
        public delegate*<byte*, byte*, int, float> Dot { get; private init; }
        public int ActivationRowBytes { get; private init; }
        public bool ConvertsActivations { get; private init; }

        public static RowKernel For(GgmlType weightType, int columns)
        {
            WeightTypeTraits traits = WeightTypeTraits.TryGetWeightType(weightType) ?? throw Quantizer.Unsupported(weightType);
            GgmlType activationType = traits.ActivationType!.Value;
            return weightType switch
            {
                GgmlType.F32 => new RowKernel
                {
                    Dot = traits.DefaultDotKernel,
                    ActivationRowBytes = columns * sizeof(float),
                    ConvertsActivations = false,
                },
                GgmlType.F16 => new RowKernel
                {
                    Dot = F16Format.RoundedSingleDotKernel(traits.DefaultLevel),
                    ActivationRowBytes = columns * sizeof(float),
                    ConvertsActivations = true,
                },
                _ => new RowKernel
                {
                    Dot = traits.DefaultDotKernel,
                    ActivationRowBytes = checked((int)GgmlTypeInfo.RowBytes(activationType, columns)),
                    ConvertsActivations = true,
                },
            };
        }
    }

    /// <summary>Converts token rows [start, end) of the float activations to the kernel's activation layout.</summary>
    private readonly struct ConvertWork(GgmlType weightType, float* source, int columns, byte* destination,
        int destinationRowBytes, bool tiles, bool corrected, bool scaledHalves) : IRangeWork
    {
        public void Execute(int start, int end)
        {
            for (int t = start; t < end; t++)
            {
                float* sourceRow = source + (long)t * columns;
                byte* destinationRow = destination + (long)t * destinationRowBytes;
                if (tiles)
                {
                    Q8TileKernels.QuantizeRow(sourceRow, destinationRow, columns, corrected);
                }
                else if (scaledHalves)
                {
                    F16Format.RoundAndScaleActivationRow(sourceRow, (float*)destinationRow, columns);
                }
                else if (weightType == GgmlType.F16)
                {
                    F16Format.RoundActivationRow(sourceRow, (float*)destinationRow, columns);
                }
                else
                {
                    Quantizer.QuantizeActivationRow(weightType, new ReadOnlySpan<float>(sourceRow, columns),
                        new Span<byte>(destinationRow, destinationRowBytes));
                }
            }
        }
    }

    /// <summary>
    /// Rows of up to three matrices (same type and width, same converted input) as one index space: matrix 0's
    /// rows, then matrix 1's, then matrix 2's; an index covers <see cref="RowsPerIndex"/> rows (every matrix's row
    /// count is a multiple of it).
    /// </summary>
    private struct FusedWork : IRangeWork
    {
        public MatrixPassKind Kind;
        public GgmlType Type;
        public delegate*<byte*, byte*, int, float> Kernel;
        public int Columns;
        public byte* Activations;
        public int ActivationRowBytes;
        public int Tokens;
        public int RowsPerIndex;
        public byte* Weights0, Weights1, Weights2;
        public long RowBytes0, RowBytes1, RowBytes2;
        public int Rows0, Rows1, Rows2;
        public float* Output0, Output1, Output2;

        public readonly void Execute(int start, int end)
        {
            start *= RowsPerIndex;
            end *= RowsPerIndex;
            int offset = 0;
            Segment(Weights0, RowBytes0, Rows0, Output0, start - offset, end - offset);
            offset += Rows0;
            if (Rows1 > 0)
            {
                Segment(Weights1, RowBytes1, Rows1, Output1, start - offset, end - offset);
                offset += Rows1;
            }
            if (Rows2 > 0)
            {
                Segment(Weights2, RowBytes2, Rows2, Output2, start - offset, end - offset);
            }
        }

        private readonly void Segment(byte* weights, long rowBytes, int rows, float* output, int start, int end)
        {
            start = Math.Max(start, 0);
            end = Math.Min(end, rows);
            if (start >= end)
            {
                return;
            }
            switch (Kind)
            {
                case MatrixPassKind.Q8Tiles:
                    new Q8TileRowsWork(Type == GgmlType.Q4_0, weights, rowBytes, rows, Columns, Activations,
                        ActivationRowBytes, Tokens, output).Execute(start, end);
                    break;
                case MatrixPassKind.Q8_0Gemm:
                    Q8_0Gemm.Rows(weights, rowBytes, rows, Columns / 32, Activations, ActivationRowBytes, Tokens, output,
                        start, end);
                    break;
                case MatrixPassKind.Q8_0Groups:
                    Q8_0Gemm.GroupedRows(weights, rows, Columns / 32, Activations, ActivationRowBytes, Tokens, output,
                        start, end);
                    break;
                case MatrixPassKind.Q4_0Groups:
                    Q4_0RowGroups.GroupedRows(weights, rows, Columns / 32, Activations, ActivationRowBytes, Tokens, output,
                        start, end);
                    break;
                case MatrixPassKind.Q4_KGroups:
                    Q4_KRowGroups.GroupedRows(weights, rows, Columns / Q4_KFormat.BlockSize, Activations, ActivationRowBytes,
                        Tokens, output, start, end);
                    break;
                case MatrixPassKind.KQuantTiles:
                    KQuantTileKernels.Rows(Type, weights, rowBytes, rows, Columns, Activations, ActivationRowBytes,
                        Tokens, output, start, end);
                    break;
                case MatrixPassKind.LegacyTiles:
                    LegacyTileKernels.Rows(Type, weights, rowBytes, rows, Columns, Activations, ActivationRowBytes,
                        Tokens, output, start, end);
                    break;
                case MatrixPassKind.HalfRowPairs:
                    DecodeRowPairs.Run(&F16Format.DotScaled256Pair, Columns, &F16Format.DotScaled256, Columns, weights,
                        rowBytes, Activations, output, start, end);
                    break;
                case MatrixPassKind.HalfRowPairs512:
                    DecodeRowPairs.Run(&F16Format.DotScaled512Pair, Columns, &F16Format.DotScaled512, Columns, weights,
                        rowBytes, Activations, output, start, end);
                    break;
                case MatrixPassKind.HalfGemm:
                    F16Gemm.Rows(SimdCapabilities.Best, weights, rowBytes, rows, Columns, (float*)Activations, Tokens,
                        output, start, end);
                    break;
                default:
                    new RowsWork(Kernel, weights, rowBytes, rows, Columns, Activations, ActivationRowBytes, Tokens, output)
                        .Execute(start, end);
                    break;
            }
        }
    }

    /// <summary>
    /// Q4_0 / Q8_0 rows [start, end) in file layout on the AVX2 kernels. One token: two rows far apart at a time
    /// (<see cref="DecodeRowPairs"/>) through the row-dot-exact tile kernels. A batch: Q4_0 through
    /// <see cref="Q4_0RowGroups"/> (eight rows packed per call);
    /// Q8_0 in tiles of <see cref="RowTile"/> rows by <see cref="Q8TokenTile"/> tokens, each kernel call taking
    /// two weight rows against four tokens (each weight block loaded once for four tokens, each activation block
    /// once for two rows).
    /// </summary>
    private readonly struct Q8TileRowsWork(bool q4, byte* weights, long weightRowBytes, int rows, int columns,
        byte* activations, int activationRowBytes, int tokens, float* output) : IRangeWork
    {
        public void Execute(int start, int end)
        {
            int blocks = columns / 32;
            if (tokens == 1)
            {
                if (q4)
                {
                    DecodeRowPairs.Run(&Q8TileKernels.Q4_0Dot2x1, blocks, &Q8TileKernels.Q4_0Dot1, blocks, weights,
                        weightRowBytes, activations, output, start, end);
                }
                else
                {
                    DecodeRowPairs.Run(&Q8TileKernels.Q8_0Dot2x1, blocks, &Q8TileKernels.Q8_0Dot1, blocks, weights,
                        weightRowBytes, activations, output, start, end);
                }
                return;
            }
            if (q4)
            {
                BatchQ4_0(start, end, blocks);
                return;
            }
            for (int rowTile = start; rowTile < end; rowTile += RowTile)
            {
                int rowTileEnd = Math.Min(end, rowTile + RowTile);
                for (int tokenTile = 0; tokenTile < tokens; tokenTile += Q8TokenTile)
                {
                    int tokenTileEnd = Math.Min(tokens, tokenTile + Q8TokenTile);
                    // Four tokens' activation rows (18 KB at 2048 columns) stay in L1 while the tile's weight rows
                    // pass over them two at a time.
                    for (int t = tokenTile; t < tokenTileEnd; t += 4)
                    {
                        Tile(rowTile, rowTileEnd, t, Math.Min(tokenTileEnd, t + 4), blocks);
                    }
                }
            }
        }

        /// <summary>
        /// Q4_0 batches: <see cref="Q4_0RowGroups"/> over rows [start, end), eight rows packed at a time into
        /// scratch on the stack (native memory for rows too wide for <see cref="MaxStackScratch"/>).
        /// </summary>
        private void BatchQ4_0(int start, int end, int blocks)
        {
            long bytes = Q4_0RowGroups.GroupBytes(blocks) + 32;
            if (bytes <= MaxStackScratch)
            {
                byte* stack = stackalloc byte[(int)bytes];
                Q4_0RowGroups.PackedRows(weights, weightRowBytes, rows, blocks, activations, activationRowBytes, tokens,
                    output, start, end, (byte*)(((nuint)stack + 31) & ~(nuint)31));
                return;
            }
            byte* heap = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 32);
            try
            {
                Q4_0RowGroups.PackedRows(weights, weightRowBytes, rows, blocks, activations, activationRowBytes, tokens,
                    output, start, end, heap);
            }
            finally
            {
                NativeMemory.AlignedFree(heap);
            }
        }

        /// <summary>
        /// Q8_0 rows [rowStart, rowEnd) x tokens [tokenStart, tokenEnd): pairs of rows against groups of four
        /// tokens, then pairs against the remaining tokens one by one, then an odd last row.
        /// </summary>
        private void Tile(int rowStart, int rowEnd, int tokenStart, int tokenEnd, int blocks)
        {
            int r = rowStart;
            for (; r + 2 <= rowEnd; r += 2)
            {
                byte* weightRows = weights + r * weightRowBytes;
                int t = tokenStart;
                for (; t + 4 <= tokenEnd; t += 4)
                {
                    Q8TileKernels.Q8_0Dot2x4(weightRows, weightRowBytes, activations + (long)t * activationRowBytes,
                        activationRowBytes, blocks, output + (long)t * rows + r, rows);
                }
                for (; t < tokenEnd; t++)
                {
                    Q8TileKernels.Q8_0Dot2x1(weightRows, weightRowBytes, activations + (long)t * activationRowBytes,
                        blocks, output + (long)t * rows + r);
                }
            }
            if (r < rowEnd)
            {
                byte* weightRow = weights + r * weightRowBytes;
                int t = tokenStart;
                for (; t + 4 <= tokenEnd; t += 4)
                {
                    Q8TileKernels.Q8_0Dot1x4(weightRow, activations + (long)t * activationRowBytes, activationRowBytes,
                        blocks, output + (long)t * rows + r, rows);
                }
                for (; t < tokenEnd; t++)
                {
                    output[(long)t * rows + r] = Q8TileKernels.Q8_0Dot1(weightRow, activations + (long)t * activationRowBytes, blocks);
                }
            }
        }
    }

    /// <summary>Weight rows [start, end) against every token, tiled rows-outer / tokens-inner.</summary>
    private readonly struct RowsWork(delegate*<byte*, byte*, int, float> kernel, byte* weights, long weightRowBytes,
        int rows, int columns, byte* activations, int activationRowBytes, int tokens, float* output) : IRangeWork
    {
        public void Execute(int start, int end)
        {
            for (int rowTile = start; rowTile < end; rowTile += RowTile)
            {
                int rowTileEnd = Math.Min(end, rowTile + RowTile);
                for (int tokenTile = 0; tokenTile < tokens; tokenTile += TokenTile)
                {
                    int tokenTileEnd = Math.Min(tokens, tokenTile + TokenTile);
                    for (int r = rowTile; r < rowTileEnd; r++)
                    {
                        byte* weightRow = weights + r * weightRowBytes;
                        for (int t = tokenTile; t < tokenTileEnd; t++)
                        {
                            output[(long)t * rows + r] =
                                kernel(weightRow, activations + (long)t * activationRowBytes, columns);
                        }
                    }
                }
            }
        }
    }
}
