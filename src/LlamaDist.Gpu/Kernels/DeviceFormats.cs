using System.Runtime.CompilerServices;
using ILGPU;

namespace LlamaDist.Gpu.Kernels;

/// <summary>
/// One weight type as the device reads it: element <c>column</c> of the row whose bytes start at
/// <c>rowStart</c> in ggml's own block layout (the file's bytes, uploaded unchanged). The kernels are generic over
/// a struct implementing this, so ILGPU compiles one specialised kernel per type.
/// </summary>
internal interface IDeviceFormat
{
    float Weight(ArrayView<byte> data, long rowStart, int column);

    /// <summary>
    /// Lane <paramref name="lane"/> of <paramref name="lanes"/>'s share of Σ_c W[c] · x[c] over the row at
    /// <paramref name="rowStart"/>: the lanes together cover every column once, neighbouring lanes reading
    /// neighbouring words so a warp's loads coalesce.
    /// </summary>
    float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes);

    /// <summary>Units of work in a row of <paramref name="columns"/>: each a few neighbouring words of the row.</summary>
    int Units(int columns);

    /// <summary>Σ W[c] · x[c] over the columns of one unit of the row at <paramref name="rowStart"/>.</summary>
    float UnitDot(ArrayView<byte> data, long rowStart, ArrayView<float> x, int unit);
}

/// <summary>Little-endian reads from a byte view.</summary>
internal static class DeviceBytes
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int UInt16(ArrayView<byte> data, long offset) => data[offset] | (data[offset + 1] << 8);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Half(ArrayView<byte> data, long offset) => HalfBits.ToSingle(UInt16(data, offset));
}

/// <summary>GGML_TYPE_F32: 4-byte floats.</summary>
internal struct F32Device : IDeviceFormat
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Weight(ArrayView<byte> data, long rowStart, int column) => data.Cast<float>()[rowStart / 4 + column];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes) =>
        MatVecKernels.UnrolledDot<F32Device>(data, rowStart, columns, x, lane, lanes);

    public int Units(int columns) => columns;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float UnitDot(ArrayView<byte> data, long rowStart, ArrayView<float> x, int unit) =>
        data.Cast<float>()[rowStart / 4 + unit] * x[unit];
}

/// <summary>GGML_TYPE_F16: 2-byte halves.</summary>
internal struct F16Device : IDeviceFormat
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Weight(ArrayView<byte> data, long rowStart, int column) =>
        HalfBits.ToSingle(data.Cast<ushort>()[rowStart / 2 + column]);

    /// <summary>
    /// Units of four halves (one 8-byte load each: a warp reads 256 contiguous bytes per load); a row that does not
    /// start on 8 bytes goes element by element, and the last columns & 3 columns are lane 0's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes)
    {
        if ((rowStart & 7) != 0)
        {
            return MatVecKernels.ElementDot<F16Device>(data, rowStart, columns, x, lane, lanes);
        }
        float sum = MatVecKernels.UnrolledDot<F16Device>(data, rowStart, columns, x, lane, lanes);
        if (lane == 0)
        {
            for (int column = columns & ~3; column < columns; column++)
            {
                sum += Weight(data, rowStart, column) * x[column];
            }
        }
        return sum;
    }

    public int Units(int columns) => columns >> 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float UnitDot(ArrayView<byte> data, long rowStart, ArrayView<float> x, int unit)
    {
        long word = data.Cast<long>()[rowStart / 8 + unit];
        int column = 4 * unit;
        int low = (int)word;
        int high = (int)(word >> 32);
        return (HalfBits.ToSingle(low & 0xFFFF) * x[column] + HalfBits.ToSingle((low >> 16) & 0xFFFF) * x[column + 1])
            + (HalfBits.ToSingle(high & 0xFFFF) * x[column + 2] + HalfBits.ToSingle((high >> 16) & 0xFFFF) * x[column + 3]);
    }
}

/// <summary>GGML_TYPE_Q8_0: blocks of 32, { half d; int8 qs[32] } (34 bytes); w = d * q.</summary>
internal struct Q8_0Device : IDeviceFormat
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Weight(ArrayView<byte> data, long rowStart, int column)
    {
        long block = rowStart + (column >> 5) * 34L;
        return DeviceBytes.Half(data, block) * (sbyte)data[block + 2 + (column & 31)];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes) =>
        MatVecKernels.UnrolledDot<Q8_0Device>(data, rowStart, columns, x, lane, lanes);

    /// <summary>Quarter blocks: 8 quants in four 16-bit words (blocks are only 2-byte aligned); 32 lanes read eight whole blocks (272 bytes).</summary>
    public int Units(int columns) => (columns >> 5) * 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float UnitDot(ArrayView<byte> data, long rowStart, ArrayView<float> x, int unit)
    {
        var halves = data.Cast<ushort>();
        int block = unit >> 2;
        int part = unit & 3;
        long start = (rowStart + block * 34L) >> 1;
        long quants = start + 1 + 4 * part;
        int column = block * 32 + part * 8;
        float partial = 0f;
        for (int word = 0; word < 4; word++)
        {
            int packed = halves[quants + word];
            partial += (sbyte)(packed & 0xFF) * x[column + 2 * word] + (sbyte)(packed >> 8) * x[column + 2 * word + 1];
        }
        return HalfBits.ToSingle(halves[start]) * partial;
    }
}

