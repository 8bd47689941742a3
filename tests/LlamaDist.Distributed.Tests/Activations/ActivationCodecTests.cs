using Google.Protobuf;
using LlamaDist.Distributed.Activations;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tests.Activations;

public sealed class ActivationCodecTests
{
    [Theory]
    [InlineData(ActivationEncoding.F32, 4)]
    [InlineData(ActivationEncoding.F16, 2)]
    public void BytesPerValue_MatchesEncoding(ActivationEncoding encoding, int expected)
    {
        Assert.Equal(expected, ActivationCodec.BytesPerValue(encoding));
    }

    [Fact]
    public void PayloadBytes_OneTinyLlamaTokenInF16_Is4096()
    {
        // TinyLlama n_embd = 2048: one decode hop carries 2048 × 2 bytes.
        Assert.Equal(4096, ActivationCodec.PayloadBytes(ActivationEncoding.F16, 1, 2048));
        Assert.Equal(3L * 2048 * 4, ActivationCodec.PayloadBytes(ActivationEncoding.F32, 3, 2048));
        Assert.Equal(4096, ActivationCodec.Encode(new float[2048], 1, 2048, ActivationEncoding.F16).Length);
        Assert.Equal(24576, ActivationCodec.Encode(new float[3 * 2048], 3, 2048, ActivationEncoding.F32).Length);
    }

