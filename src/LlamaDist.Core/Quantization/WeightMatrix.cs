using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// A view of a 2-D weight tensor in ggml layout: <see cref="Rows"/> rows of <see cref="Columns"/> elements, each
/// row <see cref="RowBytes"/> contiguous bytes of <see cref="Type"/> blocks (ne0 = Columns is the innermost
/// dimension). Usually points into a memory-mapped GGUF file; the owner keeps that memory alive.
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

    /// <summary>Bytes per row.</summary>
    public long RowBytes { get; }

    /// <summary>
    /// Wraps <paramref name="data"/>. Throws <see cref="ArgumentNullException"/> for a null pointer,
    /// <see cref="ArgumentOutOfRangeException"/> for non-positive sizes and <see cref="ArgumentException"/> when
    /// <paramref name="columns"/> is not a whole number of blocks of <paramref name="type"/>.
    /// </summary>
    public WeightMatrix(byte* data, GgmlType type, int rows, int columns)
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
    }

    /// <summary>The bytes of row <paramref name="row"/>.</summary>
    public ReadOnlySpan<byte> Row(int row)
    {
        if ((uint)row >= (uint)Rows)
        {
            throw new ArgumentOutOfRangeException(nameof(row), row, $"Row must be in [0, {Rows}).");
        }
        return new ReadOnlySpan<byte>(Data + row * RowBytes, checked((int)RowBytes));
    }
}
