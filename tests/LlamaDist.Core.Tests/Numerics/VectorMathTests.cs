using LlamaDist.Core.Numerics;
using Xunit;

namespace LlamaDist.Core.Tests.Numerics;

public class VectorMathTests
{
    [Fact]
    public void RmsNormScalesByInverseRootMeanSquareThenWeight()
    {
        // mean(x^2) = (1 + 4 + 9 + 16) / 4 = 7.5, scale = 1 / sqrt(7.5) = 0.365148371670...
        float[] x = [1, 2, 3, 4];
        float[] weight = [1, 1, 2, 0.5f];
        var y = new float[4];
        VectorMath.RmsNorm(x, weight, 0f, y);
        double[] expected = [0.365148371670, 0.730296743340, 2.190890230020, 0.730296743340];
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(expected[i], y[i], 3e-7); // a few float ulps
        }

        // eps is added to the mean: 1 / sqrt(7.5 + 0.5) = 1 / sqrt(8)
        VectorMath.RmsNorm(x, weight, 0.5f, y);
        Assert.Equal(1.0 / Math.Sqrt(8), y[0], 6);
    }

    [Fact]
    public void RmsNormAccumulatesSquaresInDoubleLikeGgml()
    {
        // 4096^2 + 4096 ones = 4097 * 4096: the mean is exactly 4096 and the scale exactly 1/64. A float
        // accumulator would drop every +1 after 2^24 and give a different scale.
        var x = new float[4097];
        x.AsSpan().Fill(1f);
        x[0] = 4096f;
        var y = new float[x.Length];
        VectorMath.RmsNorm(x, y.Select(_ => 1f).ToArray(), 0f, y);
        Assert.Equal(64f, y[0]);
        Assert.Equal(0.015625f, y[1]);
        VectorMath.RmsNorm(x, 0f, y);
        Assert.Equal(0.015625f, y[4096]);
    }

    [Fact]
    public void RmsNormWorksInPlace()
    {
        float[] x = [3, 4];
        VectorMath.RmsNorm(x, [1, 1], 0f, x); // mean 12.5
        Assert.Equal(3 / Math.Sqrt(12.5), x[0], 6);
        Assert.Equal(4 / Math.Sqrt(12.5), x[1], 6);
        Assert.Throws<ArgumentException>(() => VectorMath.RmsNorm(new float[3], new float[2], 0f, new float[3]));
    }

    [Fact]
    public void SoftmaxMatchesHandComputedValues()
    {
        float[] values = [1, 2, 3];
        VectorMath.Softmax(values);
        Assert.Equal(0.0900305732, values[0], 6);
        Assert.Equal(0.2447284711, values[1], 6);
        Assert.Equal(0.6652409558, values[2], 6);

        float[] large = [1000f, 1000f, float.NegativeInfinity]; // max subtracted, so no overflow; masked -> 0
        VectorMath.Softmax(large);
        Assert.Equal(new[] { 0.5f, 0.5f, 0f }, large);

        float[] oneThird = [0f, MathF.Log(3f)];
        VectorMath.Softmax(oneThird);
        Assert.Equal(0.25, oneThird[0], 6);
        Assert.Equal(0.75, oneThird[1], 6);
    }

    [Fact]
    public void SoftmaxOfALongRowMatchesADoubleReference()
    {
        var random = new Random(42);
        float[] values = Enumerable.Range(0, 1000).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray();
        double max = values.Max();
        double[] exps = values.Select(v => Math.Exp(v - max)).ToArray();
        double total = exps.Sum();
        VectorMath.Softmax(values);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal(exps[i] / total, values[i], exps[i] / total * 1e-5 + 1e-12);
        }
        Assert.Equal(1.0, values.Sum(v => (double)v), 1e-5);
    }

    [Fact]
    public void SiluAndSwiGlu()
    {
        Assert.Equal(0f, VectorMath.Silu(0f));
        Assert.Equal(0.7310585786, VectorMath.Silu(1f), 6);
        Assert.Equal(-0.2384058440, VectorMath.Silu(-2f), 6);

        float[] gate = [1, -2, 0];
        VectorMath.SwiGlu(gate, [2, 3, 5]);
        Assert.Equal(1.4621171573, gate[0], 6);
        Assert.Equal(-0.7152175320, gate[1], 6);
        Assert.Equal(0f, gate[2]);

        float[] values = [1, -2];
        VectorMath.Silu(values);
        Assert.Equal(VectorMath.Silu(1f), values[0]);
        Assert.Equal(VectorMath.Silu(-2f), values[1]);
    }

    [Fact]
    public void AddScaleAndDot()
    {
        float[] a = [1, 2, 3];
        VectorMath.Add(a, [10, 20, 30]);
        Assert.Equal(new float[] { 11, 22, 33 }, a);
        VectorMath.Scale(a, 0.5f);
        Assert.Equal(new float[] { 5.5f, 11, 16.5f }, a);
        Assert.Equal(5.5f * 1 + 11 * 2 + 16.5f * 3, VectorMath.Dot(a, [1, 2, 3]));
        Assert.Throws<ArgumentException>(() => VectorMath.Add(new float[2], new float[3]));
    }

    [Fact]
    public void ArgMaxReturnsTheFirstMaximum()
    {
        Assert.Equal(1, VectorMath.ArgMax([1f, 3f, 2f, 3f]));
        Assert.Equal(0, VectorMath.ArgMax([-5f]));
        Assert.Equal(2, VectorMath.ArgMax([1f, float.NaN, 2f]));
        Assert.Equal(3, VectorMath.ArgMax([float.NegativeInfinity, -1e30f, -2f, -1f]));
        Assert.Throws<ArgumentException>(() => VectorMath.ArgMax([]));
    }
}
