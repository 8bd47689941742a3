using ILGPU;
using ILGPU.Runtime;

namespace LlamaDist.Gpu.Tests;

/// <summary>
/// The device's selection for a top-k sampler, on ILGPU's CPU accelerator: exactly the logits at least as large as
/// the wanted-th largest (every tie at that value), then the extra ids' logits, whatever the signs, ties and zeros.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class CandidateKernelTests(IlgpuCpuFixture fixture)
{
    private readonly Accelerator accelerator = fixture.Backend.Accelerator;
    private readonly IlgpuKernels kernels = fixture.Backend.Kernels;

    [Theory]
    [InlineData(1000, 1, 0)]
    [InlineData(1000, 40, 5)]
    [InlineData(3001, 104, 64)]
    [InlineData(257, 257, 3)]
    public void SelectsEveryLogitFromTheWantedLargestUp(int vocabulary, int wanted, int extras)
    {
        var random = new Random(vocabulary + wanted);
        // Quarter steps give many ties; a few exact zeros of both signs.
        float[] logits = Enumerable.Range(0, vocabulary).Select(_ => MathF.Round((float)(random.NextDouble() * 20 - 10) * 4) / 4).ToArray();
        logits[3] = -0f;
        logits[5] = 0f;
        int[] extraIds = Enumerable.Range(0, extras).Select(_ => random.Next(vocabulary)).ToArray();

        var (ids, values) = Run(logits, wanted, extraIds);

        float threshold = logits.OrderByDescending(value => value).ElementAt(wanted - 1);
        int[] expected = Enumerable.Range(0, vocabulary).Where(i => logits[i] >= threshold).ToArray();
        int selected = ids.Length - extras;
        Assert.Equal(expected, ids[..selected].Order().ToArray());
        Assert.Equal(extraIds, ids[selected..]);
        for (int i = 0; i < ids.Length; i++)
        {
            Assert.Equal(logits[ids[i]], values[i]);
        }
    }

    [Fact]
    public void ARowOfTiesComesBackWhole()
    {
        float[] logits = Enumerable.Repeat(1.5f, 300).ToArray();
        var (ids, _) = Run(logits, 10, []);
        Assert.Equal(Enumerable.Range(0, 300), ids.Order());
    }

    private (int[] Ids, float[] Values) Run(float[] logits, int wanted, int[] extraIds)
    {
        using var logitBuffer = accelerator.Allocate1D(logits);
        using var extraBuffer = accelerator.Allocate1D<int>(Math.Max(1, extraIds.Length));
        if (extraIds.Length > 0)
        {
            extraBuffer.View.SubView(0, extraIds.Length).CopyFromCPU(extraIds);
        }
        using var ids = accelerator.Allocate1D<int>(logits.Length + extraIds.Length);
        using var values = accelerator.Allocate1D<float>(logits.Length + extraIds.Length);
        using var count = accelerator.Allocate1D<int>(1);
        var stream = accelerator.DefaultStream;
        kernels.TopCandidates(stream, logitBuffer.View, logits.Length, wanted, extraBuffer.View, extraIds.Length, ids.View, values.View, count.View);
        stream.Synchronize();
        int written = count.GetAsArray1D()[0];
        return (ids.GetAsArray1D()[..written], values.GetAsArray1D()[..written]);
    }
}
