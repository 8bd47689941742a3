using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Many F16 row dots against one shared row, over rows already converted to floats, each bit for bit the
/// converted row dot of its level: <see cref="Rows512"/> <see cref="F16Format.DotConvertedVector512"/> (the F16 row
/// dot at AVX-512), <see cref="Rows256"/> <see cref="F16Format.DotConvertedVector256"/> (at AVX2). The same four
/// accumulators per step, the same (a0 + a2) + (a1 + a3), the same horizontal sum, the same leftover columns added
/// in double. Attention is made of such dots with short rows (a 64-wide head: one step of four FMAs per score at
/// 512 bits), where the horizontal sum costs as much as the products; here the sums of sixteen (eight) rows are
/// taken together (<see cref="TransposedReductions"/>).
/// <para>Shapes: rows[i * rowStride .. + columns) for i in [0, count), shared[0 .. columns), y[0 .. count).</para>
/// </summary>
internal static unsafe class ConvertedRowDots
{
    /// <summary>
    /// Floats of the scratch <see cref="Rows512"/> and <see cref="Rows256"/> need: sixteen 16-lane vectors, 64-byte
    /// aligned inside.
    /// </summary>
    public const int ScratchFloats = 16 * 16 + 16;

    /// <summary>
    /// y[i] = DotConvertedVector512(rows + i * rowStride, shared, columns) for i in [0, count); requires AVX-512.
    /// <paramref name="scratch"/>: <see cref="ScratchFloats"/> floats of the caller's. <paramref name="columnsOfRows"/>,
    /// when given, holds the same rows column by column (element c of row i at columnsOfRows[c * count + i]), so
    /// the leftover columns of sixteen rows are added in double sixteen lanes at a time instead of one by one
    /// (attention's V rows: a 128-token prompt averages 32 leftover positions per output, more work than its steps).
    /// </summary>
    public static void Rows512(float* rows, long rowStride, float* shared, int columns, int count, float* y,
        float* scratch, float* columnsOfRows = null)
    {
        float* vectors = (float*)(((nuint)scratch + 63) & ~(nuint)63);
        int stepColumns = columns & ~63;
        int i = 0;
        for (; i + 16 <= count; i += 16)
        {
            for (int j = 0; j < 16; j++)
            {
                BeforeSum(rows + (i + j) * rowStride, shared, stepColumns).Store(vectors + j * 16);
            }
            TransposedReductions.ReduceAdd16(vectors, y + i);
            if (stepColumns < columns && columnsOfRows != null)
            {
                WithLeftovers16(y + i, columnsOfRows + i, count, shared, stepColumns, columns);
            }
            else if (stepColumns < columns)
            {
                for (int j = 0; j < 16; j++)
                {
                    y[i + j] = WithLeftovers(y[i + j], rows + (i + j) * rowStride, shared, stepColumns, columns);
                }
            }
        }
        for (; i < count; i++)
        {
            y[i] = F16Format.DotConvertedVector512(rows + i * rowStride, shared, columns);
        }
    }

    /// <summary>
    /// y[i] = DotConvertedVector256(rows + i * rowStride, shared, columns) for i in [0, count); requires AVX2 and
    /// FMA. As <see cref="Rows512"/>, eight rows at a time (GGML_F32x8_REDUCE's tail taken for eight together).
    /// </summary>
    public static void Rows256(float* rows, long rowStride, float* shared, int columns, int count, float* y,
        float* scratch, float* columnsOfRows = null)
    {
        float* vectors = (float*)(((nuint)scratch + 63) & ~(nuint)63);
        int stepColumns = columns & ~31;
        int i = 0;
        for (; i + 8 <= count; i += 8)
        {
            for (int j = 0; j < 8; j++)
            {
                BeforeSum256(rows + (i + j) * rowStride, shared, stepColumns).Store(vectors + j * 8);
            }
            TransposedReductions.F32x8Tail8(vectors, y + i);
            if (stepColumns < columns && columnsOfRows != null)
            {
                WithLeftovers8(y + i, columnsOfRows + i, count, shared, stepColumns, columns);
            }
            else if (stepColumns < columns)
            {
                for (int j = 0; j < 8; j++)
                {
                    y[i + j] = WithLeftovers(y[i + j], rows + (i + j) * rowStride, shared, stepColumns, columns);
                }
            }
        }
        for (; i < count; i++)
        {
            y[i] = F16Format.DotConvertedVector256(rows + i * rowStride, shared, columns);
        }
    }

