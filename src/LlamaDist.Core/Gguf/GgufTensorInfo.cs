namespace LlamaDist.Core.Gguf;

/// <summary>
/// One tensor's header entry. <see cref="Dimensions"/> lists ne0 first: ne0 is the innermost, contiguous
/// dimension (the row length, <see cref="Columns"/>); a 2-D weight [ne0, ne1] is ne1 rows of ne0 values.
/// </summary>
public sealed class GgufTensorInfo
{
    public GgufTensorInfo(string name, long[] dimensions, GgmlType type, long relativeOffset, long absoluteOffset,
        long elementCount, long byteSize)
    {
        Name = name;
        Dimensions = dimensions;
        Type = type;
        RelativeOffset = relativeOffset;
        AbsoluteOffset = absoluteOffset;
        ElementCount = elementCount;
        ByteSize = byteSize;
    }

    public string Name { get; }

    /// <summary>ne0 first (innermost, contiguous).</summary>
    public long[] Dimensions { get; }

    public GgmlType Type { get; }

    /// <summary>Offset from the start of the data section.</summary>
    public long RelativeOffset { get; }

    /// <summary>Offset from the start of the file.</summary>
    public long AbsoluteOffset { get; }

    public long ElementCount { get; }

    public long ByteSize { get; }

    /// <summary>Row length (ne0).</summary>
    public long Columns => Dimensions[0];

    /// <summary>Number of rows of <see cref="Columns"/> elements (product of ne1..).</summary>
    public long Rows => ElementCount / Columns;

    public override string ToString() =>
        $"{Name} {GgmlTypeInfo.Name(Type)} [{string.Join(", ", Dimensions)}] @ {AbsoluteOffset}";
}
