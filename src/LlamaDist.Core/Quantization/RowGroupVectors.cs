using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// What the eight-row-group kernels (<see cref="Q4_0RowGroups"/>, <see cref="Q4_KRowGroups"/>) share: the nibble
/// lane layout, its products, the fp16 widening, partial stores and regrouping a matrix in place.
/// <para>
/// Lane layout: a 32-byte vector holds eight elements of each of eight rows, row r in bytes 4r..4r+3; byte k of
/// a row's lane is element k (low nibble) | element 4 + k (high nibble) &lt;&lt; 4 of the eight. Four such vectors
/// make a 32-element run: vector v covers elements 8v..8v+7.
/// </para>
/// </summary>
internal static unsafe class RowGroupVectors
{
    /// <summary>Rows per group: one per 32-bit lane of a 256-bit vector.</summary>
    public const int RowGroup = 8;

    /// <summary>Bytes of one 32-element run of a group: four vectors of 32 bytes.</summary>
    public const int RunBytes = 128;

    /// <summary>
    /// One row's 32-bit lane of vector <paramref name="v"/> (0 or 1 for 16 source bytes, 0..3 for 32), scalar:
    /// element e's nibble is the low half of <paramref name="source"/>[e] when <paramref name="shift"/> is 0 and
    /// its high half when it is 4.
    /// </summary>
    public static uint Lane(byte* source, int v, int shift)
    {
        uint lane = 0;
        for (int k = 0; k < 4; k++)
        {
            uint low = (uint)(source[8 * v + k] >> shift) & 0x0F;
            uint high = (uint)(source[8 * v + 4 + k] >> shift) & 0x0F;
            lane |= (low | high << 4) << (8 * k);
        }
        return lane;
    }