    // DotConvertedVector256's four 8-lane accumulators over whole 32-column steps, folded as GGML_F32x8_REDUCE
    // folds them first: (a0 + a2) + (a1 + a3).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BeforeSum256(float* row, float* shared, int stepColumns)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        for (int i = 0; i < stepColumns; i += 32)
        {
            acc0 = Vector256.FusedMultiplyAdd(Vector256.Load(row + i), Vector256.Load(shared + i), acc0);
            acc1 = Vector256.FusedMultiplyAdd(Vector256.Load(row + i + 8), Vector256.Load(shared + i + 8), acc1);
            acc2 = Vector256.FusedMultiplyAdd(Vector256.Load(row + i + 16), Vector256.Load(shared + i + 16), acc2);
            acc3 = Vector256.FusedMultiplyAdd(Vector256.Load(row + i + 24), Vector256.Load(shared + i + 24), acc3);
        }
        return (acc0 + acc2) + (acc1 + acc3);
    }

    // WithLeftovers16 for eight rows in 256-bit vectors.
    private static void WithLeftovers8(float* sums, float* columns, long columnStride, float* shared, int stepColumns,
        int end)
    {
        Vector256<float> start = Vector256.Load(sums);
        Vector256<double> low = Vector256.WidenLower(start), high = Vector256.WidenUpper(start);
        for (int c = stepColumns; c < end; c++)
        {
            Vector256<float> products = Vector256.Load(columns + c * columnStride) * Vector256.Create(shared[c]);
            low += Vector256.WidenLower(products);
            high += Vector256.WidenUpper(products);
        }
        Vector256.Narrow(low, high).Store(sums);
    }

    // The four accumulators over whole 64-column steps, folded as GGML_F32x16_REDUCE folds them before its sum.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> BeforeSum(float* row, float* shared, int stepColumns)
    {
        Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
        Vector512<float> acc2 = Vector512<float>.Zero, acc3 = Vector512<float>.Zero;
        for (int i = 0; i < stepColumns; i += 64)
        {
            acc0 = Vector512.FusedMultiplyAdd(Vector512.Load(row + i), Vector512.Load(shared + i), acc0);
            acc1 = Vector512.FusedMultiplyAdd(Vector512.Load(row + i + 16), Vector512.Load(shared + i + 16), acc1);
            acc2 = Vector512.FusedMultiplyAdd(Vector512.Load(row + i + 32), Vector512.Load(shared + i + 32), acc2);
            acc3 = Vector512.FusedMultiplyAdd(Vector512.Load(row + i + 48), Vector512.Load(shared + i + 48), acc3);
        }
        return (acc0 + acc2) + (acc1 + acc3);
    }

    // WithLeftovers for sixteen rows at once: lanes are rows, columns[c * columnStride + j] is row j's column c. Each
    // lane adds the same float products in the same order in double, so each sum is the one the scalar loop gives.
    private static void WithLeftovers16(float* sums, float* columns, long columnStride, float* shared, int stepColumns,
        int end)
    {
        Vector512<float> start = Vector512.Load(sums);
        Vector512<double> low = Vector512.WidenLower(start), high = Vector512.WidenUpper(start);
        for (int c = stepColumns; c < end; c++)
        {
            Vector512<float> products = Vector512.Load(columns + c * columnStride) * Vector512.Create(shared[c]);
            low += Vector512.WidenLower(products);
            high += Vector512.WidenUpper(products);
        }
        Vector512.Narrow(low, high).Store(sums);
    }

    // The leftover columns [stepColumns, columns), each float product added in double, as the row dot does.
    private static float WithLeftovers(float sum, float* row, float* shared, int stepColumns, int columns)
    {
        double total = sum;
        for (int i = stepColumns; i < columns; i++)
        {
            total += row[i] * shared[i];
        }
        return (float)total;
    }
}