/// <summary>GGML_TYPE_Q4_0: blocks of 32, { half d; uint8 qs[16] } (18 bytes); element j &lt; 16 the low nibble of qs[j], else the high nibble of qs[j - 16]; w = d * (q - 8).</summary>
internal struct Q4_0Device : IDeviceFormat
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Weight(ArrayView<byte> data, long rowStart, int column)
    {
        long block = rowStart + (column >> 5) * 18L;
        int j = column & 31;
        int packed = data[block + 2 + (j & 15)];
        int quant = j < 16 ? packed & 0xF : packed >> 4;
        return DeviceBytes.Half(data, block) * (quant - 8);
    }

    /// <summary>
    /// By quarter blocks. (Whole block pairs per lane, nine 4-byte loads each, measured 3x slower on an H200: a
    /// warp's loads then spread over 36 sectors each instead of 5.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes) =>
        MatVecKernels.UnrolledDot<Q4_0Device>(data, rowStart, columns, x, lane, lanes);

    /// <summary>
    /// Quarter blocks: quarter p holds qs[4p, 4p + 4) (two 16-bit words), whose low nibbles are columns 4p.. and
    /// high nibbles 16 + 4p..; 32 lanes read eight whole blocks (144 bytes).
    /// </summary>
    public int Units(int columns) => (columns >> 5) * 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float UnitDot(ArrayView<byte> data, long rowStart, ArrayView<float> x, int unit)
    {
        var halves = data.Cast<ushort>();
        int block = unit >> 2;
        int part = unit & 3;
        long start = (rowStart + block * 18L) >> 1;
        int packed = halves[start + 1 + 2 * part] | (halves[start + 2 + 2 * part] << 16);
        int low = block * 32 + part * 4;
        int high = low + 16;
        float partial = 0f;
        for (int k = 0; k < 4; k++)
        {
            int bits = packed >> (8 * k);
            partial += Nibble(bits) * x[low + k] + Nibble(bits >> 4) * x[high + k];
        }
        return HalfBits.ToSingle(halves[start]) * partial;
    }

    /// <summary>
    /// (bits &amp; 15) - 8 as a float without an int-to-float conversion (a quarter-rate instruction on GPUs): the
    /// nibble in the low mantissa bits of 2^23 gives 2^23 + q, and subtracting 2^23 + 8 is exact.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Nibble(int bits) => Interop.IntAsFloat(0x4B000000u | (uint)(bits & 0xF)) - 8388616f;
}

/// <summary>
/// GGML_TYPE_Q4_K: super-blocks of 256, { half d; half dmin; uint8 scales[12]; uint8 qs[128] } (144 bytes), eight
/// sub-blocks of 32 with 6-bit scales and mins; w = d * sc * q - dmin * m (ggml's dequantize_row_q4_K).
/// </summary>
internal struct Q4_KDevice : IDeviceFormat
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Weight(ArrayView<byte> data, long rowStart, int column)
    {
        long block = rowStart + (column >> 8) * 144L;
        int element = column & 255;
        int pair = element >> 6;              // 64 elements share 32 bytes of qs
        int high = (element >> 5) & 1;        // first 32: low nibbles, next 32: high nibbles
        int sub = 2 * pair + high;
        long scales = block + 4;
        int scale, min;
        if (sub < 4)
        {
            scale = data[scales + sub] & 63;
            min = data[scales + sub + 4] & 63;
        }
        else
        {
            scale = (data[scales + sub + 4] & 0xF) | ((data[scales + sub - 4] >> 6) << 4);
            min = (data[scales + sub + 4] >> 4) | ((data[scales + sub] >> 6) << 4);
        }
        int packed = data[block + 16 + 32 * pair + (element & 31)];
        int quant = high == 0 ? packed & 0xF : packed >> 4;
        return DeviceBytes.Half(data, block) * scale * quant - DeviceBytes.Half(data, block + 2) * min;
    }

    /// <summary>
    /// Work in 32 units of a super-block: unit u holds qs[4u, 4u + 4) (one aligned 32-bit word: blocks are 144 bytes,
    /// rows start on 16), whose low nibbles belong to sub-block 2·(u / 8) and high nibbles to the next; a 32-lane warp
    /// reads one super-block's quants (128 contiguous bytes) per step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes) =>
        MatVecKernels.UnrolledDot<Q4_KDevice>(data, rowStart, columns, x, lane, lanes);

    public int Units(int columns) => (columns >> 8) * 32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float UnitDot(ArrayView<byte> data, long rowStart, ArrayView<float> x, int unit)
    {
        var words = data.Cast<int>();
        int superBlock = unit >> 5;
        int inBlock = unit & 31;
        long block = rowStart + superBlock * 144L;
        int scaleWord = words[block >> 2];
        float d = HalfBits.ToSingle(scaleWord & 0xFFFF);
        float dmin = HalfBits.ToSingle((scaleWord >> 16) & 0xFFFF);
        int pair = inBlock >> 3;
        int lowSub = 2 * pair;
        int highSub = lowSub + 1;
        long scales = block + 4;
        int lowScale, lowMin, highScale, highMin;
        if (lowSub < 4)
        {
            // Sub-blocks 0-3: 6 bits each of scales[j] and scales[j + 4].
            lowScale = data[scales + lowSub] & 63;
            lowMin = data[scales + lowSub + 4] & 63;
            highScale = data[scales + highSub] & 63;
            highMin = data[scales + highSub + 4] & 63;
        }
        else
        {
            lowScale = (data[scales + lowSub + 4] & 0xF) | ((data[scales + lowSub - 4] >> 6) << 4);
            lowMin = (data[scales + lowSub + 4] >> 4) | ((data[scales + lowSub] >> 6) << 4);
            highScale = (data[scales + highSub + 4] & 0xF) | ((data[scales + highSub - 4] >> 6) << 4);
            highMin = (data[scales + highSub + 4] >> 4) | ((data[scales + highSub] >> 6) << 4);
        }
        int packed = words[(block + 16 + 4 * inBlock) >> 2];
        int low = superBlock * 256 + pair * 64 + (inBlock & 7) * 4;
        int high = low + 32;
        float lowDot = 0f, lowSum = 0f, highDot = 0f, highSum = 0f;
        for (int k = 0; k < 4; k++)
        {
            int bits = packed >> (8 * k);
            float xLow = x[low + k];
            float xHigh = x[high + k];
            lowDot += (bits & 0xF) * xLow;
            lowSum += xLow;
            highDot += ((bits >> 4) & 0xF) * xHigh;
            highSum += xHigh;
        }
        return d * (lowScale * lowDot + highScale * highDot) - dmin * (lowMin * lowSum + highMin * highSum);
    }
}

