namespace LlamaDist.Core.Gguf;

/// <summary>
/// A GGUF metadata array. <see cref="Values"/> is a typed CLR array matching <see cref="ElementType"/>:
/// byte[], sbyte[], ushort[], short[], uint[], int[], float[], bool[], string[], ulong[], long[], double[],
/// or GgufArray[] for nested arrays (each element carrying its own element type).
/// </summary>
public sealed class GgufArray
{
    public GgufArray(GgufValueType elementType, Array values)
    {
        ArgumentNullException.ThrowIfNull(values);
        Type expected = ClrElementType(elementType);
        if (values.GetType().GetElementType() != expected || values.Rank != 1)
        {
            throw new ArgumentException(
                $"A GGUF {elementType} array needs a {expected.Name}[] but got {values.GetType().Name}.", nameof(values));
        }
        ElementType = elementType;
        Values = values;
    }

    public GgufValueType ElementType { get; }

    public int Count => Values.Length;

    public Array Values { get; }

    /// <summary>The CLR element type that stores one GGUF value of <paramref name="valueType"/>.</summary>
    public static Type ClrElementType(GgufValueType valueType) => valueType switch
    {
        GgufValueType.UInt8 => typeof(byte),
        GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint),
        GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float),
        GgufValueType.Bool => typeof(bool),
        GgufValueType.String => typeof(string),
        GgufValueType.UInt64 => typeof(ulong),
        GgufValueType.Int64 => typeof(long),
        GgufValueType.Float64 => typeof(double),
        GgufValueType.Array => typeof(GgufArray),
        _ => throw new ArgumentException($"Unknown GGUF value type {(uint)valueType}.", nameof(valueType)),
    };

    public override string ToString() => $"{ElementType}[{Count}]";
}
