using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Tests.Generation;

/// <summary>
/// Sampled generation on the ILGPU backend (ILGPU's CPU accelerator here), where a top-k sampler gets only the
/// candidates the device selects, gives the CPU backend's tokens for the same seed; settings without a top-k take
/// the full row and agree too.
/// </summary>
public sealed class DeviceSamplingTests(DeviceSamplingTests.Models models) : IClassFixture<DeviceSamplingTests.Models>
{
    private const string Prompt = "Once upon a time";

    public static TheoryData<float, int, float> Settings => new()
    {
        { 0.8f, 40, 1.0f },
        { 1.3f, 8, 1.3f },
        { 0.0f, 40, 1.2f },  // greedy after a repeat penalty: the penalized tokens' logits come along
        { 1.0f, 0, 1.0f },   // no top-k: the full row
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void SampledTokensMatchTheCpuBackend(float temperature, int topK, float penalty)
    {
        var request = new GenerationRequest
        {
            Prompt = Prompt, MaxTokens = 6, Temperature = temperature, TopK = topK, RepeatPenalty = penalty, Seed = 21,
        };
        Assert.Equal(ComputeBackendMode.IlgpuCpu, models.Device.Backend);
        Assert.Equal(models.Cpu.Generate(request).TokenIds, models.Device.Generate(request).TokenIds);
    }

    /// <summary>The embedded model on both backends, loaded once for the class.</summary>
    public sealed class Models : IDisposable
    {
        public LocalModel Cpu { get; } = LocalModel.Load(ModelPaths.DefaultModelPath(), threads: 1);

        public LocalModel Device { get; } = LocalModel.Load(ModelPaths.DefaultModelPath(), threads: 1, backend: ComputeBackendMode.IlgpuCpu);

        public void Dispose()
        {
            Cpu.Dispose();
            Device.Dispose();
        }
    }
}
