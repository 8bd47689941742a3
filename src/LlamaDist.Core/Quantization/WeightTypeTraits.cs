using System.Collections.Frozen;
using System.Runtime.Intrinsics.X86;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Everything the engine knows about one tensor type, in one row of <see cref="For"/>'s table: block shape and
/// bytes, quantize / dequantize, the activation type a weight row is multiplied with (ggml's vec_dot_type), the
/// row dot kernel at each <see cref="SimdLevel"/>, the level matrix passes run it at, and the matrix passes a
/// matrix of this type takes when decoding and for batches on this CPU. <see cref="Quantizer"/> and
/// <see cref="MatrixKernels"/> read this table instead of switching on the type; the capability checks that
/// decide the passes live here and in <see cref="MatrixPlan"/>, nowhere else. Adding a type is adding a row.
/// </summary>
internal sealed unsafe class WeightTypeTraits
{
    /// <summary>The type this row describes.</summary>
    public GgmlType Type { get; private init; }

    /// <summary>Elements per block (1 for the float types).</summary>
    public int BlockSize { get; private init; }

    /// <summary>Bytes per block.</summary>
    public int BlockBytes { get; private init; }

    /// <summary>The partner type activations are converted to before a dot; null for activation-only types (Q8_1, Q8_K).</summary>
    public GgmlType? ActivationType { get; private init; }

    /// <summary>True for types that have row dot kernels (weight types), false for activation-only types.</summary>
    public bool IsWeightType => ActivationType is not null;

    /// <summary>Encodes floats (a whole number of blocks) into blocks.</summary>
    public delegate*<ReadOnlySpan<float>, Span<byte>, void> Quantize { get; private init; }

    /// <summary>Decodes blocks into floats.</summary>
    public delegate*<ReadOnlySpan<byte>, Span<float>, void> Dequantize { get; private init; }

    /// <summary>
    /// How a float activation row becomes this type when it is some weight type's partner: the SIMD quantizers
    /// llama.cpp's CPU backend uses for Q8_0 and Q8_1, the plain quantizer otherwise.
    /// </summary>
    public delegate*<ReadOnlySpan<float>, Span<byte>, void> QuantizeAsActivation { get; private init; }

    /// <summary>The row dot (weight row, converted activation row, columns) at a level; null for activation-only types.</summary>
    public delegate*<SimdLevel, delegate*<byte*, byte*, int, float>> DotKernelAt { get; private init; }

    /// <summary>
    /// The level matrix passes run the row dot at: <see cref="SimdCapabilities.BestForInt8"/> when the partner is
    /// an 8-bit type (ggml's x86 int8 dots are 256-bit), <see cref="SimdCapabilities.Best"/> for float types.
    /// </summary>
    public SimdLevel DefaultLevel => ActivationType is GgmlType.Q8_0 or GgmlType.Q8_1 or GgmlType.Q8_K
        ? SimdCapabilities.BestForInt8
        : SimdCapabilities.Best;

    /// <summary>The row dot at <see cref="DefaultLevel"/>.</summary>
    public delegate*<byte*, byte*, int, float> DefaultDotKernel => DotKernelAt(DefaultLevel);

    /// <summary>The pass a one-token product takes over a matrix of this type in ggml row layout, on this CPU.</summary>
    public MatrixPassKind DecodePass { get; private init; }

    /// <summary>The pass a batch takes over such a matrix (before the per-matrix width checks of <see cref="MatrixPlan"/>).</summary>
    public MatrixPassKind BatchPass { get; private init; }

    /// <summary>The row for <paramref name="type"/>; <see cref="NotSupportedException"/> naming it when there is none.</summary>
    public static WeightTypeTraits For(GgmlType type) =>
        Table.TryGetValue(type, out WeightTypeTraits? traits) ? traits : throw Quantizer.Unsupported(type);

    /// <summary>The row for <paramref name="type"/> when it is a weight type with kernels, else null.</summary>
    public static WeightTypeTraits? TryGetWeightType(GgmlType type) =>
        Table.TryGetValue(type, out WeightTypeTraits? traits) && traits.IsWeightType ? traits : null;

    private static readonly FrozenDictionary<GgmlType, WeightTypeTraits> Table = Build().ToFrozenDictionary(t => t.Type);

