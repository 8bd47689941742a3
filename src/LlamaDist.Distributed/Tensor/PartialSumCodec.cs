using System.Runtime.InteropServices;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tensor;

/// <summary>
/// Partial sums [tokens, n_embd] on the wire between shards: F32 (exact, 4 bytes per value), F16 (2 bytes, each
/// value rounded to nearest even, relative error at most 2^-11) or ggml's Q8_0
/// blocks (34 bytes per 32 values; each value within half a step plus the scale's f16 rounding,
/// 0.57 x |block max| / 127, of the original). A shard
/// sums what its peers decode, and its own partial as they decode it (<see cref="RoundTrip"/>), so every shard
/// adds the same numbers in the same order and their residual streams stay bit-identical in either encoding.
/// </summary>
public static class PartialSumCodec
{
    /// <summary>Bytes <paramref name="values"/> floats take in <paramref name="encoding"/>.</summary>
    public static int EncodedBytes(ReductionEncoding encoding, int values) => encoding switch
    {
        ReductionEncoding.F32 => checked(values * sizeof(float)),
        ReductionEncoding.F16 => checked(values * sizeof(ushort)),
        ReductionEncoding.Q80 => checked((int)GgmlTypeInfo.RowBytes(GgmlType.Q8_0, values)),
        _ => throw new ArgumentOutOfRangeException(nameof(encoding), encoding, "Partial sums travel as F32, F16 or Q8_0."),
    };

    /// <summary>Whether rows of <paramref name="embeddingLength"/> values can use <paramref name="encoding"/> (Q8_0: whole blocks of 32).</summary>
    public static bool Supports(ReductionEncoding encoding, int embeddingLength) => encoding switch
    {
        ReductionEncoding.F32 or ReductionEncoding.F16 => true,
        ReductionEncoding.Q80 => embeddingLength % GgmlTypeInfo.BlockSize(GgmlType.Q8_0) == 0,
        _ => false,
    };

    /// <summary>Encodes <paramref name="values"/> into exactly <see cref="EncodedBytes"/> bytes of <paramref name="destination"/>.</summary>
    public static void Encode(ReductionEncoding encoding, ReadOnlySpan<float> values, Span<byte> destination)
    {
        int bytes = EncodedBytes(encoding, values.Length);
        if (destination.Length != bytes)
        {
            throw new ArgumentException($"{values.Length} values take {bytes} bytes in {encoding}, not {destination.Length}.", nameof(destination));
        }
        if (encoding == ReductionEncoding.F32)
        {
            MemoryMarshal.AsBytes(values).CopyTo(destination);
            return;
        }
        Quantizer.QuantizeRow(encoding == ReductionEncoding.F16 ? GgmlType.F16 : GgmlType.Q8_0, values, destination);
    }

    /// <summary>
    /// Decodes <paramref name="data"/> into <paramref name="values"/>; a payload of the wrong size is an
    /// <see cref="ArgumentException"/> (the caller checks lengths before trusting a peer's message).
    /// </summary>
    public static void Decode(ReductionEncoding encoding, ReadOnlySpan<byte> data, Span<float> values)
    {
        if (data.Length != EncodedBytes(encoding, values.Length))
        {
            throw new ArgumentException($"A partial sum of {values.Length} values takes {EncodedBytes(encoding, values.Length)} bytes in {encoding}, not {data.Length}.", nameof(data));
        }
        if (encoding == ReductionEncoding.F32)
        {
            MemoryMarshal.Cast<byte, float>(data).CopyTo(values);
            return;
        }
        Quantizer.DequantizeRow(encoding == ReductionEncoding.F16 ? GgmlType.F16 : GgmlType.Q8_0, data, values);
    }

    /// <summary>The values as a peer decodes them: unchanged in F32, rounded to F16 or through Q8_0 otherwise.</summary>
    public static void RoundTrip(ReductionEncoding encoding, Span<float> values)
    {
        if (encoding == ReductionEncoding.F32)
        {
            return;
        }
        GgmlType type = encoding == ReductionEncoding.F16 ? GgmlType.F16 : GgmlType.Q8_0;
        var bytes = new byte[EncodedBytes(encoding, values.Length)];
        Quantizer.QuantizeRow(type, values, bytes);
        Quantizer.DequantizeRow(type, bytes, values);
    }
}
