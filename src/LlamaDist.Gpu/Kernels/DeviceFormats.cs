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
}

/// <summary>GGML_TYPE_F16: 2-byte halves.</summary>
internal struct F16Device : IDeviceFormat
{
    public float Weight(ArrayView<byte> data, long rowStart, int column) =>
        HalfBits.ToSingle(data.Cast<ushort>()[rowStart / 2 + column]);
}

/// <summary>GGML_TYPE_Q8_0: blocks of 32, { half d; int8 qs[32] } (34 bytes); w = d * q.</summary>
internal struct Q8_0Device : IDeviceFormat
{
    public float Weight(ArrayView<byte> data, long rowStart, int column)
    {
        long block = rowStart + (column >> 5) * 34L;
        return DeviceBytes.Half(data, block) * (sbyte)data[block + 2 + (column & 31)];
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
}
