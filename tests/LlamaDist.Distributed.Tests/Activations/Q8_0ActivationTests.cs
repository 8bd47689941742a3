using LlamaDist.Core.Quantization;
using LlamaDist.Distributed.Activations;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tests.Activations;

/// <summary>The Q8_0 hand-off: ggml's block layout per token row, sizes, and the error it may make.</summary>
public sealed class Q8_0ActivationTests
{
    [Theory]
    [InlineData(2048, 64 * 34)]
    [InlineData(32, 34)]
    [InlineData(40, 2 * 34)]  // a row that is not a multiple of 32 ends with a padded block
    [InlineData(8, 34)]
    public void RowBytes_AreBlocksOf34BytesPer32Values(int width, long expected)
    {
        Assert.Equal(expected, ActivationCodec.RowBytes(ActivationEncoding.Q80, width));
        Assert.Equal(3 * expected, ActivationCodec.PayloadBytes(ActivationEncoding.Q80, 3, width));
        Assert.Equal(3 * expected, ActivationCodec.Encode(new float[3 * width], 3, width, ActivationEncoding.Q80).Length);
    }

    [Theory]
    [InlineData(64)]
    [InlineData(40)]
    [InlineData(8)]
    public void RoundTrip_StaysWithinHalfAStepOfEachBlocksScale(int width)
    {
        var random = new Random(7);
        const int tokens = 3;
        var values = Enumerable.Range(0, tokens * width).Select(_ => (float)(random.NextDouble() * 8 - 4)).ToArray();
        var payload = ActivationCodec.Encode(values, tokens, width, ActivationEncoding.Q80);
        var decoded = ActivationCodec.Decode(payload, ActivationEncoding.Q80, tokens, width);
        for (int t = 0; t < tokens; t++)
        {
            for (int start = 0; start < width; start += Q8_0Format.BlockSize)
            {
                var block = values.AsSpan(t * width + start, Math.Min(Q8_0Format.BlockSize, width - start));
                float max = 0;
                foreach (var value in block)
                {
                    max = Math.Max(max, Math.Abs(value));
                }
                float step = max / 127;
                for (int j = 0; j < block.Length; j++)
                {
                    // Half a quantization step, plus the f16 rounding of the scale (2^-11 relative, times 127 steps).
                    Assert.InRange(Math.Abs(decoded[t * width + start + j] - block[j]), 0, step * 0.5f + max * 0.001f);
                }
            }
        }
    }

    [Fact]
    public void Layout_IsGgmlsQuantizeRow()
    {
        var values = Enumerable.Range(0, 32).Select(i => (i - 16) * 0.125f).ToArray();
        var expected = new byte[Q8_0Format.BlockBytes];
        Q8_0Format.QuantizeRow(values, expected);
        Assert.Equal(expected, ActivationCodec.Encode(values, 1, 32, ActivationEncoding.Q80).ToByteArray());
    }

    [Fact]
    public void Decode_RefusesAPayloadOfTheWrongSize()
    {
        var payload = new byte[33];
        Assert.Throws<ActivationPayloadException>(() => ActivationCodec.Decode(payload, ActivationEncoding.Q80, 1, 32, new float[32]));
    }
}
