using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public unsafe class Q8_KFormatTests
{
    [Fact]
    public void ConstantsAgreeWithGgufGeometry()
    {
        Assert.Equal((256, 292), (Q8_KFormat.BlockSize, Q8_KFormat.BlockBytes));
        Assert.Equal((GgmlTypeInfo.BlockSize(GgmlType.Q8_K), GgmlTypeInfo.BlockBytes(GgmlType.Q8_K)),
            (Q8_KFormat.BlockSize, Q8_KFormat.BlockBytes));
        Assert.Equal((4, 260), (Q8_KFormat.QuantsOffset, Q8_KFormat.SumsOffset));
    }

    [Fact]
    public void QuantizeRowMatchesGgmlReferenceOnAKnownBlock()
    {
        var x = new float[512];
        // Block 0: -2 has the largest magnitude and comes first, so iscale = -127 / -2 = 63.5, d = 1 / 63.5.
        x[0] = -2f; x[1] = 2f; x[2] = 1f; x[3] = -1f; x[16] = 0.5f; x[255] = 0.01f;
        // Block 1 stays all zero: d = 0, every quant and sum 0.
        byte[] bytes = KernelTestData.Quantize(GgmlType.Q8_K, x);
        Assert.Equal(2 * 292, bytes.Length);

        Assert.Equal(1f / 63.5f, BitConverter.ToSingle(bytes, 0));
        sbyte[] q = bytes.Skip(4).Take(256).Select(b => (sbyte)b).ToArray();
        // 63.5 and -63.5 round half to even: 64 and -64; 0.5 * 63.5 = 31.75 -> 32; 0.635 -> 1.
        Assert.Equal(new sbyte[] { -127, 127, 64, -64 }, q[..4]);
        Assert.Equal(32, q[16]);
        Assert.Equal(1, q[255]);
        Assert.Equal(6, q.Count(v => v != 0)); // exactly the six non-zero inputs
        short[] sums = Enumerable.Range(0, 16).Select(g => BitConverter.ToInt16(bytes, 260 + 2 * g)).ToArray();
        Assert.Equal(new short[] { 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, sums);
        Assert.All(bytes[292..], b => Assert.Equal(0, b));

        float[] back = KernelTestData.Dequantize(GgmlType.Q8_K, bytes, 512);
        Assert.Equal(-127f / 63.5f, back[0]);
        Assert.Equal(32f / 63.5f, back[16]);
        Assert.All(back[256..], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void PositiveMaximumMapsToMinus127AndSumsMatchQuants()
    {
        float[] values = KernelTestData.RandomFloats(1024, seed: 31, scale: 3f);
        byte[] bytes = KernelTestData.Quantize(GgmlType.Q8_K, values);
        float[] back = KernelTestData.Dequantize(GgmlType.Q8_K, bytes, values.Length);
        for (int block = 0; block < 4; block++)
        {
            int offset = block * 292;
            sbyte[] q = bytes.Skip(offset + 4).Take(256).Select(b => (sbyte)b).ToArray();
            for (int g = 0; g < 16; g++)
            {
                Assert.Equal(q.Skip(g * 16).Take(16).Sum(v => v), BitConverter.ToInt16(bytes, offset + 260 + 2 * g));
            }
            Assert.Equal(127, q.Max(v => Math.Abs((int)v)));
            float amax = values.Skip(block * 256).Take(256).Max(MathF.Abs);
            for (int j = block * 256; j < block * 256 + 256; j++)
            {
                Assert.True(Math.Abs(back[j] - values[j]) <= amax / 254f * 1.0001f, $"element {j}");
            }
        }
    }

    [Fact]
    public void VectorQuantizerWritesTheReferenceBytes()
    {
        // Blocks that stress each step: random rows at several scales; exact ties of the rounding (max = -127
        // and 127 give inverse scales 1 and -1, so x.5 values round half to even); equal magnitudes of both
        // signs (the first one sets the sign); all zeros and negative zeros; tiny and subnormal values;
        // NaN and infinity (handed to the reference loop).
        var blocks = new List<float[]>();
        foreach (float scale in new[] { 1e-36f, 1e-3f, 0.5f, 3f, 1000f, 1e30f })
        {
            for (int seed = 0; seed < 8; seed++)
            {
                blocks.Add(KernelTestData.RandomFloats(256, seed: 500 + seed, scale: scale));
            }
        }
        foreach (float max in new[] { -127f, 127f })
        {
            float[] ties = Enumerable.Range(0, 256).Select(i => (i % 254 - 127) + 0.5f * (i % 2)).ToArray();
            ties[0] = max;
            for (int i = 1; i < 256; i++) ties[i] = Math.Clamp(ties[i], -126.5f, 126.5f);
            blocks.Add(ties);
        }
        float[] signs = KernelTestData.RandomFloats(256, seed: 9, scale: 1f);
        signs[40] = -20f; signs[41] = 20f; signs[200] = 20f;
        blocks.Add(signs);
        float[] signsReversed = (float[])signs.Clone();
        signsReversed[40] = 20f; signsReversed[41] = -20f;
        blocks.Add(signsReversed);
        blocks.Add(new float[256]);
        blocks.Add(Enumerable.Repeat(-0f, 256).ToArray());
        float[] tiny = KernelTestData.RandomFloats(256, seed: 10, scale: 1e-38f);
        tiny[7] = float.Epsilon;
        blocks.Add(tiny);
        float[] withNaN = KernelTestData.RandomFloats(256, seed: 11, scale: 1f);
        withNaN[100] = float.NaN;
        blocks.Add(withNaN);
        float[] withInfinity = KernelTestData.RandomFloats(256, seed: 12, scale: 1f);
        withInfinity[3] = float.NegativeInfinity;
        blocks.Add(withInfinity);

        float[] row = blocks.SelectMany(b => b).ToArray();
        byte[] actual = KernelTestData.Quantize(GgmlType.Q8_K, row);
        var expected = new byte[actual.Length];
        fixed (float* x = row)
        fixed (byte* e = expected)
        {
            for (int b = 0; b < blocks.Count; b++)
            {
                Q8_KFormat.QuantizeBlockScalar(x + b * 256, e + b * Q8_KFormat.BlockBytes);
            }
        }
        for (int b = 0; b < blocks.Count; b++)
        {
            Assert.True(expected.AsSpan(b * 292, 292).SequenceEqual(actual.AsSpan(b * 292, 292)), $"block {b}");
        }
    }

    [Fact]
    public void RowsThatAreNotWholeSuperBlocksAreRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => Q8_KFormat.QuantizeRow(new float[288], new byte[2 * 292]));
        Assert.Contains("256", error.Message);
    }
}
