using System.Buffers;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Matrix x activation products for the forward pass. Activations are converted once per call to the weight
/// type's partner (<see cref="Quantizer.ActivationType"/>), exactly as llama.cpp's CPU backend converts src1
/// before ggml_mul_mat, then weight rows are split across <see cref="ComputeThreads"/>. Each output element is
/// one row dot at <see cref="Quantizer.DefaultLevel"/>; on AVX2 those dots are bit-identical to ggml's x86 ones.
/// No allocation per call (the converted activations live in a pooled buffer).
/// </summary>
public static unsafe class MatrixKernels
{
    // MatMul tiles: RowTile weight rows (about 70 KB of a 4096-wide Q8_0 matrix) stay in L2 while every token of
    // the batch passes over them in TokenTile groups, so each weight row is read from memory once per batch.
    private const int RowTile = 16;
    private const int TokenTile = 16;

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
        if (weights.Data == null)
        {
            throw new ArgumentException("The weight matrix is uninitialized (default struct).", nameof(weights));
        }
        int rows = weights.Rows;
        int columns = weights.Columns;
        RowArguments.RequireElements(x.Length, checked(n * columns), nameof(x));
        RowArguments.RequireElements(y.Length, checked(n * rows), nameof(y));

        RowKernel plan = RowKernel.For(weights.Type, columns); // NotSupportedException for other types

        byte[]? rented = null;
        try
        {
            fixed (float* xPointer = x)
            fixed (float* yPointer = y)
            {
                if (plan.ConvertsActivations)
                {
                    rented = ArrayPool<byte>.Shared.Rent(checked(n * plan.ActivationRowBytes));
                    fixed (byte* buffer = rented)
                    {
                        threads.For(n, new ConvertWork(weights.Type, xPointer, columns, buffer, plan.ActivationRowBytes));
                        if (weights.Type == GgmlType.F16 && n > 1 && F16Format.HasConvertedRowKernel &&
                            columns <= MaxConvertedRowColumns)
                        {
                            threads.For(rows, new ConvertedHalfRowsWork(weights.Data, weights.RowBytes, rows, columns,
                                (float*)buffer, n, yPointer));
                        }
                        else
                        {
                            threads.For(rows, new RowsWork(plan.Dot, weights.Data, weights.RowBytes, rows, columns,
                                buffer, plan.ActivationRowBytes, n, yPointer));
                        }
                    }
                }
                else
                {
                    threads.For(rows, new RowsWork(plan.Dot, weights.Data, weights.RowBytes, rows, columns,
                        (byte*)xPointer, plan.ActivationRowBytes, n, yPointer));
                }
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
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
            GgmlType activationType = Quantizer.ActivationType(weightType);
            return weightType switch
            {
                GgmlType.F32 => new RowKernel
                {
                    Dot = Quantizer.DotKernel(weightType, Quantizer.DefaultLevel(weightType)),
                    ActivationRowBytes = columns * sizeof(float),
                    ConvertsActivations = false,
                },
                GgmlType.F16 => new RowKernel
                {
                    Dot = F16Format.RoundedSingleDotKernel(Quantizer.DefaultLevel(weightType)),
                    ActivationRowBytes = columns * sizeof(float),
                    ConvertsActivations = true,
                },
                _ => new RowKernel
                {
                    Dot = Quantizer.DotKernel(weightType, Quantizer.DefaultLevel(weightType)),
                    ActivationRowBytes = checked((int)GgmlTypeInfo.RowBytes(activationType, columns)),
                    ConvertsActivations = true,
                },
            };
        }
    }

    /// <summary>Converts token rows [start, end) of the float activations to the kernel's activation layout.</summary>
    private readonly struct ConvertWork(GgmlType weightType, float* source, int columns, byte* destination,
        int destinationRowBytes) : IRangeWork
    {
        public void Execute(int start, int end)
        {
            for (int t = start; t < end; t++)
            {
                float* sourceRow = source + (long)t * columns;
                byte* destinationRow = destination + (long)t * destinationRowBytes;
                if (weightType == GgmlType.F16)
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

    // Widest F16 row converted to floats on the stack by ConvertedHalfRowsWork (64 KB).
    private const int MaxConvertedRowColumns = 16384;

    /// <summary>
    /// F16 batches on AVX2: each weight row [start, end) is converted to floats once and then dotted with every
    /// token (float activations [tokens, columns], already rounded to half values), instead of converting the
    /// row again for each token. Bit-identical to <see cref="RowsWork"/> with the F16 kernel
    /// (<see cref="F16Format.DotConvertedVector256"/> keeps its accumulators and order).
    /// </summary>
    private readonly struct ConvertedHalfRowsWork(byte* weights, long weightRowBytes, int rows, int columns,
        float* activations, int tokens, float* output) : IRangeWork
    {
        public void Execute(int start, int end)
        {
            // A tile of converted rows (at most 64 KB, L2-resident) meets each token's activations while that
            // token row sits in L1.
            int tileRows = Math.Max(1, MaxConvertedRowColumns / columns);
            float* tile = stackalloc float[tileRows * columns];
            for (int tileStart = start; tileStart < end; tileStart += tileRows)
            {
                int tileEnd = Math.Min(end, tileStart + tileRows);
                for (int r = tileStart; r < tileEnd; r++)
                {
                    F16Format.ConvertRowToSingle(weights + r * weightRowBytes, tile + (long)(r - tileStart) * columns, columns);
                }
                for (int t = 0; t < tokens; t++)
                {
                    float* activationRow = activations + (long)t * columns;
                    for (int r = tileStart; r < tileEnd; r++)
                    {
                        output[(long)t * rows + r] =
                            F16Format.DotConvertedVector256(tile + (long)(r - tileStart) * columns, activationRow, columns);
                    }
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
