using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Quantization;

/// <summary>How <see cref="MatrixKernels"/> runs the rows of one matrix against one or more tokens.</summary>
internal enum MatrixPassKind
{
    /// <summary>Each output one call of the type's row dot (<see cref="WeightTypeTraits.DefaultDotKernel"/>).</summary>
    Rows,

    /// <summary>F16 batches on AVX2 / AVX-512: <see cref="F16Gemm"/> (llamafile_sgemm's numerics).</summary>
    HalfGemm,

    /// <summary>F16 decoding on AVX2: <see cref="DecodeRowPairs"/> over <see cref="F16Format.DotScaled256Pair"/> (activations scaled by 2^112).</summary>
    HalfRowPairs,

    /// <summary>F16 decoding on AVX-512: <see cref="DecodeRowPairs"/> over <see cref="F16Format.DotScaled512Pair"/> (activations scaled by 2^112).</summary>
    HalfRowPairs512,

    /// <summary>Q4_0 / Q8_0 in file layout on AVX2: <see cref="Q8TileKernels"/> (and <see cref="Q4_0RowGroups"/> for Q4_0 batches).</summary>
    Q8Tiles,

    /// <summary>Q8_0 batches in file layout with AVX-VNNI: <see cref="Q8_0Gemm.Rows"/> (panels packed per batch).</summary>
    Q8_0Gemm,

    /// <summary>Regrouped Q8_0: <see cref="Q8_0Gemm.GroupedRows"/>, decoding and batches alike.</summary>
    Q8_0Groups,

    /// <summary>Q3_K / Q4_K / Q5_K / Q6_K on AVX2: <see cref="KQuantTileKernels"/>.</summary>
    KQuantTiles,

    /// <summary>Q4_1 / Q5_0 / Q5_1 on AVX2: <see cref="LegacyTileKernels"/>.</summary>
    LegacyTiles,

    /// <summary>Regrouped Q4_0: <see cref="Q4_0RowGroups"/>, decoding and batches alike.</summary>
    Q4_0Groups,

    /// <summary>Regrouped Q4_K: <see cref="Q4_KRowGroups"/>.</summary>
    Q4_KGroups,
}

/// <summary>
/// The passes one matrix takes, chosen once when its <see cref="WeightMatrix"/> is made (at model load) from its
/// type's <see cref="WeightTypeTraits"/>, its layout and its width: <see cref="Decode"/> for one token,
/// <see cref="Batch"/> for several. Every matrix pass reads it instead of re-deciding per call.
/// </summary>
internal readonly struct MatrixPlan
{
    public MatrixPassKind Decode { get; }
    public MatrixPassKind Batch { get; }

    private MatrixPlan(MatrixPassKind decode, MatrixPassKind batch)
    {
        Decode = decode;
        Batch = batch;
    }

    /// <summary>The pass for <paramref name="tokens"/> tokens.</summary>
    public MatrixPassKind For(int tokens) => tokens == 1 ? Decode : Batch;

    /// <summary>
    /// The plan for a matrix of <paramref name="type"/> in <paramref name="layout"/> with rows of
    /// <paramref name="columns"/>; all Rows for types without kernels (a matrix pass then throws naming the type).
    /// Without <paramref name="repacking"/> (llama.cpp's --no-repack), Q8_0 batches, which would pack rows into
    /// groups with exact block sums (<see cref="MatrixPassKind.Q8_0Gemm"/>), take the row dot's tiles instead, so
    /// every output rounds as ggml's plain vec_dot does. (Q4_0's row dot sums unsigned nibbles with a block
    /// correction, so it never had vec_dot's bits; its batches keep their packed groups.)
    /// </summary>
    public static MatrixPlan Choose(GgmlType type, WeightLayout layout, int columns, bool repacking = true)
    {
        switch (layout)
        {
            case WeightLayout.Q4_0RowGroups:
                return new MatrixPlan(MatrixPassKind.Q4_0Groups, MatrixPassKind.Q4_0Groups);
            case WeightLayout.Q4_KRowGroups:
                return new MatrixPlan(MatrixPassKind.Q4_KGroups, MatrixPassKind.Q4_KGroups);
            case WeightLayout.Q8_0RowGroups:
                return new MatrixPlan(MatrixPassKind.Q8_0Groups, MatrixPassKind.Q8_0Groups);
        }
        if (WeightTypeTraits.TryGetWeightType(type) is not { } traits)
        {
            return default;
        }
        MatrixPassKind batch = traits.BatchPass;
        if (!repacking && batch == MatrixPassKind.Q8_0Gemm)
        {
            batch = traits.DecodePass == MatrixPassKind.Q8Tiles ? MatrixPassKind.Q8Tiles : MatrixPassKind.Rows;
        }
        if (batch == MatrixPassKind.HalfGemm && !F16Gemm.Supports(SimdCapabilities.Best, columns))
        {
            batch = MatrixPassKind.Rows; // tinyBLAS likewise declines rows that are not whole vectors
        }
        return new MatrixPlan(traits.DecodePass, batch);
    }
}
