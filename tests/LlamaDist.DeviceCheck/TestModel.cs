using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.TestModels;
using LlamaDist.Gpu;

namespace LlamaDist.DeviceCheck;

/// <summary>
/// A synthetic model written on this machine (no model files travel with the check), open on the device and on the
/// CPU engine at once.
/// </summary>
internal sealed class TestModel : IDisposable
{
    private readonly string path;

    private TestModel(string path, GgufFile file, LlamaConfig config, IRangeForward device, IRangeForward cpu)
    {
        this.path = path;
        File = file;
        Config = config;
        Device = device;
        Cpu = cpu;
    }

    public GgufFile File { get; }

    public LlamaConfig Config { get; }

    public IRangeForward Device { get; }

    public IRangeForward Cpu { get; }

    public static TestModel Create(string directory, string name, TestModelShape shape, GgmlType type, IlgpuBackend device,
        ComputeThreads threads, CancellationToken cancellationToken)
    {
        string path = Path.Combine(directory, $"{name}-{type}.gguf");
        TestModelWriter.Write(path, shape, TestModelArchitecture.Llama, type, 11, SyntheticVocabulary.Create(shape.VocabularySize),
            null, cancellationToken);
        var file = GgufFile.Open(path);
        try
        {
            var config = LlamaConfig.FromGguf(file);
            var range = LayerRange.All(config.LayerCount);
            var onDevice = device.Load(config, LlamaWeights.Load(file, config, range, WeightMemory.Mapped));
            var onCpu = new CpuBackend(threads).Load(config, LlamaWeights.Load(file, config, range, WeightMemory.Mapped));
            return new TestModel(path, file, config, onDevice, onCpu);
        }
        catch
        {
            file.Dispose();
            System.IO.File.Delete(path);
            throw;
        }
    }

    public void Dispose()
    {
        Device.Dispose();
        Cpu.Dispose();
        File.Dispose();
        System.IO.File.Delete(path);
    }
}
