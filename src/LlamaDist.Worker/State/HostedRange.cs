using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Gpu;

namespace LlamaDist.Worker.State;

/// <summary>
/// A layer range this worker holds: the mapped GGUF (its own copy or a cache file), the weights as views of it,
/// and the forward pass over them. Shared by every session and cluster that asks for the same hash; freed when
/// the last holder releases it.
/// </summary>
internal sealed class HostedRange : IDisposable
{
    public HostedRange(string hash, string fileName, GgufFile file, LlamaConfig config, LayerRange layers, long weightBytes,
        IComputeBackend backend, string source, WeightMemory memory)
    {
        Hash = hash;
        FileName = fileName;
        File = file;
        Config = config;
        Layers = layers;
        WeightBytes = weightBytes;
        Source = source;
        var weights = LlamaWeights.Load(file, config, layers, ComputeBackends.WeightMemoryFor(backend, memory));
        Memory = weights.Memory;
        file.ReleaseUnusedMappedPages();
        try
        {
            Forward = backend.Load(config, weights);
        }
        catch (DeviceMemoryException exception)
        {
            throw WorkerErrors.OutOfMemory(exception.Message);
        }
    }

    public string Hash { get; }

    public string FileName { get; }

    public GgufFile File { get; }

    public LlamaConfig Config { get; }

    public LayerRange Layers { get; }

    public long WeightBytes { get; }

    /// <summary>Where the weights came from: "model file &lt;path&gt;" or "cache".</summary>
    public string Source { get; }

    /// <summary>Where the weights were read: mapped or resident (Auto resolved at load).</summary>
    public WeightMemory Memory { get; }

    public IRangeForward Forward { get; }

    /// <summary>Coordinators holding the range (LoadRange calls not yet matched by ReleaseRange), per owner.</summary>
    public RangeHolders Holders { get; } = new();

    public bool IncludesEmbedding => Layers.IncludesEmbedding;

    public bool IncludesOutput => Layers.IncludesOutput(Config.LayerCount);

    public void Dispose()
    {
        Forward.Dispose();
        File.Dispose();
    }
}