    /// <summary>
    /// <see cref="Lane"/> for v = 2h and 2h + 1 at once, from the 16 nibbles of elements 16h..16h+15 given one per
    /// byte: byte 4j + k of the result's low 8 bytes holds element 8j + k | element 8j + 4 + k &lt;&lt; 4.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<ulong> TwoLanes(Vector128<byte> nibbles)
    {
        const byte None = 0x80; // pshufb writes 0
        Vector128<byte> first = Ssse3.Shuffle(nibbles,
            Vector128.Create(0, 1, 2, 3, 8, 9, 10, 11, None, None, None, None, None, None, None, None));
        Vector128<byte> second = Ssse3.Shuffle(nibbles,
            Vector128.Create(4, 5, 6, 7, 12, 13, 14, 15, None, None, None, None, None, None, None, None));
        // second's bytes are at most 0x0F, so a 16-bit shift by 4 moves each into its own byte's top half.
        return (first | (second.AsUInt16() << 4).AsByte()).AsUInt64();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> LowNibbles(Vector256<byte> raw) => raw & Vector256.Create((byte)0x0F);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> HighNibbles(Vector256<byte> raw) =>
        Avx2.ShiftRightLogical(raw.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);

    /// <summary>
    /// Pairwise products of one vector's eight elements of eight rows against the activation quants at
    /// <paramref name="quants"/> (elements 0..3 against the low nibbles, 4..7 against the high ones), as int16
    /// pair sums: each at most 2 x 15 x 127 in magnitude.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> Products(Vector256<byte> raw, byte* quants) =>
        Avx2.MultiplyAddAdjacent(LowNibbles(raw), Vector256.Create(*(int*)quants).AsSByte())
        + Avx2.MultiplyAddAdjacent(HighNibbles(raw), Vector256.Create(*(int*)(quants + 4)).AsSByte());

    /// <summary>
    /// The exact int16 pair sums of one 32-element run of eight rows (four vectors at <paramref name="run"/>)
    /// against 32 activation quants: eight products per lane half, at most 8 x 2 x 15 x 127 = 30480 in
    /// magnitude, so they cannot overflow.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> RunProducts(byte* run, byte* quants) =>
        Products(Vector256.Load(run), quants) + Products(Vector256.Load(run + 32), quants + 8)
        + Products(Vector256.Load(run + 64), quants + 16) + Products(Vector256.Load(run + 96), quants + 24);

    /// <summary>
    /// <see cref="Products"/> continued into int32 sums with AVX-VNNI: <c>vpdpbusd</c> adds the four nibble x quant
    /// products of each row lane straight to <paramref name="sums"/> (no int16 step, no pmaddwd with ones).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> AddProducts(Vector256<int> sums, Vector256<byte> raw, byte* quants) =>
        AvxVnni.MultiplyWideningAndAdd(AvxVnni.MultiplyWideningAndAdd(sums, LowNibbles(raw),
            Vector256.Create(*(int*)quants).AsSByte()), HighNibbles(raw), Vector256.Create(*(int*)(quants + 4)).AsSByte());

    /// <summary>
    /// The exact int32 sums of nibble x quant over one 32-element run of eight rows: with AVX-VNNI eight
    /// <c>vpdpbusd</c> in two chains, else <see cref="RunProducts"/> and one <c>pmaddwd</c> with ones. Both give
    /// the same integers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> RunSums(byte* run, byte* quants)
    {
        if (AvxVnni.IsSupported)
        {
            Vector256<int> first = AddProducts(Vector256<int>.Zero, Vector256.Load(run), quants);
            Vector256<int> second = AddProducts(Vector256<int>.Zero, Vector256.Load(run + 32), quants + 8);
            first = AddProducts(first, Vector256.Load(run + 64), quants + 16);
            second = AddProducts(second, Vector256.Load(run + 96), quants + 24);
            return first + second;
        }
        return Avx2.MultiplyAddAdjacent(RunProducts(run, quants), Vector256.Create((short)1));
    }

    /// <summary>
    /// Eight finite fp16 values widened exactly: sign-extended, shifted under the float fields, masked to sign and
    /// 15 magnitude bits, then re-biased by one exact multiply by 2^112 (subnormal halves included).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Halves(byte* halves)
    {
        Vector256<int> fields = (Avx2.ConvertToVector256Int32((short*)halves) << 13) & Vector256.Create(unchecked((int)0x8FFFE000));
        return fields.AsSingle() * Vector256.Create(BitConverter.UInt32BitsToSingle(0x77800000u));
    }

    /// <summary>Whether the fp16 value at <paramref name="half"/> is finite (not Inf or NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsFiniteHalf(byte* half) => (*(ushort*)half & 0x7C00) != 0x7C00;

    /// <summary>Stores the first <paramref name="validRows"/> lanes of <paramref name="values"/> at y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> values, float* y, int validRows)
    {
        if (validRows == RowGroup)
        {
            values.Store(y);
            return;
        }
        for (int r = 0; r < validRows; r++)
        {
            y[r] = values.GetElement(r);
        }
    }

    /// <summary>
    /// Rewrites a matrix of <paramref name="rows"/> rows (a multiple of 8) of <paramref name="rowBytes"/> in place,
    /// group by group through <paramref name="scratch"/> (eight rows' bytes): <paramref name="pack"/>(rows, row
    /// bytes, row count, destination) writes a group. Returns false, with the matrix unchanged, when
    /// <paramref name="isFinite"/> refuses one of its blocks (<paramref name="blockBytes"/> apart; checked before
    /// anything is rewritten).
    /// </summary>
    public static bool TryRegroupInPlace(byte* matrix, int rows, long rowBytes, int blockBytes,
        delegate*<byte*, bool> isFinite, delegate*<byte*, long, int, byte*, void> pack, byte* scratch)
    {
        if (rows % RowGroup != 0)
        {
            throw new ArgumentException($"Rows must be a multiple of {RowGroup}, not {rows}.", nameof(rows));
        }
        long total = rows * rowBytes;
        for (long offset = 0; offset < total; offset += blockBytes)
        {
            if (!isFinite(matrix + offset))
            {
                return false;
            }
        }
        long groupBytes = RowGroup * rowBytes;
        for (long group = 0; group < total; group += groupBytes)
        {
            pack(matrix + group, rowBytes, RowGroup, scratch);
            Buffer.MemoryCopy(scratch, matrix + group, groupBytes, groupBytes);
        }
        return true;
    }
}
