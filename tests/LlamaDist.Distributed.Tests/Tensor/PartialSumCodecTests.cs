using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tensor;

namespace LlamaDist.Distributed.Tests.Tensor;

/// <summary>Partial sums on the wire: sizes, exactness of F32, the error bounds of F16 and Q8_0, and refusals.</summary>
public sealed class PartialSumCodecTests
{
    private static float[] Values(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
    }

    [Theory]
    [InlineData(ReductionEncoding.F32, 256, 1024)]
    [InlineData(ReductionEncoding.F16, 256, 512)]
    [InlineData(ReductionEncoding.Q80, 256, 272)]
    public void Encoded_sizes_are_those_the_protocol_states(ReductionEncoding encoding, int values, int bytes)
    {
        Assert.Equal(bytes, PartialSumCodec.EncodedBytes(encoding, values));
        PartialSumCodec.Encode(encoding, Values(values, 1), new byte[bytes]);
        Assert.Throws<ArgumentException>(() => PartialSumCodec.Encode(encoding, Values(values, 1), new byte[bytes + 1]));
    }

    [Theory]
    [InlineData(ReductionEncoding.F32)]
    [InlineData(ReductionEncoding.F16)]
    [InlineData(ReductionEncoding.Q80)]
    public void Decoding_gives_what_the_sender_sums_itself_and_stays_within_the_encoding_error(ReductionEncoding encoding)
    {
        float[] original = Values(512, 2);
        var decoded = new float[original.Length];
        var encoded = new byte[PartialSumCodec.EncodedBytes(encoding, original.Length)];
        PartialSumCodec.Encode(encoding, original, encoded);
        PartialSumCodec.Decode(encoding, encoded, decoded);

        // The sender adds its own partial as its peers decode it: the same numbers on every shard.
        float[] own = (float[])original.Clone();
        PartialSumCodec.RoundTrip(encoding, own);
        Assert.Equal(decoded, own);

        for (int block = 0; block < original.Length; block += 32)
        {
            float largest = original.Skip(block).Take(32).Max(Math.Abs);
            for (int i = block; i < block + 32; i++)
            {
                float bound = encoding switch
                {
                    ReductionEncoding.F32 => 0f,
                    ReductionEncoding.F16 => Math.Abs(original[i]) * MathF.Pow(2, -11),
                    _ => largest / 127 * 0.57f,  // half a step of the scale largest / 127, plus that scale's rounding to F16 (127 x 2^-11)
                };
                Assert.True(Math.Abs(decoded[i] - original[i]) <= bound, $"{encoding} value {i}: {original[i]} came back as {decoded[i]}");
            }
        }
    }

    [Fact]
    public void A_payload_of_the_wrong_size_or_an_unknown_encoding_is_refused()
    {
        var values = new float[64];
        Assert.Throws<ArgumentException>(() => PartialSumCodec.Decode(ReductionEncoding.F32, new byte[255], values));
        Assert.Throws<ArgumentException>(() => PartialSumCodec.Decode(ReductionEncoding.Q80, new byte[64 * 4], values));
        Assert.Throws<ArgumentOutOfRangeException>(() => PartialSumCodec.EncodedBytes(ReductionEncoding.Unspecified, 64));
        Assert.False(PartialSumCodec.Supports(ReductionEncoding.Q80, 100));
        Assert.True(PartialSumCodec.Supports(ReductionEncoding.F16, 100));
    }
}
