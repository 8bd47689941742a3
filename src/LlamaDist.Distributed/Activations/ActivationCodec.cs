using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Google.Protobuf;
using LlamaDist.Core.Quantization;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Activations;

/// <summary>
/// Maps a hidden state, row-major float[tokenCount, embeddingLength], to the bytes of a
/// <see cref="HiddenState"/> message and back. F32 is exact (4 bytes per value) and the default, as llama.cpp's
/// RPC hands off F32; F16 halves the bytes on the wire (2 per value, ≈ n_embd × 2 bytes per token) and rounds each
/// value to the nearest binary16, ties to even, as ggml's own f32→f16 conversion does; Q8_0 is ggml's 8-bit block
/// format (each token's row cut into blocks of 32 values, each block an f16 scale and 32 signed bytes: 34 bytes per
/// 32 values, ≈ n_embd × 1.06 bytes per token; a row whose width is not a multiple of 32 ends with a block padded with
/// zeros). All are little endian whatever the machine's byte order.
/// </summary>
public static class ActivationCodec
{
    /// <summary>Bytes one value takes in the element-wise encodings: 4 for F32, 2 for F16 (Q8_0 is block-wise: see <see cref="RowBytes"/>).</summary>
    public static int BytesPerValue(ActivationEncoding encoding) => encoding switch
    {
        ActivationEncoding.F32 => sizeof(float),
        ActivationEncoding.F16 => 2,
        _ => throw new ActivationPayloadException(
            $"Activation encoding {encoding} ({(int)encoding}) is not one this worker can read element by element; expected F32 or F16."),
    };

    /// <summary>Bytes one token's row of <paramref name="embeddingLength"/> values takes in <paramref name="encoding"/>.</summary>
    public static long RowBytes(ActivationEncoding encoding, int embeddingLength) => encoding switch
    {
        ActivationEncoding.F32 or ActivationEncoding.F16 => (long)embeddingLength * BytesPerValue(encoding),
        ActivationEncoding.Q80 => (long)((embeddingLength + Q8_0Format.BlockSize - 1) / Q8_0Format.BlockSize) * Q8_0Format.BlockBytes,
        _ => throw new ActivationPayloadException(
            $"Activation encoding {encoding} ({(int)encoding}) is not one this worker can read; expected F32, F16 or Q8_0."),
    };

    /// <summary>Payload size of <paramref name="tokenCount"/> tokens of width <paramref name="embeddingLength"/>.</summary>
    public static long PayloadBytes(ActivationEncoding encoding, int tokenCount, int embeddingLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokenCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(embeddingLength);
        return tokenCount * RowBytes(encoding, embeddingLength);
    }

    /// <summary>
    /// Encodes <paramref name="hidden"/> ([tokenCount, embeddingLength], so its length must be the product) into
    /// a new payload. Values beyond ±65504 become ±infinity in F16, as in ggml.
    /// </summary>
    public static ByteString Encode(ReadOnlySpan<float> hidden, int tokenCount, int embeddingLength,
        ActivationEncoding encoding)
    {
        long valueCount = CheckedValueCount(tokenCount, embeddingLength);
        if (hidden.Length != valueCount)
        {
            throw new ArgumentException(
                $"Hidden state holds {hidden.Length} values but [{tokenCount}, {embeddingLength}] needs {valueCount}.",
                nameof(hidden));
        }
        var bytes = new byte[checked(tokenCount * RowBytes(encoding, embeddingLength))];
        switch (encoding)
        {
            case ActivationEncoding.F32:
                WriteF32(hidden, bytes);
                break;
            case ActivationEncoding.F16:
                WriteF16(hidden, bytes);
                break;
            default:
                WriteQ8_0(hidden, tokenCount, embeddingLength, bytes);
                break;
        }
        // The array is never touched again, so wrapping it instead of copying is safe.
        return UnsafeByteOperations.UnsafeWrap(bytes);
    }

    /// <summary>Encodes into a complete message (encoding, width and payload).</summary>
    public static HiddenState ToMessage(ReadOnlySpan<float> hidden, int tokenCount, int embeddingLength,
        ActivationEncoding encoding) => new()
        {
            Encoding = encoding,
            EmbeddingLength = (uint)embeddingLength,
            Data = Encode(hidden, tokenCount, embeddingLength, encoding),
        };

    /// <summary>
    /// Decodes a payload of <paramref name="tokenCount"/> × <paramref name="embeddingLength"/> values into
    /// <paramref name="destination"/> (exactly that long). A payload of any other size is refused with
    /// <see cref="ActivationPayloadException"/>.
    /// </summary>
    public static void Decode(ReadOnlySpan<byte> payload, ActivationEncoding encoding, int tokenCount,
        int embeddingLength, Span<float> destination)
    {
        long valueCount = CheckedValueCount(tokenCount, embeddingLength);
        long expectedBytes = tokenCount * RowBytes(encoding, embeddingLength);
        if (payload.Length != expectedBytes)
        {
            throw new ActivationPayloadException(
                $"Hidden-state payload is {payload.Length} bytes but {tokenCount} tokens × {embeddingLength} values " +
                $"in {encoding} need {expectedBytes} bytes.");
        }
        if (destination.Length != valueCount)
        {
            throw new ArgumentException(
                $"Destination holds {destination.Length} values but the payload has {valueCount}.",
                nameof(destination));
        }
        switch (encoding)
        {
            case ActivationEncoding.F32:
                ReadF32(payload, destination);
                break;
            case ActivationEncoding.F16:
                ReadF16(payload, destination);
                break;
            default:
                ReadQ8_0(payload, tokenCount, embeddingLength, destination);
                break;
        }
    }

