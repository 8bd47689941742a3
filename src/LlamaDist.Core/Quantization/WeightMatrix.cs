using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// A view of a 2-D weight tensor in ggml layout: <see cref="Rows"/> rows of <see cref="Columns"/> elements, each
/// row <see cref="RowBytes"/> contiguous bytes of <see cref="Type"/> blocks (ne0 = Columns is the innermost
/// dimension). Usually points into a memory-mapped GGUF file or a copy of it; the owner keeps that memory alive.
/// A copy may be regrouped for faster kernels (<see cref="Layout"/>); its rows then cannot be read one by one.
/// </summary>
public readonly unsafe struct WeightMatrix
{
    /// <summary>First byte of row 0.</summary>
    public byte* Data { get; }

    /// <summary>Element type of every row.</summary>
    public GgmlType Type { get; }

    /// <summary>Number of rows (output features).</summary>
    public int Rows { get; }

    /// <summary>Elements per row (input features), a whole number of blocks.</summary>
    public int Columns { get; }

    /// <summary>Bytes per row (in <see cref="WeightLayout.Rows"/>; a regrouped matrix has the same total bytes).</summary>
    public long RowBytes { get; }

    /// <summary>How the bytes are arranged: ggml rows, or regrouped for the kernels.</summary>
    public WeightLayout Layout { get; }

    /// <summary>The matrix passes chosen for this matrix when it was made (from its type's traits, layout and width).</summary>
    internal MatrixPlan Plan { get; }

    /// <summary>
    /// Wraps <paramref name="data"/>. Throws <see cref="ArgumentNullException"/> for a null pointer,
    /// <see cref="ArgumentOutOfRangeException"/> for non-positive sizes and <see cref="ArgumentException"/> when
    /// <paramref name="columns"/> is not a whole number of blocks of <paramref name="type"/>.
    /// </summary>
    public WeightMatrix(byte* data, GgmlType type, int rows, int columns)
        : this(data, type, rows, columns, WeightLayout.Rows)
    {
    }

    /// <summary>
    /// Wraps <paramref name="data"/> in <paramref name="layout"/>; a row-group layout needs its type (Q4_0 / Q4_K /
    /// Q8_0) and a multiple of eight rows (<see cref="ArgumentException"/> otherwise). Without
    /// <paramref name="repacking"/> a matrix in rows layout keeps the row dot's numerics in batches too
    /// (<see cref="MatrixPlan.Choose"/>).
    /// </summary>
    public WeightMatrix(byte* data, GgmlType type, int rows, int columns, WeightLayout layout, bool repacking = true)
    {
        if (data == null)
        {
            throw new ArgumentNullException(nameof(data));
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(columns);
        Data = data;
        Type = type;
        Rows = rows;
        Columns = columns;
        RowBytes = GgmlTypeInfo.RowBytes(type, columns);
        if (RowGroupLayouts.TypeOf(layout) is GgmlType groupType && (type != groupType || rows % RowGroupVectors.RowGroup != 0))
        {
            throw new ArgumentException(
                $"The {layout} layout needs {groupType} rows in groups of {RowGroupVectors.RowGroup}, not {rows} rows of {type}.",
                nameof(layout));
        }
        Layout = layout;
        Plan = MatrixPlan.Choose(type, layout, columns, repacking);
    }

    /// <summary>The bytes of row <paramref name="row"/>; only a matrix in <see cref="WeightLayout.Rows"/> has them.</summary>
    public ReadOnlySpan<byte> Row(int row)
    {
        if (Layout != WeightLayout.Rows)
        {
            throw new InvalidOperationException($"The matrix is regrouped ({Layout}); its rows are interleaved, not stored one by one.");
        }
        if ((uint)row >= (uint)Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(row), row, $"Row must be in [0, {Rows}).");
        }
        return new ReadOnlySpan<byte>(Data + row * RowBytes, checked((int)RowBytes));
    }
}
