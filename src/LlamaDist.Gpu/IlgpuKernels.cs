using ILGPU;
using ILGPU.Backends;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using LlamaDist.Core.Gguf;
using LlamaDist.Gpu.Kernels;

namespace LlamaDist.Gpu;

/// <summary>
/// The kernels compiled for one accelerator (ILGPU compiles each once, at load), with the group sizes they are
/// launched with. Every launch takes the session's stream.
/// </summary>
internal sealed class IlgpuKernels
{
    private readonly Dictionary<GgmlType, Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<float>, ArrayView<float>, MatMulShape>> matMul = [];
    private readonly Dictionary<GgmlType, Action<AcceleratorStream, Index1D, ArrayView<byte>, long, int, ArrayView<int>, ArrayView<float>>> getRows = [];
    private readonly Dictionary<GgmlType, Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatVecShape>> matVec = [];
    private readonly Dictionary<GgmlType, Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, MatVecShape, int>> matVecSwiGlu = [];

    /// <summary>The weight types the kernels read in their own block format; others are converted to F16 at load.</summary>
    public static readonly IReadOnlySet<GgmlType> NativeTypes = new HashSet<GgmlType>
    {
        GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K,
    };

    public IlgpuKernels(Accelerator accelerator)
    {
        GroupSize = PowerOfTwoAtMost(Math.Min(128, accelerator.MaxNumThreadsPerGroup));
        WarpSize = Math.Min(accelerator.WarpSize, GroupSize);
        UsesWarpShuffles = CanShuffleWarps(accelerator);
        MatVecLanes = UsesWarpShuffles ? WarpSize : Math.Min(32, GroupSize);
        TileGroupSize = PowerOfTwoAtMost(Math.Min(256, accelerator.MaxNumThreadsPerGroup));
        WideGroupSize = PowerOfTwoAtMost(Math.Min(GroupReduce.MaxGroupSize, accelerator.MaxNumThreadsPerGroup));
        AddFormat<F32Device>(accelerator, GgmlType.F32);
        AddFormat<F16Device>(accelerator, GgmlType.F16);
        AddFormat<Q8_0Device>(accelerator, GgmlType.Q8_0);
        AddFormat<Q4_0Device>(accelerator, GgmlType.Q4_0);
        AddFormat<Q4_KDevice>(accelerator, GgmlType.Q4_K);
        AddFormat<Q6_KDevice>(accelerator, GgmlType.Q6_K);
        RmsNormKernel = accelerator.LoadKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int, int>(ElementKernels.RmsNorm);
        AttentionKernel = accelerator.LoadKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, AttentionShape>(AttentionKernels.Attention);
        ArgMaxKernel = accelerator.LoadKernel<ArrayView<float>, int, ArrayView<int>>(ElementKernels.ArgMax);
        TopCandidatesKernel = accelerator.LoadKernel<ArrayView<float>, int, int, ArrayView<int>, int, ArrayView<int>, ArrayView<float>, ArrayView<int>>(CandidateKernels.TopCandidates);
        Add = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementKernels.Add);
        AddBias = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(ElementKernels.AddBias);
        Scale = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, float>(ElementKernels.Scale);
        SoftCap = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, float>(ElementKernels.SoftCap);
        RoundToHalf = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>>(ElementKernels.RoundToHalf);
        SwiGlu = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(ElementKernels.SwiGlu);
        CopyColumns = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, int, int, ArrayView<float>, int>(ElementKernels.CopyColumns);
        (TensorCoreMatMul, TensorCoreStatus) = LoadTensorCoreMatMul(accelerator);
        RopeStoreKernel = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<ushort>, ArrayView<ushort>, RopeStoreShape>(ElementKernels.RopeStore);
    }

    /// <summary>The F16 tensor-core matrix × matrix kernel, where the device has mma.sync (CUDA sm_80 and later) and it compiled.</summary>
    private Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<float>, ArrayView<float>, MatMulShape>? TensorCoreMatMul { get; }

    /// <summary>Whether F16 prompts take the tensor cores here, and if not why not (for the device report and verbose output).</summary>
    public string TensorCoreStatus { get; }

    /// <summary>Whether F16 products of several tokens run on the tensor cores.</summary>
    public bool UsesTensorCores => TensorCoreMatMul is not null;

    /// <summary>Threads per group of the row-wise kernels: a power of two, at most 128 and the device's limit.</summary>
    public int GroupSize { get; }

    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float, int, int> RmsNormKernel { get; }

    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, AttentionShape> AttentionKernel { get; }

    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, int, ArrayView<int>> ArgMaxKernel { get; }

    public Action<AcceleratorStream, KernelConfig, ArrayView<float>, int, int, ArrayView<int>, int, ArrayView<int>, ArrayView<float>, ArrayView<int>> TopCandidatesKernel { get; }

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>> Add { get; }

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int> AddBias { get; }

    public Action<AcceleratorStream, Index1D, ArrayView<float>, float> Scale { get; }

    public Action<AcceleratorStream, Index1D, ArrayView<float>, float> SoftCap { get; }

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>> RoundToHalf { get; }

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, int> SwiGlu { get; }

    public Action<AcceleratorStream, Index1D, ArrayView<float>, int, int, ArrayView<float>, int> CopyColumns { get; }

    public Action<AcceleratorStream, Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<ushort>, ArrayView<ushort>, RopeStoreShape> RopeStoreKernel { get; }

    /// <summary>
    /// RoPE on query and keys, the query scaled and rounded to half, keys and values into the F16 cache: one launch
    /// for <paramref name="shape"/>.Tokens rows.
    /// </summary>
    public void RopeStore(AcceleratorStream stream, ArrayView<float> query, ArrayView<float> key, ArrayView<float> value,
        ArrayView<float> cosines, ArrayView<float> sines, ArrayView<ushort> keyCache, ArrayView<ushort> valueCache, RopeStoreShape shape) =>
        RopeStoreKernel(stream, shape.Tokens * shape.ThreadsPerToken, query, key, value, cosines, sines, keyCache, valueCache, shape);

    /// <summary>
    /// Threads per group of the norms and the arg-max (a power of two, at most 512): one token's norm or the
    /// vocabulary's arg-max is a single group, so its width, not the number of groups, bounds its latency.
    /// </summary>
    public int WideGroupSize { get; }

    /// <summary>Threads per group of the tiled matrix × matrix kernel: a power of two, at most 256 (64 × 64 outputs per group).</summary>
    public int TileGroupSize { get; }

    /// <summary>Whether the matrix × vector kernel reduces with warp shuffles (else through shared memory).</summary>
    public bool UsesWarpShuffles { get; }

    /// <summary>Threads per output row of the matrix × vector kernel: the warp, or 32 threads of the group.</summary>
    public int MatVecLanes { get; }

    /// <summary>Threads per warp of the accelerator.</summary>
    public int WarpSize { get; }

    /// <summary>
    /// y[t] = W · x[t] for <paramref name="tokens"/> rows; x rows hold W.Columns values, y rows <paramref name="yStride"/>.
    /// A single token takes the warp-per-row matrix × vector kernel.
    /// </summary>
    public void MatMul(AcceleratorStream stream, DeviceMatrix weights, ArrayView<float> x, ArrayView<float> y, int tokens,
        long yOffset = 0, int yStride = 0)
    {
        if (tokens == 1)
        {
            MatVec(stream, x, weights, y.SubView(yOffset, weights.Rows));
            return;
        }
        var shape = new MatMulShape
        {
            Rows = weights.Rows, Columns = weights.Columns, RowBytes = weights.RowBytes, Tokens = tokens,
            XOffset = 0, YOffset = yOffset, YStride = yStride == 0 ? weights.Rows : yStride,
        };
        if (TensorCoreMatMul is { } tensorCores && weights.Type == GgmlType.F16 && TensorCoreMatMulKernels.Supports(weights.Columns, weights.RowBytes))
        {
            var tiles = new Index2D((weights.Rows + TensorCoreMatMulKernels.TileRows - 1) / TensorCoreMatMulKernels.TileRows,
                (tokens + TensorCoreMatMulKernels.TileTokens - 1) / TensorCoreMatMulKernels.TileTokens);
            tensorCores(stream, new KernelConfig(tiles, new Index2D(TensorCoreMatMulKernels.GroupThreads, 1)), weights.View, x, y, shape);
            return;
        }
        var (tileRows, tileTokens) = MatMulKernels.TileOf(TileGroupSize);
        var grid = new Index2D((weights.Rows + tileRows - 1) / tileRows, (tokens + tileTokens - 1) / tileTokens);
        matMul[weights.Type](stream, new KernelConfig(grid, new Index2D(TileGroupSize, 1)), weights.View, x, y, shape);
    }

    /// <summary>
    /// One token through up to three matrices of one format and width in one launch:
    /// <paramref name="y0"/> = <paramref name="w0"/> · x, and likewise for the optional second and third.
    /// </summary>
    public void MatVec(AcceleratorStream stream, ArrayView<float> x, DeviceMatrix w0, ArrayView<float> y0,
        DeviceMatrix? w1 = null, ArrayView<float> y1 = default, DeviceMatrix? w2 = null, ArrayView<float> y2 = default)
    {
        if (w1 is not null && !SharesLayout(w0, w1) || w2 is not null && (w1 is null || !SharesLayout(w0, w2)))
        {
            throw new ArgumentException("Matrices fused into one matrix × vector launch share their type and width.");
        }
        var shape = new MatVecShape
        {
            Lanes = MatVecLanes, Rows0 = w0.Rows, Rows1 = w1?.Rows ?? 0, Rows2 = w2?.Rows ?? 0, Columns = w0.Columns,
            RowBytes = w0.RowBytes,
        };
        int rows = shape.Rows0 + shape.Rows1 + shape.Rows2;
        int rowsPerGroup = Math.Max(1, GroupSize / MatVecLanes);
        matVec[w0.Type](stream, new KernelConfig((rows + rowsPerGroup - 1) / rowsPerGroup, rowsPerGroup * MatVecLanes),
            w0.View, (w1 ?? w0).View, (w2 ?? w0).View, x, y0, w1 is null ? y0 : y1, w2 is null ? y0 : y2, shape);
    }

    /// <summary>
    /// One token's feed-forward input through gate and up with SwiGLU applied in the same launch:
    /// <paramref name="y"/>[r] = silu(gate_r · x) · (up_r · x), rounded to half when <paramref name="round"/>.
    /// False (nothing launched) where the pair cannot share a launch: different layouts, or no warp shuffles.
    /// </summary>
    public bool TryMatVecSwiGlu(AcceleratorStream stream, ArrayView<float> x, DeviceMatrix gate, DeviceMatrix up, ArrayView<float> y, bool round)
    {
        if (!UsesWarpShuffles || !SharesLayout(gate, up) || gate.Rows != up.Rows)
        {
            return false;
        }
        var shape = new MatVecShape { Lanes = MatVecLanes, Rows0 = gate.Rows, Columns = gate.Columns, RowBytes = gate.RowBytes };
        int rowsPerGroup = Math.Max(1, GroupSize / MatVecLanes);
        matVecSwiGlu[gate.Type](stream, new KernelConfig((gate.Rows + rowsPerGroup - 1) / rowsPerGroup, rowsPerGroup * MatVecLanes),
            gate.View, up.View, x, y, shape, round ? 1 : 0);
        return true;
    }

    /// <summary>Whether two matrices can share a matrix × vector launch.</summary>
    public static bool SharesLayout(DeviceMatrix first, DeviceMatrix second) =>
        first.Type == second.Type && first.Columns == second.Columns && first.RowBytes == second.RowBytes;

    /// <summary>rows[t] = W[ids[t]] (dequantized) for <paramref name="tokens"/> ids.</summary>
    public void GetRows(AcceleratorStream stream, DeviceMatrix weights, ArrayView<int> ids, ArrayView<float> rows, int tokens) =>
        getRows[weights.Type](stream, tokens * weights.Columns, weights.View, weights.RowBytes, weights.Columns, ids, rows);

    /// <summary>One wide group per row of <paramref name="width"/>; the result rounded to half when <paramref name="round"/>.</summary>
    public void RmsNorm(AcceleratorStream stream, ArrayView<float> source, ArrayView<float> weight, ArrayView<float> destination,
        int rows, int width, float epsilon, bool round = false) =>
        RmsNormKernel(stream, new KernelConfig(rows, NormGroupSize(width)), source, source, weight, destination, width, epsilon, 0, round ? 1 : 0);

    /// <summary>residual += addend, then destination = RmsNorm(residual): one launch, one group per row.</summary>
    public void AddRmsNorm(AcceleratorStream stream, ArrayView<float> residual, ArrayView<float> addend, ArrayView<float> weight,
        ArrayView<float> destination, int rows, int width, float epsilon, bool round = false) =>
        RmsNormKernel(stream, new KernelConfig(rows, NormGroupSize(width)), residual, addend, weight, destination, width, epsilon, 1, round ? 1 : 0);

    public void Attention(AcceleratorStream stream, ArrayView<float> query, ArrayView<ushort> keys, ArrayView<ushort> values,
        ArrayView<float> output, ArrayView<float> scores, AttentionShape shape) =>
        AttentionKernel(stream, new KernelConfig(shape.Tokens * shape.HeadCount, GroupSize), query, keys, values, output, scores, shape);

    public void ArgMax(AcceleratorStream stream, ArrayView<float> values, int count, ArrayView<int> result) =>
        ArgMaxKernel(stream, new KernelConfig(1, WideGroupSize), values, count, result);

    /// <summary>
    /// The logits of one row at least as large as its <paramref name="wanted"/>-th largest, then those of
    /// <paramref name="extraIds"/>, as (id, logit) pairs; <paramref name="count"/>[0] = pairs written.
    /// </summary>
    public void TopCandidates(AcceleratorStream stream, ArrayView<float> logits, int vocabulary, int wanted, ArrayView<int> extraIds, int extraCount,
        ArrayView<int> ids, ArrayView<float> values, ArrayView<int> count) =>
        TopCandidatesKernel(stream, new KernelConfig(1, WideGroupSize), logits, vocabulary, wanted, extraIds, extraCount, ids, values, count);

    private void AddFormat<TFormat>(Accelerator accelerator, GgmlType type)
        where TFormat : struct, IDeviceFormat
    {
        matMul[type] = accelerator.LoadKernel<ArrayView<byte>, ArrayView<float>, ArrayView<float>, MatMulShape>(MatMulKernels.MatMul<TFormat>);
        matVec[type] = UsesWarpShuffles
            ? accelerator.LoadKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatVecShape>(MatVecKernels.MatVec<TFormat>)
            : accelerator.LoadKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatVecShape>(MatVecKernels.MatVecShared<TFormat>);
        if (UsesWarpShuffles)
        {
            matVecSwiGlu[type] = accelerator.LoadKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, MatVecShape, int>(MatVecKernels.MatVecSwiGlu<TFormat>);
        }
        getRows[type] = accelerator.LoadAutoGroupedKernel<Index1D, ArrayView<byte>, long, int, ArrayView<int>, ArrayView<float>>(MatMulKernels.GetRows<TFormat>);
    }

    /// <summary>
    /// The tensor-core kernel on CUDA devices of compute capability 8.0 or later (mma.sync.m16n8k16 with f16 inputs);
    /// elsewhere, or when the driver refuses the kernel, F16 prompts take the SIMT kernel and the status says why.
    /// </summary>
    private static (Action<AcceleratorStream, KernelConfig, ArrayView<byte>, ArrayView<float>, ArrayView<float>, MatMulShape>?, string) LoadTensorCoreMatMul(
        Accelerator accelerator)
    {
        if (accelerator is not CudaAccelerator cuda)
        {
            return (null, $"not used: tensor cores need a CUDA device, this is {accelerator.AcceleratorType}");
        }
        var architecture = cuda.Architecture;
        if (architecture.Major < 8)
        {
            return (null, $"not used: mma.sync with f16 needs compute capability 8.0 or later, this device has {cuda.Architecture}");
        }
        try
        {
            var kernel = accelerator.LoadKernel<ArrayView<byte>, ArrayView<float>, ArrayView<float>, MatMulShape>(TensorCoreMatMulKernels.MatMulF16);
            return (kernel, $"used for F16 prompts (mma.sync.m16n8k16, {architecture})");
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            return (null, $"not used: the tensor-core kernel did not load ({exception.GetType().Name}: {exception.Message})");
        }
    }

    /// <summary>
    /// Whether the warp-shuffle kernels compile here: OpenCL devices without sub-groups (or whose sub-groups ILGPU
    /// cannot shuffle) cannot, and their matrix × vector kernel meets the lanes' partial dots in shared memory.
    /// </summary>
    private static bool CanShuffleWarps(Accelerator accelerator)
    {
        if (accelerator is CLAccelerator cl && !cl.Capabilities.SubGroups)
        {
            return false;
        }
        try
        {
            accelerator.LoadKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MatVecShape>(MatVecKernels.MatVec<F32Device>);
            return true;
        }
        catch (Exception exception) when (exception is CapabilityNotSupportedException or NotSupportedIntrinsicException)
        {
            return false;
        }
    }

    /// <summary>A norm's group: wide for model rows, no wider than the row for per-head norms (64 or 128 wide).</summary>
    private int NormGroupSize(int width) => Math.Min(WideGroupSize, PowerOfTwoAtMost(Math.Max(1, width)));

    private static int PowerOfTwoAtMost(int value)
    {
        int result = 1;
        while (result * 2 <= value)
        {
            result *= 2;
        }
        return result;
    }
}