    private static List<WeightTypeTraits> Build()
    {
        var rows = new List<WeightTypeTraits>();
        // Passes this CPU can run, decided once (the one place the kernels' capability checks meet):
        bool int8Tiles = Avx2.IsSupported && Fma.IsSupported && SimdCapabilities.BestForInt8 == SimdLevel.Vector256;
        bool kQuantTiles = KQuantFit.UsesAvx2(SimdCapabilities.BestForInt8);
        bool halfGemm = F16Gemm.Supports(SimdCapabilities.Best, F16Gemm.Lanes(SimdCapabilities.Best));
        MatrixPassKind halfDecode = F16Format.RunsRowsAt512 ? MatrixPassKind.HalfRowPairs512
            : F16Format.RunsRowsAtAvx2 ? MatrixPassKind.HalfRowPairs
            : MatrixPassKind.Rows;
        MatrixPassKind int8Pass = int8Tiles ? MatrixPassKind.Q8Tiles : MatrixPassKind.Rows;
        // Q8_0 batches sum eight rows per vpdpbusd where the CPU has it (256-bit, as ggml's x86 int8 paths).
        MatrixPassKind q8Batch = int8Tiles && Q8_0Gemm.IsSupported ? MatrixPassKind.Q8_0Gemm : int8Pass;
        MatrixPassKind kQuantPass = kQuantTiles ? MatrixPassKind.KQuantTiles : MatrixPassKind.Rows;
        // Q4_1 / Q5_0 / Q5_1: their AVX2 dots two rows or four tokens at a time (LegacyTileKernels).
        bool legacyTiles = int8Tiles;

        rows.Add(new WeightTypeTraits
        {
            Type = GgmlType.F32, BlockSize = F32Format.BlockSize, BlockBytes = F32Format.BlockBytes,
            ActivationType = GgmlType.F32, Quantize = &F32Format.QuantizeRow, Dequantize = &F32Format.DequantizeRow,
            QuantizeAsActivation = &F32Format.QuantizeRow, DotKernelAt = &F32Format.DotKernel,
        });
        rows.Add(new WeightTypeTraits
        {
            Type = GgmlType.F16, BlockSize = F16Format.BlockSize, BlockBytes = F16Format.BlockBytes,
            ActivationType = GgmlType.F16, Quantize = &F16Format.QuantizeRow, Dequantize = &F16Format.DequantizeRow,
            QuantizeAsActivation = &F16Format.QuantizeRow, DotKernelAt = &F16Format.DotKernel,
            DecodePass = halfDecode, BatchPass = halfGemm ? MatrixPassKind.HalfGemm : MatrixPassKind.Rows,
        });
        rows.Add(new WeightTypeTraits
        {
            Type = GgmlType.BF16, BlockSize = BF16Format.BlockSize, BlockBytes = BF16Format.BlockBytes,
            ActivationType = GgmlType.BF16, Quantize = &BF16Format.QuantizeRow, Dequantize = &BF16Format.DequantizeRow,
            QuantizeAsActivation = &BF16Format.QuantizeRow, DotKernelAt = &BF16Format.DotKernel,
        });
        rows.Add(new WeightTypeTraits
        {
            Type = GgmlType.Q8_0, BlockSize = Q8_0Format.BlockSize, BlockBytes = Q8_0Format.BlockBytes,
            ActivationType = GgmlType.Q8_0, Quantize = &Q8_0Format.QuantizeRow, Dequantize = &Q8_0Format.DequantizeRow,
            QuantizeAsActivation = &Q8_0Format.QuantizeActivationRow, DotKernelAt = &Q8_0Format.DotKernel,
            DecodePass = int8Pass, BatchPass = q8Batch,
        });
        rows.Add(new WeightTypeTraits
        {
            Type = GgmlType.Q4_0, BlockSize = Q4_0Format.BlockSize, BlockBytes = Q4_0Format.BlockBytes,
            ActivationType = GgmlType.Q8_0, Quantize = &Q4_0Format.QuantizeRow, Dequantize = &Q4_0Format.DequantizeRow,
            QuantizeAsActivation = &Q4_0Format.QuantizeRow, DotKernelAt = &Q4_0Format.DotKernel,
            DecodePass = int8Pass, BatchPass = int8Pass,
        });
        // Q4_1 / Q5_1 pair with Q8_1: the offset m needs the activation block sum s.
        rows.Add(Legacy(GgmlType.Q4_1, Q4_1Format.BlockSize, Q4_1Format.BlockBytes, GgmlType.Q8_1,
            &Q4_1Format.QuantizeRow, &Q4_1Format.DequantizeRow, &Q4_1Format.DotKernel, legacyTiles));
        rows.Add(Legacy(GgmlType.Q5_0, Q5_0Format.BlockSize, Q5_0Format.BlockBytes, GgmlType.Q8_0,
            &Q5_0Format.QuantizeRow, &Q5_0Format.DequantizeRow, &Q5_0Format.DotKernel, legacyTiles));
        rows.Add(Legacy(GgmlType.Q5_1, Q5_1Format.BlockSize, Q5_1Format.BlockBytes, GgmlType.Q8_1,
            &Q5_1Format.QuantizeRow, &Q5_1Format.DequantizeRow, &Q5_1Format.DotKernel, legacyTiles));
        rows.Add(new WeightTypeTraits
        {
            Type = GgmlType.Q8_1, BlockSize = Q8_1Format.BlockSize, BlockBytes = Q8_1Format.BlockBytes,
            Quantize = &Q8_1Format.QuantizeRow, Dequantize = &Q8_1Format.DequantizeRow,
            QuantizeAsActivation = &Q8_1Format.QuantizeActivationRow,
        });
        rows.Add(new WeightTypeTraits
        {
            Type = GgmlType.Q8_K, BlockSize = Q8_KFormat.BlockSize, BlockBytes = Q8_KFormat.BlockBytes,
            Quantize = &Q8_KFormat.QuantizeRow, Dequantize = &Q8_KFormat.DequantizeRow,
            QuantizeAsActivation = &Q8_KFormat.QuantizeRow,
        });
        // K-quants pair with Q8_K (vec_dot_type).
        rows.Add(Legacy(GgmlType.Q2_K, Q2_KFormat.BlockSize, Q2_KFormat.BlockBytes, GgmlType.Q8_K,
            &Q2_KFormat.QuantizeRow, &Q2_KFormat.DequantizeRow, &Q2_KFormat.DotKernel));
        rows.Add(new WeightTypeTraits
        {
            Type = GgmlType.Q3_K, BlockSize = Q3_KFormat.BlockSize, BlockBytes = Q3_KFormat.BlockBytes,
            ActivationType = GgmlType.Q8_K, Quantize = &Q3_KFormat.QuantizeRow, Dequantize = &Q3_KFormat.DequantizeRow,
            QuantizeAsActivation = &Q3_KFormat.QuantizeRow, DotKernelAt = &Q3_KFormat.DotKernel,
            DecodePass = kQuantPass, BatchPass = kQuantPass,
        });
        rows.Add(new WeightTypeTraits
        {
            Type = GgmlType.Q4_K, BlockSize = Q4_KFormat.BlockSize, BlockBytes = Q4_KFormat.BlockBytes,
            ActivationType = GgmlType.Q8_K, Quantize = &Q4_KFormat.QuantizeRow, Dequantize = &Q4_KFormat.DequantizeRow,
            QuantizeAsActivation = &Q4_KFormat.QuantizeRow, DotKernelAt = &Q4_KFormat.DotKernel,
            DecodePass = kQuantPass, BatchPass = kQuantPass,
        });
        rows.Add(new WeightTypeTraits
        {
            Type = GgmlType.Q5_K, BlockSize = Q5_KFormat.BlockSize, BlockBytes = Q5_KFormat.BlockBytes,
            ActivationType = GgmlType.Q8_K, Quantize = &Q5_KFormat.QuantizeRow, Dequantize = &Q5_KFormat.DequantizeRow,
            QuantizeAsActivation = &Q5_KFormat.QuantizeRow, DotKernelAt = &Q5_KFormat.DotKernel,
            DecodePass = kQuantPass, BatchPass = kQuantPass,
        });
        rows.Add(new WeightTypeTraits
        {
            Type = GgmlType.Q6_K, BlockSize = Q6_KFormat.BlockSize, BlockBytes = Q6_KFormat.BlockBytes,
            ActivationType = GgmlType.Q8_K, Quantize = &Q6_KFormat.QuantizeRow, Dequantize = &Q6_KFormat.DequantizeRow,
            QuantizeAsActivation = &Q6_KFormat.QuantizeRow, DotKernelAt = &Q6_KFormat.DotKernel,
            DecodePass = kQuantPass, BatchPass = kQuantPass,
        });
        return rows;
    }

    /// <summary>
    /// A weight type whose matrices run through its row dot: row by row, or, with <paramref name="tiles"/>, through
    /// <see cref="LegacyTileKernels"/> (the same dot two rows or four tokens at a time).
    /// </summary>
    private static WeightTypeTraits Legacy(GgmlType type, int blockSize, int blockBytes, GgmlType activationType,
        delegate*<ReadOnlySpan<float>, Span<byte>, void> quantize,
        delegate*<ReadOnlySpan<byte>, Span<float>, void> dequantize,
        delegate*<SimdLevel, delegate*<byte*, byte*, int, float>> dotKernelAt, bool tiles = false) => new()
    {
        Type = type, BlockSize = blockSize, BlockBytes = blockBytes, ActivationType = activationType,
        Quantize = quantize, Dequantize = dequantize, QuantizeAsActivation = quantize, DotKernelAt = dotKernelAt,
        DecodePass = tiles ? MatrixPassKind.LegacyTiles : MatrixPassKind.Rows,
        BatchPass = tiles ? MatrixPassKind.LegacyTiles : MatrixPassKind.Rows,
    };
}