    /// <summary>Decodes into a new array [tokenCount × embeddingLength].</summary>
    public static float[] Decode(ByteString payload, ActivationEncoding encoding, int tokenCount, int embeddingLength)
    {
        ArgumentNullException.ThrowIfNull(payload);
        // Size check first: a hostile token count must not make us allocate before the payload is validated.
        CheckedValueCount(tokenCount, embeddingLength);
        long expectedBytes = tokenCount * RowBytes(encoding, embeddingLength);
        if (payload.Length != expectedBytes)
        {
            throw new ActivationPayloadException(
                $"Hidden-state payload is {payload.Length} bytes but {tokenCount} tokens × {embeddingLength} values " +
                $"in {encoding} need {expectedBytes} bytes.");
        }
        var values = new float[(long)tokenCount * embeddingLength];
        Decode(payload.Span, encoding, tokenCount, embeddingLength, values);
        return values;
    }

    /// <summary>
    /// Decodes a message of <paramref name="tokenCount"/> tokens, checking its width against
    /// <paramref name="expectedEmbeddingLength"/> (the model's n_embd).
    /// </summary>
    public static float[] FromMessage(HiddenState message, int tokenCount, int expectedEmbeddingLength)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.EmbeddingLength != expectedEmbeddingLength)
        {
            throw new ActivationPayloadException(
                $"Hidden state is {message.EmbeddingLength} values wide but the model's embedding length is " +
                $"{expectedEmbeddingLength}.");
        }
        return Decode(message.Data, message.Encoding, tokenCount, expectedEmbeddingLength);
    }

    private static long CheckedValueCount(int tokenCount, int embeddingLength)
    {
        if (tokenCount < 0)
        {
            throw new ActivationPayloadException($"Token count {tokenCount} is negative.");
        }
        if (embeddingLength <= 0)
        {
            throw new ActivationPayloadException($"Embedding length {embeddingLength} must be positive.");
        }
        long count = (long)tokenCount * embeddingLength;
        if (count > Array.MaxLength / sizeof(float))
        {
            throw new ActivationPayloadException(
                $"{tokenCount} tokens × {embeddingLength} values is larger than one payload can hold.");
        }
        return count;
    }

    private static void WriteF32(ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(source).CopyTo(destination);
            return;
        }
        for (int i = 0; i < source.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(destination.Slice(i * 4), source[i]);
        }
    }

    private static void ReadF32(ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            source.CopyTo(MemoryMarshal.AsBytes(destination));
            return;
        }
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source.Slice(i * 4));
        }
    }

    private static void WriteF16(ReadOnlySpan<float> source, Span<byte> destination)
    {
        // IEEE conversion as ggml does it: nearest, ties to even; NaN and infinity kept; overflow to infinity.
        if (BitConverter.IsLittleEndian)
        {
            TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<byte, Half>(destination));
            return;
        }
        for (int i = 0; i < source.Length; i++)
        {
            BinaryPrimitives.WriteHalfLittleEndian(destination.Slice(i * 2), (Half)source[i]);
        }
    }

    private static void ReadF16(ReadOnlySpan<byte> source, Span<float> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination);
            return;
        }
        for (int i = 0; i < destination.Length; i++)
        {
            destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(source.Slice(i * 2));
        }
    }

    /// <summary>
    /// Each token's row as ggml's quantize_row_q8_0 writes it (scale = max |x| / 127 stored as f16, each value
    /// round(x / scale)); a row whose width is not a multiple of 32 ends with a block padded with zeros.
    /// </summary>
    private static void WriteQ8_0(ReadOnlySpan<float> source, int tokenCount, int embeddingLength, Span<byte> destination)
    {
        int full = embeddingLength / Q8_0Format.BlockSize * Q8_0Format.BlockSize;
        int rowBytes = (int)RowBytes(ActivationEncoding.Q80, embeddingLength);
        Span<float> tail = stackalloc float[Q8_0Format.BlockSize];
        for (int t = 0; t < tokenCount; t++)
        {
            var row = source.Slice(t * embeddingLength, embeddingLength);
            var output = destination.Slice(t * rowBytes, rowBytes);
            int fullBytes = full / Q8_0Format.BlockSize * Q8_0Format.BlockBytes;
            if (full > 0)
            {
                Q8_0Format.QuantizeRow(row[..full], output[..fullBytes]);
            }
            if (full < embeddingLength)
            {
                tail.Clear();
                row[full..].CopyTo(tail);
                Q8_0Format.QuantizeRow(tail, output[fullBytes..]);
            }
        }
    }

    private static void ReadQ8_0(ReadOnlySpan<byte> source, int tokenCount, int embeddingLength, Span<float> destination)
    {
        int full = embeddingLength / Q8_0Format.BlockSize * Q8_0Format.BlockSize;
        int rowBytes = (int)RowBytes(ActivationEncoding.Q80, embeddingLength);
        Span<float> tail = stackalloc float[Q8_0Format.BlockSize];
        for (int t = 0; t < tokenCount; t++)
        {
            var input = source.Slice(t * rowBytes, rowBytes);
            var row = destination.Slice(t * embeddingLength, embeddingLength);
            int fullBytes = full / Q8_0Format.BlockSize * Q8_0Format.BlockBytes;
            if (full > 0)
            {
                Q8_0Format.DequantizeRow(input[..fullBytes], row[..full]);
            }
            if (full < embeddingLength)
            {
                Q8_0Format.DequantizeRow(input[fullBytes..], tail);
                tail[..(embeddingLength - full)].CopyTo(row[full..]);
            }
        }
    }
}
