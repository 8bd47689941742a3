using ILGPU;
using ILGPU.Runtime;
using LlamaDist.Gpu.Kernels;
using Half = System.Half;

namespace LlamaDist.Gpu.Tests;

/// <summary>
/// The attention kernel's own layouts against the CPU engine's steps written out in double: both ways it forms the
/// output (a group of slices × head dimension threads when the head fits in the group, threads striding the
/// dimensions otherwise), grouped-query heads, a causal micro-batch after cached positions, and a sliding window.
/// On ILGPU's CPU accelerator the group is two threads, so heads of one and two dimensions take the sliced path.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class AttentionKernelTests(IlgpuCpuFixture fixture)
{
    private readonly Accelerator accelerator = fixture.Backend.Accelerator;
    private readonly IlgpuKernels kernels = fixture.Backend.Kernels;

    [Theory]
    [InlineData(1, 0, false)]
    [InlineData(2, 0, false)]
    [InlineData(1, 4, true)]
    [InlineData(8, 0, false)]
    [InlineData(8, 5, true)]
    public void AttentionAgreesWithTheCpuSteps(int headDimension, int window, bool roundOutput)
    {
        const int heads = 4, kvHeads = 2, tokens = 3, position = 6, contextSize = 12;
        int queryWidth = heads * headDimension, kvWidth = kvHeads * headDimension;
        var random = new Random(headDimension * 10 + window);
        float[] query = Enumerable.Range(0, tokens * queryWidth).Select(_ => (float)(Half)(random.NextDouble() * 2 - 1)).ToArray();
        ushort[] keys = Enumerable.Range(0, contextSize * kvWidth).Select(_ => BitConverter.HalfToUInt16Bits((Half)(random.NextDouble() * 2 - 1))).ToArray();
        ushort[] values = Enumerable.Range(0, contextSize * kvWidth).Select(_ => BitConverter.HalfToUInt16Bits((Half)(random.NextDouble() * 2 - 1))).ToArray();
        float scale = 1f / MathF.Sqrt(headDimension);
        var shape = new AttentionShape
        {
            FirstToken = 0, Tokens = tokens, Position = position, HeadCount = heads, HeadDimension = headDimension,
            HeadsPerKvHead = heads / kvHeads, QueryWidth = queryWidth, KvWidth = kvWidth, ContextSize = contextSize,
            Scale = scale, SoftCap = 0f, Window = window, RoundOutput = roundOutput ? 1 : 0,
        };
        using var queryBuffer = accelerator.Allocate1D(query);
        using var keyBuffer = accelerator.Allocate1D(keys);
        using var valueBuffer = accelerator.Allocate1D(values);
        using var output = accelerator.Allocate1D<float>(tokens * queryWidth);
        using var scores = accelerator.Allocate1D<float>(tokens * heads * contextSize);
        kernels.Attention(accelerator.DefaultStream, queryBuffer.View, keyBuffer.View, valueBuffer.View, output.View, scores.View, shape);
        float[] actual = output.GetAsArray1D();

        for (int t = 0; t < tokens; t++)
        {
            int length = position + t + 1;
            int masked = window > 0 && length > window ? length - window : 0;
            for (int h = 0; h < heads; h++)
            {
                int kvColumn = h / (heads / kvHeads) * headDimension;
                var logits = new double[length];
                double max = double.NegativeInfinity;
                for (int p = masked; p < length; p++)
                {
                    double dot = 0;
                    for (int d = 0; d < headDimension; d++)
                    {
                        dot += (double)(float)BitConverter.UInt16BitsToHalf(keys[p * kvWidth + kvColumn + d]) * query[t * queryWidth + h * headDimension + d];
                    }
                    logits[p] = dot * scale;
                    max = Math.Max(max, logits[p]);
                }
                double total = 0;
                for (int p = masked; p < length; p++)
                {
                    total += Math.Exp(logits[p] - max);
                }
                for (int d = 0; d < headDimension; d++)
                {
                    double expected = 0;
                    for (int p = masked; p < length; p++)
                    {
                        float probability = (float)(Half)(float)(Math.Exp(logits[p] - max) / total);
                        expected += probability * (double)(float)BitConverter.UInt16BitsToHalf(values[p * kvWidth + kvColumn + d]);
                    }
                    float value = actual[t * queryWidth + h * headDimension + d];
                    if (roundOutput)
                    {
                        Assert.Equal((float)(Half)value, value);
                    }
                    double tolerance = 1e-4 + (roundOutput ? Math.Abs(expected) / 1024 : 0);
                    Assert.True(Math.Abs(value - expected) <= tolerance,
                        $"token {t} head {h} dimension {d}: device {value} vs {expected}");
                }
            }
        }
    }
}
