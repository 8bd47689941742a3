using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// Matrix × vector (one token, the decode step): one warp per output row. The lanes of a warp walk the row in
/// consecutive word-sized pieces (so a warp's loads cover one contiguous stretch of the row at a time), keep their
/// partial dot product in a register and meet in a shuffle reduction; lane 0 writes the row's value.
/// Up to three matrices of the same format and width share one launch (Q/K/V, gate/up): rows [0, Rows0) come
/// from the first, [Rows0, Rows0 + Rows1) from the second, the rest from the third.
/// Grid: ceil(TotalRows / warpsPerGroup), group: (warpsPerGroup × warp size, 1).
/// </summary>
internal static class MatVecKernels
{
    public static void MatVec<TFormat>(ArrayView<byte> weights0, ArrayView<byte> weights1, ArrayView<byte> weights2,
        ArrayView<float> x, ArrayView<float> y0, ArrayView<float> y1, ArrayView<float> y2, MatVecShape shape)
        where TFormat : struct, IDeviceFormat
    {
        int lanes = Warp.WarpSize;
        int row = Grid.IdxX * (Group.DimX / lanes) + Warp.WarpIdx;
        // A whole warp shares its row, so a warp past the end leaves before any shuffle.
        if (row >= shape.Rows0 + shape.Rows1 + shape.Rows2)
        {
            return;
        }
        var weights = weights0;
        var y = y0;
        int local = row;
        if (local >= shape.Rows0)
        {
            local -= shape.Rows0;
            weights = weights1;
            y = y1;
            if (local >= shape.Rows1)
            {
                local -= shape.Rows1;
                weights = weights2;
                y = y2;
            }
        }
        TFormat format = default;
        float sum = format.LaneDot(weights, local * shape.RowBytes, shape.Columns, x, Warp.LaneIdx, lanes);
        for (int offset = lanes / 2; offset > 0; offset >>= 1)
        {
            sum += Warp.ShuffleDown(sum, offset);
        }
        if (Warp.IsFirstLane)
        {
            y[local] = sum;
        }
    }

    /// <summary>
    /// The feed-forward's gate and up products for one token with SwiGLU applied where they meet:
    /// y[r] = silu(gate_r · x) · (up_r · x), rounded to half when <paramref name="round"/> ≠ 0 (an F16 down
    /// projection's input). One warp per row computes both dots, so the pair needs no second launch.
    /// Grid: ceil(Rows0 / warpsPerGroup), group: (warpsPerGroup × warp size, 1).
    /// </summary>
    public static void MatVecSwiGlu<TFormat>(ArrayView<byte> gate, ArrayView<byte> up, ArrayView<float> x, ArrayView<float> y,
        MatVecShape shape, int round)
        where TFormat : struct, IDeviceFormat
    {
        int lanes = Warp.WarpSize;
        int row = Grid.IdxX * (Group.DimX / lanes) + Warp.WarpIdx;
        if (row >= shape.Rows0)
        {
            return;
        }
        TFormat format = default;
        long rowStart = row * shape.RowBytes;
        float gateSum = format.LaneDot(gate, rowStart, shape.Columns, x, Warp.LaneIdx, lanes);
        float upSum = format.LaneDot(up, rowStart, shape.Columns, x, Warp.LaneIdx, lanes);
        for (int offset = lanes / 2; offset > 0; offset >>= 1)
        {
            gateSum += Warp.ShuffleDown(gateSum, offset);
            upSum += Warp.ShuffleDown(upSum, offset);
        }
        if (Warp.IsFirstLane)
        {
            float value = gateSum / (1f + XMath.Exp(-gateSum)) * upSum;
            y[row] = round != 0 ? HalfBits.Round(value) : value;
        }
    }

    /// <summary>
    /// The same product for accelerators without warp shuffles (OpenCL devices lacking sub-groups): Lanes threads
    /// per row (a power of two dividing the group), partial dots met in shared memory after one group barrier, the
    /// row's first thread adding its lanes' partials in order. Grid: ceil(TotalRows / (group / Lanes)).
    /// </summary>
    public static void MatVecShared<TFormat>(ArrayView<byte> weights0, ArrayView<byte> weights1, ArrayView<byte> weights2,
        ArrayView<float> x, ArrayView<float> y0, ArrayView<float> y1, ArrayView<float> y2, MatVecShape shape)
        where TFormat : struct, IDeviceFormat
    {
        var partials = SharedMemory.Allocate<float>(GroupReduce.MaxGroupSize);
        int lanes = shape.Lanes;
        int thread = Group.IdxX;
        int lane = thread & (lanes - 1);
        int row = Grid.IdxX * (Group.DimX / lanes) + thread / lanes;
        bool inside = row < shape.Rows0 + shape.Rows1 + shape.Rows2;
        var weights = weights0;
        var y = y0;
        int local = row;
        if (local >= shape.Rows0)
        {
            local -= shape.Rows0;
            weights = weights1;
            y = y1;
            if (local >= shape.Rows1)
            {
                local -= shape.Rows1;
                weights = weights2;
                y = y2;
            }
        }
        TFormat format = default;
        // Every thread reaches the barrier; threads past the last row contribute nothing.
        partials[thread] = inside ? format.LaneDot(weights, local * shape.RowBytes, shape.Columns, x, lane, lanes) : 0f;
        Group.Barrier();
        if (inside && lane == 0)
        {
            float sum = 0f;
            for (int i = 0; i < lanes; i++)
            {
                sum += partials[thread + i];
            }
            y[local] = sum;
        }
    }

    /// <summary>
    /// One lane's share of a row · x over the format's units (lane, lane + lanes, ...), four units per pass: their
    /// loads are independent, so each lane keeps four in flight (decode streams rows that are few per multiprocessor,
    /// so loads in flight per warp decide the bandwidth).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float UnrolledDot<TFormat>(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes)
        where TFormat : struct, IDeviceFormat
    {
        TFormat format = default;
        int units = format.Units(columns);
        float sum = 0f;
        int unit = lane;
        for (; unit + 3 * lanes < units; unit += 4 * lanes)
        {
            float first = format.UnitDot(data, rowStart, x, unit);
            float second = format.UnitDot(data, rowStart, x, unit + lanes);
            float third = format.UnitDot(data, rowStart, x, unit + 2 * lanes);
            float fourth = format.UnitDot(data, rowStart, x, unit + 3 * lanes);
            sum += (first + second) + (third + fourth);
        }
        for (; unit < units; unit += lanes)
        {
            sum += format.UnitDot(data, rowStart, x, unit);
        }
        return sum;
    }

    /// <summary>One lane's share of a row · x, element by element (lane, lane + lanes, ...): the fallback for layouts without a word-wise path.</summary>
    public static float ElementDot<TFormat>(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes)
        where TFormat : struct, IDeviceFormat
    {
        TFormat format = default;
        float sum = 0f;
        for (int column = lane; column < columns; column += lanes)
        {
            sum += format.Weight(data, rowStart, column) * x[column];
        }
        return sum;
    }
}

/// <summary>
/// y_m[r] = Σ_c W_m[r, c] · x[c] for the (up to) three matrices m of one matrix × vector launch; all have
/// Columns elements per row stored in RowBytes bytes; Rows1 and Rows2 are 0 when fewer matrices take part.
/// Lanes: threads per row (the warp size for the shuffle kernel).
/// </summary>
internal struct MatVecShape
{
    public int Lanes;
    public int Rows0;
    public int Rows1;
    public int Rows2;
    public int Columns;
    public long RowBytes;
}
