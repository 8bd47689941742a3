namespace LlamaDist.Core.Quantization;

/// <summary>How a <see cref="WeightMatrix"/>'s bytes are arranged.</summary>
public enum WeightLayout
{
    /// <summary>ggml's layout, as in the file: row after row, each a run of blocks.</summary>
    Rows,

    /// <summary>
    /// Q4_0 only: groups of eight rows interleaved for the eight-rows-per-lane kernels (layout in Q4_0RowGroups.cs),
    /// the same bytes as the rows they replace. Made at load for weights held in process memory.
    /// </summary>
    Q4_0RowGroups,

    /// <summary>Q4_K only: groups of eight rows interleaved the same way (layout in Q4_KRowGroups.cs).</summary>
    Q4_KRowGroups,

    /// <summary>
    /// Q8_0 only: groups of eight rows interleaved by four-element quads for vpdpbusd (layout in Q8_0Gemm.cs), the
    /// same bytes as the rows they replace. Made at load where the CPU has AVX-VNNI.
    /// </summary>
    Q8_0RowGroups,
}