/// <summary>
/// GGML_TYPE_Q6_K: super-blocks of 256, { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d } (210 bytes);
/// w = d * scales[is] * (q - 32) with q's low 4 bits from ql and high 2 from qh (ggml's dequantize_row_q6_K).
/// </summary>
internal struct Q6_KDevice : IDeviceFormat
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Weight(ArrayView<byte> data, long rowStart, int column)
    {
        long block = rowStart + (column >> 8) * 210L;
        int element = column & 255;
        int half = element >> 7;
        int quarter = (element >> 5) & 3;
        int lane = element & 31;
        int low = data[block + 64 * half + lane + 32 * (quarter & 1)];
        int nibble = quarter >= 2 ? low >> 4 : low & 0xF;
        int highBits = (data[block + 128 + 32 * half + lane] >> (2 * quarter)) & 3;
        int quant = (nibble | (highBits << 4)) - 32;
        int scale = (sbyte)data[block + 192 + 8 * half + (lane >> 4) + 2 * quarter];
        return DeviceBytes.Half(data, block + 208) * scale * quant;
    }

    /// <summary>
    /// Work in 32 units of a super-block: unit u is (half h = u / 16, lanes l = 2·(u % 16), l + 1), i.e. the 16-bit
    /// words ql[64h + l], ql[64h + l + 32] and qh[32h + l] (blocks are 210 bytes, so only 2-byte aligned), which hold
    /// elements 128h + 32q + l + {0, 1} for the four quarters q; a 32-lane warp covers one super-block per step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes) =>
        MatVecKernels.UnrolledDot<Q6_KDevice>(data, rowStart, columns, x, lane, lanes);

    public int Units(int columns) => (columns >> 8) * 32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float UnitDot(ArrayView<byte> data, long rowStart, ArrayView<float> x, int unit)
    {
        var halves = data.Cast<ushort>();
        int superBlock = unit >> 5;
        int inBlock = unit & 31;
        int half = inBlock >> 4;
        int l = 2 * (inBlock & 15);
        long block = rowStart + superBlock * 210L;
        int lowFirst = halves[(block + 64 * half + l) >> 1];
        int lowSecond = halves[(block + 64 * half + l + 32) >> 1];
        int highBits = halves[(block + 128 + 32 * half + l) >> 1];
        long scales = block + 192 + 8 * half + (l >> 4);
        int column = superBlock * 256 + 128 * half + l;
        float partial = 0f;
        for (int quarter = 0; quarter < 4; quarter++)
        {
            int low = (quarter & 1) == 0 ? lowFirst : lowSecond;
            int shift = quarter >= 2 ? 4 : 0;
            int q0 = (((low >> shift) & 0xF) | (((highBits >> (2 * quarter)) & 3) << 4)) - 32;
            int q1 = (((low >> (8 + shift)) & 0xF) | (((highBits >> (8 + 2 * quarter)) & 3) << 4)) - 32;
            int at = column + 32 * quarter;
            partial += (sbyte)data[scales + 2 * quarter] * (q0 * x[at] + q1 * x[at + 1]);
        }
        return HalfBits.ToSingle(halves[(block + 208) >> 1]) * partial;
    }
}
