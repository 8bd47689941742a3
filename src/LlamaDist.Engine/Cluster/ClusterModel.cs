using System.Diagnostics;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.Tokenization;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Ring;
using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Chat;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// A model split across workers (and optionally this process): the plan, the connections, the loaded ranges.
/// Many prompts reuse it without reloading; each prompt is a ring session with its own KV caches.
/// Dispose releases every worker's range (freeing its memory). While it lives its leases on the workers are
/// renewed in the background; a coordinator that exits without Dispose leaves nothing behind once they expire.
/// </summary>
public sealed class ClusterModel : IDisposable, IGenerationModel
{
    private readonly GgufFile file;
    private readonly IReadOnlyList<RingStage> stages;
    private readonly LlamaForward? localForward;
    private readonly ComputeThreads? localThreads;
    private readonly ActivationEncoding encoding;
    private readonly LeaseKeeper leases;
    private bool disposed;

    internal ClusterModel(GgufFile file, LlamaConfig config, ITokenizer tokenizer, ModelSummary summary, IReadOnlyList<RingStage> stages,
        IReadOnlyList<ClusterNode> nodes, LlamaForward? localForward, ComputeThreads? localThreads, ActivationEncoding encoding,
        string split, double loadMs, LeaseKeeper leases)
    {
        this.leases = leases;
        this.file = file;
        this.stages = stages;
        this.localForward = localForward;
        this.localThreads = localThreads;
        this.encoding = encoding;
        Config = config;
        Tokenizer = tokenizer;
        Summary = summary;
        Nodes = nodes;
        Split = split;
        LoadMs = loadMs;
    }

    public string Id { get; } = Guid.NewGuid().ToString("N")[..12];

    public DateTime CreatedUtc { get; } = DateTime.UtcNow;

    public ModelSummary Summary { get; }

    /// <summary>The plan in ring order, with what loading each node took.</summary>
    public IReadOnlyList<ClusterNode> Nodes { get; }

    /// <summary>How the layers were divided: Auto, Even, Memory or Explicit.</summary>
    public string Split { get; }

    public string ActivationEncoding => encoding switch
    {
        Distributed.Protocol.ActivationEncoding.F16 => "F16",
        Distributed.Protocol.ActivationEncoding.Q80 => "Q8_0",
        _ => "F32",
    };

    public double LoadMs { get; }

    public bool IsDisposed => disposed;

    /// <summary>Rounds of lease renewal so far (tests: renewals keep the workers' ranges alive).</summary>
    internal long LeaseRenewals => leases.Renewals;

    /// <summary>Stops renewing without releasing anything: what a coordinator that died leaves (tests of lease expiry).</summary>
    internal void StopRenewingLeases() => leases.Dispose();

    /// <summary>Threads of the local stage, or of the first worker when there is none.</summary>
    public int Threads => localThreads?.ThreadCount ?? (int)stages[0].Worker.Handshake.Capabilities.Threads;

    internal LlamaConfig Config { get; }

    internal ITokenizer Tokenizer { get; }

    LlamaConfig IGenerationModel.Config => Config;

    ITokenizer IGenerationModel.Tokenizer => Tokenizer;

    /// <summary>Connects, plans and loads (see <see cref="ClusterLoader"/>).</summary>
    public static ClusterModel Create(ClusterRequest request, IProgress<ClusterLoadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var path = ModelPaths.Resolve(request.ModelPath);
        return ExceptionTranslation.Run(path, () => ClusterLoader.Load(request, path, progress, cancellationToken));
    }

    public GenerationResult Generate(GenerationRequest request, Action<string>? onText = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return ExceptionTranslation.Run(Summary.Path, () => new GenerationLoop(this).Run(request, onText, cancellationToken));
    }

    /// <summary>The assistant's reply to a conversation, rendered with the model's chat template (or the one named).</summary>
    public ChatResult Chat(ChatRequest request, Action<string>? onText = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return ExceptionTranslation.Run(Summary.Path, () => ChatGeneration.Run(this, Summary.ChatTemplate, request, onText, cancellationToken));
    }

    /// <summary>llama-bench's pp/tg tests through the ring (see <see cref="BenchmarkRunner"/>).</summary>
    public IReadOnlyList<BenchmarkRow> Benchmark(BenchmarkRequest request, IProgress<double>? progress = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return ExceptionTranslation.Run(Summary.Path, () => new BenchmarkRunner(this).Run(request, progress, cancellationToken));
    }

    IGenerationSequence IGenerationModel.Open(int contextSize, int batchSize)
    {
        var options = new RingOptions
        {
            ContextSize = contextSize,
            MaxBatchTokens = batchSize,
            EmbeddingLength = Config.EmbeddingLength,
            VocabularySize = Config.VocabularySize,
            Encoding = encoding,
        };
        LlamaSession? localSession = localForward is null ? null : new LlamaSession(Config, localForward.Range, contextSize, batchSize);
        try
        {
            var local = localSession is null ? null : new LocalStage(localForward!, localSession);
            var ring = RingSession.OpenAsync(stages, local, options, CancellationToken.None).GetAwaiter().GetResult();
            return new ClusterSequence(ring, localSession, Nodes);
        }
        catch
        {
            localSession?.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        leases.Dispose();
        foreach (var stage in stages)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                stage.Worker.ReleaseRangeAsync(stage.RangeHash, timeout.Token).GetAwaiter().GetResult();
            }
            catch (Exception exception) when (exception is WorkerCallException or OperationCanceledException)
            {
                // A worker that is gone has nothing left to free.
            }
            stage.Worker.Dispose();
        }
        localThreads?.Dispose();
        file.Dispose();
    }
}
