using LlamaDist.Core.Model;
using LlamaDist.Core.Numerics;
using Xunit;

namespace LlamaDist.Core.Tests.Numerics;

public class RopeTests
{
    [Fact]
    public void RotatesAdjacentPairsByPositionTimesInverseFrequency()
    {
        // headDim 4, base 10000: theta_0 = pos, theta_1 = pos * 10000^(-2/4) = pos * 0.01. Position 3.
        float[] values = [1, 0, 0, 1, /* head 1 */ 1, 2, 3, 4];
        Rope.ApplyNormal(values, headCount: 2, headDim: 4, position: 3, ropeDimensions: 4, freqBase: 10000f);
        double c0 = Math.Cos(3), s0 = Math.Sin(3), c1 = Math.Cos(0.03), s1 = Math.Sin(0.03);
        double[] expected =
        [
            c0, s0, -s1, c1,
            1 * c0 - 2 * s0, 1 * s0 + 2 * c0, 3 * c1 - 4 * s1, 3 * s1 + 4 * c1,
        ];
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], values[i], 1e-6); // float rounding of products and angles
        }
    }

    [Fact]
    public void PositionZeroIsTheIdentity()
    {
        float[] values = [0.1f, -0.2f, 0.3f, -0.4f, 5f, 6f];
        float[] copy = (float[])values.Clone();
        Rope.ApplyNormal(values, 1, 6, 0, 6, 10000f);
        Assert.Equal(copy, values);
    }

    [Fact]
    public void DimensionsBeyondRopeDimensionsAreUnchanged()
    {
        // Only the first pair rotates (ropeDimensions 2, so theta_0 = pos and there is no second frequency).
        float[] values = [1, 0, 7, 8, /* head 1 */ 0, 1, 9, 10];
        Rope.ApplyNormal(values, 2, 4, 2, 2, 10000f);
        Assert.Equal(Math.Cos(2), values[0], 6);
        Assert.Equal(Math.Sin(2), values[1], 6);
        Assert.Equal(-Math.Sin(2), values[4], 6);
        Assert.Equal(Math.Cos(2), values[5], 6);
        Assert.Equal(new float[] { 7, 8 }, values[2..4]);
        Assert.Equal(new float[] { 9, 10 }, values[6..8]);
    }

    [Fact]
    public void AnglesAreBuiltInFloatLikeGgml()
    {
        // theta_0 = (float)pos and theta_1 = pos * powf(base, -2/n_dims) in float, then cosf/sinf.
        var values = new float[128];
        values[0] = 1f;
        values[2] = 1f;
        Rope.ApplyNormal(values, 1, 128, 1000, 128, 10000f);
        float theta1 = 1000f * MathF.Pow(10000f, -2f / 128f);
        Assert.Equal(MathF.Cos(1000f), values[0]);
        Assert.Equal(MathF.Sin(1000f), values[1]);
        Assert.Equal(MathF.Cos(theta1), values[2]);
        Assert.Equal(MathF.Sin(theta1), values[3]);
    }

    [Fact]
    public void RejectsInvalidShapes()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Rope.ApplyNormal(new float[8], 2, 4, 0, 3, 10000f));
        Assert.Throws<ArgumentOutOfRangeException>(() => Rope.ApplyNormal(new float[8], 2, 4, 0, 6, 10000f));
        Assert.Throws<ArgumentException>(() => Rope.ApplyNormal(new float[7], 2, 4, 0, 4, 10000f));
    }

    [Fact]
    public void NeoXPairsEachValueWithTheOneHalfTheRotatedWidthAway()
    {
        const int headDim = 8, rotated = 6, position = 5;
        float[] values = Enumerable.Range(1, headDim).Select(i => i * 0.25f).ToArray();
        float[] rotatedValues = (float[])values.Clone();
        Rope.Apply(rotatedValues, 1, headDim, position, rotated, 10000f, RopeStyle.NeoX, ReadOnlySpan<float>.Empty);

        float thetaScale = MathF.Pow(10000f, -2f / rotated);
        float theta = position;
        for (int i = 0; i < rotated / 2; i++)
        {
            float x0 = values[i], x1 = values[i + rotated / 2];
            Assert.Equal(x0 * MathF.Cos(theta) - x1 * MathF.Sin(theta), rotatedValues[i]);
            Assert.Equal(x0 * MathF.Sin(theta) + x1 * MathF.Cos(theta), rotatedValues[i + rotated / 2]);
            theta *= thetaScale;
        }
        Assert.Equal(values[6..], rotatedValues[6..]);  // beyond n_rot: unchanged
    }

    [Fact]
    public void FrequencyFactorsDivideEachPairsAngle()
    {
        const int headDim = 4, position = 9;
        float[] factors = [1f, 8f];
        float[] values = [0.5f, -1f, 2f, 0.25f];
        float[] scaled = (float[])values.Clone();
        Rope.Apply(scaled, 1, headDim, position, headDim, 500000f, RopeStyle.Normal, factors);

        float theta1 = position * MathF.Pow(500000f, -2f / headDim);
        Assert.Equal(values[0] * MathF.Cos(position) - values[1] * MathF.Sin(position), scaled[0]);
        Assert.Equal(values[2] * MathF.Cos(theta1 / 8f) - values[3] * MathF.Sin(theta1 / 8f), scaled[2]);
        Assert.Throws<ArgumentException>(() => Rope.Apply(new float[4], 1, 4, 1, 4, 10000f, RopeStyle.Normal, new float[3]));
    }
}
