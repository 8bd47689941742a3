using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// The one place that pairs each weight type with its row-group layout (<see cref="Q4_0RowGroups"/>,
/// <see cref="Q4_KRowGroups"/>, <see cref="Q8_0Gemm"/>): which layout a type regroups into, which type a layout holds, whether this CPU
/// runs it, and the regrouping itself.
/// </summary>
internal static unsafe class RowGroupLayouts
{
    /// <summary>The row-group layout of <paramref name="type"/>, or <see cref="WeightLayout.Rows"/> when it has none.</summary>
    public static WeightLayout LayoutOf(GgmlType type) => type switch
    {
        GgmlType.Q4_0 => WeightLayout.Q4_0RowGroups,
        GgmlType.Q4_K => WeightLayout.Q4_KRowGroups,
        GgmlType.Q8_0 => WeightLayout.Q8_0RowGroups,
        _ => WeightLayout.Rows,
    };

    /// <summary>The weight type a row-group layout holds, or null for <see cref="WeightLayout.Rows"/>.</summary>
    public static GgmlType? TypeOf(WeightLayout layout) => layout switch
    {
        WeightLayout.Q4_0RowGroups => GgmlType.Q4_0,
        WeightLayout.Q4_KRowGroups => GgmlType.Q4_K,
        WeightLayout.Q8_0RowGroups => GgmlType.Q8_0,
        _ => null,
    };

    /// <summary>Whether this CPU runs the kernels of <paramref name="layout"/> (always true for rows).</summary>
    public static bool IsSupported(WeightLayout layout) => layout switch
    {
        WeightLayout.Q4_0RowGroups => Q4_0RowGroups.IsSupported,
        WeightLayout.Q4_KRowGroups => Q4_KRowGroups.IsSupported,
        WeightLayout.Q8_0RowGroups => Q8_0Gemm.IsSupported && Q8TileKernels.IsSupportedFor(GgmlType.Q8_0),
        _ => true,
    };

    /// <summary>
    /// Regroups a matrix of <paramref name="type"/> in place (its type's TryRegroupInPlace, with
    /// <paramref name="scratch"/> holding eight rows); false, with the matrix unchanged, when a scale is not finite.
    /// </summary>
    public static bool TryRegroupInPlace(GgmlType type, byte* matrix, int rows, int blocks, byte* scratch) => type switch
    {
        GgmlType.Q4_0 => Q4_0RowGroups.TryRegroupInPlace(matrix, rows, blocks, scratch),
        GgmlType.Q4_K => Q4_KRowGroups.TryRegroupInPlace(matrix, rows, blocks, scratch),
        GgmlType.Q8_0 => Q8_0Gemm.TryRegroupInPlace(matrix, rows, blocks, scratch),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Only Q4_0, Q4_K and Q8_0 matrices are regrouped."),
    };
}
