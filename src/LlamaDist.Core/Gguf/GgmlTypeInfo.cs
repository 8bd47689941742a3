namespace LlamaDist.Core.Gguf;

/// <summary>
/// Block geometry of every ggml type: how many elements one block holds and how many bytes it takes.
/// Values are the <c>blck_size</c> / <c>type_size</c> pairs of ggml's type traits (sizeof of the block structs
/// in ggml-common.h, QK_K = 256). A row of a tensor is always a whole number of blocks.
/// </summary>
public static class GgmlTypeInfo
{
    private readonly record struct Geometry(int BlockSize, int BlockBytes, string Name);

    private const int SuperBlock = 256; // QK_K

    private static readonly Dictionary<GgmlType, Geometry> Table = new()
    {
        [GgmlType.F32] = new(1, 4, "F32"),
        [GgmlType.F16] = new(1, 2, "F16"),
        [GgmlType.Q4_0] = new(32, 2 + 16, "Q4_0"),               // d(f16) + 32 nibbles
        [GgmlType.Q4_1] = new(32, 2 + 2 + 16, "Q4_1"),           // d, m + 32 nibbles
        [GgmlType.Q5_0] = new(32, 2 + 4 + 16, "Q5_0"),           // d + high bits(32) + nibbles
        [GgmlType.Q5_1] = new(32, 2 + 2 + 4 + 16, "Q5_1"),       // d, m + high bits + nibbles
        [GgmlType.Q8_0] = new(32, 2 + 32, "Q8_0"),               // d + 32 int8
        [GgmlType.Q8_1] = new(32, 2 + 2 + 32, "Q8_1"),           // d, s + 32 int8
        [GgmlType.Q2_K] = new(SuperBlock, 16 + 64 + 2 + 2, "Q2_K"),          // scales, qs, d, dmin = 84
        [GgmlType.Q3_K] = new(SuperBlock, 32 + 64 + 12 + 2, "Q3_K"),         // hmask, qs, scales, d = 110
        [GgmlType.Q4_K] = new(SuperBlock, 2 + 2 + 12 + 128, "Q4_K"),         // d, dmin, scales, qs = 144
        [GgmlType.Q5_K] = new(SuperBlock, 2 + 2 + 12 + 32 + 128, "Q5_K"),    // d, dmin, scales, qh, qs = 176
        [GgmlType.Q6_K] = new(SuperBlock, 128 + 64 + 16 + 2, "Q6_K"),        // ql, qh, scales, d = 210
        [GgmlType.Q8_K] = new(SuperBlock, 4 + 256 + 32, "Q8_K"),             // d(f32), qs, bsums(16 x i16) = 292
        [GgmlType.IQ2_XXS] = new(SuperBlock, 2 + 64, "IQ2_XXS"),             // d + qs(32 x u16) = 66
        [GgmlType.IQ2_XS] = new(SuperBlock, 2 + 64 + 8, "IQ2_XS"),           // d + qs + scales = 74
        [GgmlType.IQ3_XXS] = new(SuperBlock, 2 + 96, "IQ3_XXS"),             // d + qs(3*QK_K/8) = 98
        [GgmlType.IQ1_S] = new(SuperBlock, 2 + 32 + 16, "IQ1_S"),            // d + qs + qh(8 x u16) = 50
        [GgmlType.IQ4_NL] = new(32, 2 + 16, "IQ4_NL"),                       // d + 32 nibbles = 18
        [GgmlType.IQ3_S] = new(SuperBlock, 2 + 64 + 8 + 32 + 4, "IQ3_S"),    // d, qs, qh, signs, scales = 110
        [GgmlType.IQ2_S] = new(SuperBlock, 2 + 64 + 8 + 8, "IQ2_S"),         // d, qs(QK_K/4), qh, scales = 82
        [GgmlType.IQ4_XS] = new(SuperBlock, 2 + 2 + 4 + 128, "IQ4_XS"),      // d, scales_h, scales_l, qs = 136
        [GgmlType.I8] = new(1, 1, "I8"),
        [GgmlType.I16] = new(1, 2, "I16"),
        [GgmlType.I32] = new(1, 4, "I32"),
        [GgmlType.I64] = new(1, 8, "I64"),
        [GgmlType.F64] = new(1, 8, "F64"),
        [GgmlType.IQ1_M] = new(SuperBlock, 32 + 16 + 8, "IQ1_M"),            // qs, qh, scales = 56
        [GgmlType.BF16] = new(1, 2, "BF16"),
        [GgmlType.TQ1_0] = new(SuperBlock, 48 + 4 + 2, "TQ1_0"),             // qs, qh, d = 54
        [GgmlType.TQ2_0] = new(SuperBlock, 64 + 2, "TQ2_0"),                 // qs, d = 66
        [GgmlType.MXFP4] = new(32, 1 + 16, "MXFP4"),                         // e8m0 exponent + 32 nibbles = 17
    };

    /// <summary>True when <paramref name="type"/> is one of the ids listed in <see cref="GgmlType"/>.</summary>
    public static bool IsKnown(GgmlType type) => Table.ContainsKey(type);

    /// <summary>Elements per block (1 for plain types, 32 for the legacy quants, 256 for K/IQ super-blocks).</summary>
    public static int BlockSize(GgmlType type) => Lookup(type).BlockSize;

    /// <summary>Bytes one block occupies.</summary>
    public static int BlockBytes(GgmlType type) => Lookup(type).BlockBytes;

    /// <summary>ggml's spelling of the type ("Q4_0", "F16", ...).</summary>
    public static string Name(GgmlType type) => Lookup(type).Name;

    /// <summary>
    /// Bytes taken by <paramref name="elements"/> consecutive elements (normally one row).
    /// Throws <see cref="ArgumentException"/> when the count is negative or not a whole number of blocks, and
    /// <see cref="OverflowException"/> never: a result past <see cref="long.MaxValue"/> is also an ArgumentException.
    /// </summary>
    public static long RowBytes(GgmlType type, long elements)
    {
        Geometry geometry = Lookup(type);
        if (elements < 0)
        {
            throw new ArgumentException($"Element count {elements} is negative.", nameof(elements));
        }
        if (elements % geometry.BlockSize != 0)
        {
            throw new ArgumentException(
                $"{elements} elements is not a whole number of {geometry.Name} blocks of {geometry.BlockSize}.",
                nameof(elements));
        }
        long blocks = elements / geometry.BlockSize;
        if (blocks > long.MaxValue / geometry.BlockBytes)
        {
            throw new ArgumentException($"{elements} {geometry.Name} elements do not fit in a 64-bit byte count.",
                nameof(elements));
        }
        return blocks * geometry.BlockBytes;
    }

    private static Geometry Lookup(GgmlType type) =>
        Table.TryGetValue(type, out Geometry geometry)
            ? geometry
            : throw new ArgumentException($"Unknown ggml type id {(uint)type}.", nameof(type));
}
