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
}

/// <summary>Little-endian reads from a byte view.</summary>
internal static class DeviceBytes
{
    public static int UInt16(ArrayView<byte> data, long offset) => data[offset] | (data[offset + 1] << 8);

    public static float Half(ArrayView<byte> data, long offset) => HalfBits.ToSingle(UInt16(data, offset));
}

/// <summary>GGML_TYPE_F32: 4-byte floats.</summary>
internal struct F32Device : IDeviceFormat
{
    public float Weight(ArrayView<byte> data, long rowStart, int column) => data.Cast<float>()[rowStart / 4 + column];

    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes)
    {
        var values = data.Cast<float>();
        long first = rowStart / 4;
        float sum = 0f;
        for (int column = lane; column < columns; column += lanes)
        {
            sum += values[first + column] * x[column];
        }
        return sum;
    }
}

/// <summary>GGML_TYPE_F16: 2-byte halves.</summary>
internal struct F16Device : IDeviceFormat
{
    public float Weight(ArrayView<byte> data, long rowStart, int column) =>
        HalfBits.ToSingle(data.Cast<ushort>()[rowStart / 2 + column]);

    /// <summary>Two halves per 32-bit word; a row that does not start on a word (odd width) goes element by element.</summary>
    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes)
    {
        if ((rowStart & 3) != 0)
        {
            return MatVecKernels.ElementDot<F16Device>(data, rowStart, columns, x, lane, lanes);
        }
        var words = data.Cast<int>();
        long first = rowStart / 4;
        int pairs = columns >> 1;
        float sum = 0f;
        for (int pair = lane; pair < pairs; pair += lanes)
        {
            int word = words[first + pair];
            int column = 2 * pair;
            sum += HalfBits.ToSingle(word & 0xFFFF) * x[column] + HalfBits.ToSingle((word >> 16) & 0xFFFF) * x[column + 1];
        }
        if ((columns & 1) != 0 && lane == 0)
        {
            sum += Weight(data, rowStart, columns - 1) * x[columns - 1];
        }
        return sum;
    }
}

/// <summary>GGML_TYPE_Q8_0: blocks of 32, { half d; int8 qs[32] } (34 bytes); w = d * q.</summary>
internal struct Q8_0Device : IDeviceFormat
{
    public float Weight(ArrayView<byte> data, long rowStart, int column)
    {
        long block = rowStart + (column >> 5) * 34L;
        return DeviceBytes.Half(data, block) * (sbyte)data[block + 2 + (column & 31)];
    }

    /// <summary>
    /// Work in quarter blocks (8 quants, four 16-bit words: blocks are only 2-byte aligned): lane l takes quarters
    /// l, l + lanes, ..., so a 32-lane warp reads eight whole blocks (272 bytes) per step.
    /// </summary>
    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes)
    {
        var halves = data.Cast<ushort>();
        int quarters = (columns >> 5) * 4;
        float sum = 0f;
        for (int quarter = lane; quarter < quarters; quarter += lanes)
        {
            int block = quarter >> 2;
            int part = quarter & 3;
            long start = (rowStart + block * 34L) >> 1;
            float scale = HalfBits.ToSingle(halves[start]);
            long quants = start + 1 + 4 * part;
            int column = block * 32 + part * 8;
            float partial = 0f;
            for (int word = 0; word < 4; word++)
            {
                int packed = halves[quants + word];
                partial += (sbyte)(packed & 0xFF) * x[column + 2 * word] + (sbyte)(packed >> 8) * x[column + 2 * word + 1];
            }
            sum += scale * partial;
        }
        return sum;
    }
}

/// <summary>GGML_TYPE_Q4_0: blocks of 32, { half d; uint8 qs[16] } (18 bytes); element j &lt; 16 the low nibble of qs[j], else the high nibble of qs[j - 16]; w = d * (q - 8).</summary>
internal struct Q4_0Device : IDeviceFormat
{
    public float Weight(ArrayView<byte> data, long rowStart, int column)
    {
        long block = rowStart + (column >> 5) * 18L;
        int j = column & 31;
        int packed = data[block + 2 + (j & 15)];
        int quant = j < 16 ? packed & 0xF : packed >> 4;
        return DeviceBytes.Half(data, block) * (quant - 8);
    }

    /// <summary>
    /// Work in quarter blocks: quarter p holds qs[4p, 4p + 4) (two 16-bit words), whose low nibbles are columns
    /// 4p.. and high nibbles 16 + 4p..; a 32-lane warp reads eight whole blocks (144 bytes) per step.
    /// </summary>
    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes)
    {
        var halves = data.Cast<ushort>();
        int quarters = (columns >> 5) * 4;
        float sum = 0f;
        for (int quarter = lane; quarter < quarters; quarter += lanes)
        {
            int block = quarter >> 2;
            int part = quarter & 3;
            long start = (rowStart + block * 18L) >> 1;
            float scale = HalfBits.ToSingle(halves[start]);
            int packed = halves[start + 1 + 2 * part] | (halves[start + 2 + 2 * part] << 16);
            int low = block * 32 + part * 4;
            int high = low + 16;
            float partial = 0f;
            for (int k = 0; k < 4; k++)
            {
                int bits = packed >> (8 * k);
                partial += ((bits & 0xF) - 8) * x[low + k] + (((bits >> 4) & 0xF) - 8) * x[high + k];
            }
            sum += scale * partial;
        }
        return sum;
    }
}

/// <summary>
/// GGML_TYPE_Q4_K: super-blocks of 256, { half d; half dmin; uint8 scales[12]; uint8 qs[128] } (144 bytes), eight
/// sub-blocks of 32 with 6-bit scales and mins; w = d * sc * q - dmin * m (ggml's dequantize_row_q4_K).
/// </summary>
internal struct Q4_KDevice : IDeviceFormat
{
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

    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes) =>
        MatVecKernels.ElementDot<Q4_KDevice>(data, rowStart, columns, x, lane, lanes);
}

/// <summary>
/// GGML_TYPE_Q6_K: super-blocks of 256, { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d } (210 bytes);
/// w = d * scales[is] * (q - 32) with q's low 4 bits from ql and high 2 from qh (ggml's dequantize_row_q6_K).
/// </summary>
internal struct Q6_KDevice : IDeviceFormat
{
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

    public float LaneDot(ArrayView<byte> data, long rowStart, int columns, ArrayView<float> x, int lane, int lanes) =>
        MatVecKernels.ElementDot<Q6_KDevice>(data, rowStart, columns, x, lane, lanes);
}
