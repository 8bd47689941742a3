using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.TestModels;
using LlamaDist.Core.Tokenization;
using LlamaDist.Tests.Shared;

namespace LlamaDist.Gpu.Tests;

/// <summary>
/// Whole models on the ILGPU CPU accelerator against the CPU backend: the same greedy tokens for F32 and F16
/// weights (every architecture the device runs), logits within a per-type tolerance for quantized weights, and a
/// model split into a device range and a CPU range handing hidden states over gives the local greedy tokens.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class ModelAgreementTests(IlgpuCpuFixture fixture) : IDisposable
{
    // 256 columns (one K-quant super-block), 2 layers, grouped-query attention (4 heads on 2 KV heads) and a
    // 512-token vocabulary, so the simulated accelerator's output head stays cheap.
    private static readonly TestModelShape Shape = new(256, 512, 2, 4, 2, 512, 256);
    private static readonly TokenizerMetadata Vocabulary = SyntheticVocabulary.Create(512);
    private static readonly int[] Prompt = [1, 300, 401, 17, 288, 500];
    private const int Generated = 5;

    private readonly string directory = Directory.CreateTempSubdirectory("llamadist-gpu-").FullName;

    public static TheoryData<TestModelArchitecture, GgmlType> GreedyCases => new()
    {
        { TestModelArchitecture.Llama, GgmlType.F32 },
        { TestModelArchitecture.Llama, GgmlType.F16 },
        { TestModelArchitecture.Llama3, GgmlType.F16 },
        { TestModelArchitecture.Qwen2, GgmlType.F32 },
        { TestModelArchitecture.Qwen3, GgmlType.F32 },
        { TestModelArchitecture.Phi3, GgmlType.F16 },
    };

    [Theory]
    [MemberData(nameof(GreedyCases))]
    public void GreedyTokensAreTheCpuBackendsTokens(TestModelArchitecture architecture, GgmlType type)
    {
        using var model = Open(architecture, type);
        int[] cpu = Greedy(model.Cpu);
        int[] device = Greedy(model.Device);
        Assert.Equal(cpu, device);
    }

    /// <summary>Largest |device − CPU| logit relative to the CPU logits' largest magnitude, per weight type.</summary>
    public static TheoryData<GgmlType, float> QuantizedTolerances => new()
    {
        { GgmlType.Q8_0, 0.03f },
        { GgmlType.Q4_0, 0.05f },
        { GgmlType.Q4_K, 0.05f },
        { GgmlType.Q6_K, 0.03f },
        { GgmlType.Q5_0, 0.05f },
    };

    [Theory]
    [MemberData(nameof(QuantizedTolerances))]
    public void QuantizedLogitsAgreeWithinTheTypesTolerance(GgmlType type, float tolerance)
    {
        using var model = Open(TestModelArchitecture.Llama, type);
        float[] cpu = AllLogits(model.Cpu);
        float[] device = AllLogits(model.Device);
        float scale = cpu.Max(MathF.Abs);
        float worst = cpu.Zip(device, (a, b) => MathF.Abs(a - b)).Max();
        Assert.True(worst <= tolerance * scale, $"{type}: largest logit difference {worst} against logits up to {scale}");
        // The same most likely token at every position of the prompt.
        int vocabulary = model.Config.VocabularySize;
        for (int t = 0; t < Prompt.Length; t++)
        {
            Assert.Equal(VectorMath.ArgMax(cpu.AsSpan(t * vocabulary, vocabulary)), VectorMath.ArgMax(device.AsSpan(t * vocabulary, vocabulary)));
        }
    }

    [Fact]
    public void ADeviceRangeAndACpuRangeGiveTheLocalGreedyTokens()
    {
        using var model = Open(TestModelArchitecture.Llama, GgmlType.F16);
        int[] local = Greedy(model.Cpu);

        var config = model.Config;
        using var threads = new ComputeThreads(1);
        using var first = fixture.Backend.Load(config, LlamaWeights.Load(model.File, config, new LayerRange(0, 1), WeightMemory.Mapped));
        using var second = new CpuBackend(threads).Load(config, LlamaWeights.Load(model.File, config, new LayerRange(1, 2)));
        using var firstSession = first.CreateSession(64, 16);
        using var secondSession = second.CreateSession(64, 16);
        var hidden = new float[Prompt.Length * config.EmbeddingLength];
        var logits = new float[config.VocabularySize];
        var tokens = new List<int>();
        int[] input = Prompt;
        for (int step = 0; step < Generated; step++)
        {
            first.EvaluateTokensToHidden(firstSession, input, hidden);
            second.EvaluateHiddenToLogits(secondSession, hidden, input.Length, logits, logitsForAllTokens: false);
            int next = VectorMath.ArgMax(logits);
            tokens.Add(next);
            input = [next];
        }
        Assert.Equal(local, tokens.ToArray());
    }

    [Fact]
    public void GreedyOnTheDevicePicksTheCpuToken()
    {
        using var model = Open(TestModelArchitecture.Llama, GgmlType.F32);
        var device = (IlgpuRangeForward)model.Device;
        using var session = device.CreateSession(64, 16);
        int token = device.EvaluateGreedy(session, Prompt);
        Assert.Equal(Greedy(model.Cpu)[0], token);
        Assert.Equal(Prompt.Length, session.Position);
    }

    [Fact]
    public void GeluArchitecturesAreRefusedWithAClearError()
    {
        string path = Path.Combine(directory, "gemma2.gguf");
        TestModelWriter.Write(path, Shape, TestModelArchitecture.Gemma2, GgmlType.F32, 7, Vocabulary, null, CancellationToken.None);
        using var file = GgufFile.Open(path);
        var config = LlamaConfig.FromGguf(file);
        var weights = LlamaWeights.Load(file, config, LayerRange.All(config.LayerCount), WeightMemory.Mapped);
        var error = Assert.Throws<UnsupportedModelException>(() => fixture.Backend.Load(config, weights));
        Assert.Contains("GELU", error.Message);
    }

    [Fact]
    public void ASessionLargerThanTheDeviceIsRefusedBeforeAllocating()
    {
        using var model = Open(TestModelArchitecture.Llama, GgmlType.F32);
        var error = Assert.Throws<DeviceMemoryException>(() => model.Device.CreateSession(int.MaxValue / 4, 512));
        Assert.True(error.RequiredBytes > error.FreeBytes);
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static int[] Greedy(IRangeForward forward) => ForwardRuns.Greedy(forward, Prompt, Generated);

    private static float[] AllLogits(IRangeForward forward) => ForwardRuns.AllLogits(forward, Prompt);

    private LoadedModel Open(TestModelArchitecture architecture, GgmlType type)
    {
        string path = Path.Combine(directory, $"{architecture}-{type}.gguf");
        TestModelWriter.Write(path, Shape, architecture, type, 7, Vocabulary, null, CancellationToken.None);
        return new LoadedModel(path, fixture.Backend);
    }

    private sealed class LoadedModel : IDisposable
    {
        private readonly ComputeThreads threads = new(1);

        public LoadedModel(string path, IComputeBackend device)
        {
            File = GgufFile.Open(path);
            Config = LlamaConfig.FromGguf(File);
            var range = LayerRange.All(Config.LayerCount);
            Cpu = new CpuBackend(threads).Load(Config, LlamaWeights.Load(File, Config, range, WeightMemory.Mapped));
            Device = device.Load(Config, LlamaWeights.Load(File, Config, range, WeightMemory.Mapped));
        }

        public GgufFile File { get; }

        public LlamaConfig Config { get; }

        public IRangeForward Cpu { get; }

        public IRangeForward Device { get; }

        public void Dispose()
        {
            Device.Dispose();
            Cpu.Dispose();
            threads.Dispose();
            File.Dispose();
        }
    }
}