    [Fact]
    public void F32_RoundTripIsBitExact_IncludingSpecialValues()
    {
        float[] values =
        [
            0f, -0f, 1f, -1.5f, float.Epsilon, -float.Epsilon, 1e-40f, float.MaxValue, float.MinValue,
            float.PositiveInfinity, float.NegativeInfinity, BitConverter.Int32BitsToSingle(0x7FC01234),
            3.14159265f, -2.7182817f,
        ];
        var payload = ActivationCodec.Encode(values, 2, 7, ActivationEncoding.F32);
        float[] decoded = ActivationCodec.Decode(payload, ActivationEncoding.F32, 2, 7);
        Assert.Equal(
            values.Select(BitConverter.SingleToInt32Bits),
            decoded.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void F32_IsLittleEndian()
    {
        // 1.0f = 0x3F800000; -2.0f = 0xC0000000
        var payload = ActivationCodec.Encode([1f, -2f], 1, 2, ActivationEncoding.F32);
        Assert.Equal(new byte[] { 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0 }, payload.ToByteArray());
    }

    [Fact]
    public void F16_IsLittleEndian()
    {
        // binary16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 (largest finite) = 0x7BFF, 0.5 = 0x3800
        var payload = ActivationCodec.Encode([1f, -2f, 65504f, 0.5f], 2, 2, ActivationEncoding.F16);
        Assert.Equal(new byte[] { 0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x00, 0x38 }, payload.ToByteArray());
    }

    [Theory]
    // Exactly half an f16 ulp above 1.0 (ulp 2^-10): tie, rounds to the even mantissa, 1.0.
    [InlineData(1.0 + 1.0 / 2048, 1.0)]
    // 1 + 3 × 2^-11 lies halfway between 1 + 2^-10 (odd mantissa) and 1 + 2^-9 (even): goes up to even.
    [InlineData(1.0 + 3.0 / 2048, 1.0 + 2.0 / 1024)]
    // Just above the tie: rounds up.
    [InlineData(1.0 + 1.0 / 2048 + 1.0 / 1048576, 1.0 + 1.0 / 1024)]
    // Just below the tie: rounds down.
    [InlineData(1.0 + 1.0 / 2048 - 1.0 / 1048576, 1.0)]
    // Halfway between 65504 and 65536 (which would overflow): ties to even overflows to infinity, as IEEE says.
    [InlineData(65520.0, double.PositiveInfinity)]
    [InlineData(65519.0, 65504.0)]
    [InlineData(-70000.0, double.NegativeInfinity)]
    // Smallest f16 subnormal is 2^-24; half of it ties to zero (even).
    [InlineData(1.0 / 33554432, 0.0)]
    [InlineData(3.0 / 33554432, 2.0 / 16777216)]
    public void F16_RoundsToNearestTiesToEven(double input, double expected)
    {
        var payload = ActivationCodec.Encode([(float)input], 1, 1, ActivationEncoding.F16);
        float decoded = ActivationCodec.Decode(payload, ActivationEncoding.F16, 1, 1)[0];
        Assert.Equal((float)expected, decoded);
    }

    [Fact]
    public void F16_RoundTripMatchesHalfConversionAndStaysWithinHalfAnUlp()
    {
        var random = new Random(1234);
        const int tokens = 5, width = 67; // odd width: exercises vector tails
        var values = new float[tokens * width];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2 - 1) * Math.Pow(10, random.Next(-3, 4)));
        }
        float[] decoded = ActivationCodec.Decode(
            ActivationCodec.Encode(values, tokens, width, ActivationEncoding.F16), ActivationEncoding.F16, tokens, width);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal((float)(Half)values[i], decoded[i]);
            if (Math.Abs(values[i]) >= 6.103515625e-05) // normal f16 range: relative error ≤ 2^-11
            {
                Assert.True(Math.Abs(decoded[i] - values[i]) <= Math.Abs(values[i]) / 2048,
                    $"value {values[i]} decoded as {decoded[i]}");
            }
        }
    }

    [Fact]
    public void F16_KeepsInfinityAndNaN()
    {
        float[] decoded = ActivationCodec.Decode(
            ActivationCodec.Encode([float.PositiveInfinity, float.NegativeInfinity, float.NaN], 1, 3,
                ActivationEncoding.F16),
            ActivationEncoding.F16, 1, 3);
        Assert.Equal(float.PositiveInfinity, decoded[0]);
        Assert.Equal(float.NegativeInfinity, decoded[1]);
        Assert.True(float.IsNaN(decoded[2]));
    }

    [Fact]
    public void Decode_RefusesPayloadOfWrongSize()
    {
        var payload = ByteString.CopyFrom(new byte[10]);
        var error = Assert.Throws<ActivationPayloadException>(
            () => ActivationCodec.Decode(payload, ActivationEncoding.F16, 2, 3));
        Assert.Contains("10 bytes", error.Message);
        Assert.Contains("12 bytes", error.Message);
        Assert.Throws<ActivationPayloadException>(
            () => ActivationCodec.Decode(payload, ActivationEncoding.F32, int.MaxValue, int.MaxValue));
    }

    [Fact]
    public void Decode_RefusesUnspecifiedEncoding()
    {
        var error = Assert.Throws<ActivationPayloadException>(
            () => ActivationCodec.Decode(ByteString.CopyFrom(new byte[8]), ActivationEncoding.Unspecified, 1, 2));
        Assert.Contains("Unspecified", error.Message);
    }

    [Fact]
    public void Encode_RefusesHiddenStateOfWrongLength()
    {
        Assert.Throws<ArgumentException>(() => ActivationCodec.Encode(new float[5], 2, 3, ActivationEncoding.F32));
    }

    [Fact]
    public void Message_SurvivesProtobufSerialization()
    {
        float[] values = Enumerable.Range(0, 2 * 8).Select(i => i * 0.25f - 1f).ToArray();
        HiddenState message = ActivationCodec.ToMessage(values, 2, 8, ActivationEncoding.F16);
        Assert.Equal(8u, message.EmbeddingLength);
        Assert.Equal(ActivationEncoding.F16, message.Encoding);

        HiddenState parsed = HiddenState.Parser.ParseFrom(message.ToByteArray());
        // Quarter steps between -1 and 3 are exact in f16.
        Assert.Equal(values, ActivationCodec.FromMessage(parsed, 2, 8));
    }

    [Fact]
    public void FromMessage_RefusesOtherEmbeddingLength()
    {
        HiddenState message = ActivationCodec.ToMessage(new float[8], 1, 8, ActivationEncoding.F32);
        var error = Assert.Throws<ActivationPayloadException>(() => ActivationCodec.FromMessage(message, 1, 16));
        Assert.Contains("16", error.Message);
    }
}
