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
    private readonly ClusterTopology topology;
    private readonly ComputeThreads? localThreads;
    private readonly ActivationEncoding encoding;
    private readonly LeaseKeeper leases;
    private bool disposed;

    internal ClusterModel(GgufFile file, LlamaConfig config, ITokenizer tokenizer, ModelSummary summary, ClusterTopology topology,
        IReadOnlyList<ClusterNode> nodes, ComputeThreads? localThreads, ActivationEncoding encoding,
        string split, double loadMs, LeaseKeeper leases, ClusterRequest request)
    {
        this.leases = leases;
        this.file = file;
        this.topology = topology;
        this.localThreads = localThreads;
        this.encoding = encoding;
        Failover = request.Failover;
        StageTimeout = request.StageTimeout;
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

    /// <summary>Whether a failed node's layers are reassigned mid-prompt (Reassign) or the prompt fails (None).</summary>
    public FailoverMode Failover { get; }

    /// <summary>How long a stage may give no sign of life before it is declared failed.</summary>
    public TimeSpan StageTimeout { get; }

    public bool IsDisposed => disposed;

    /// <summary>
    /// Each node's health, every worker asked now (within the stage timeout): Healthy, or Down with what was
    /// observed; a node that answers again serves its own layers again from the next prompt on.
    /// </summary>
    public IReadOnlyList<NodeHealth> Health(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var health = topology.Health(cancellationToken);
        return Nodes.Select(node =>
        {
            var (endpoint, healthy, lastFailure) = health.First(entry => entry.Endpoint == node.Endpoint);
            return new NodeHealth(endpoint, healthy, lastFailure);
        }).ToArray();
    }

    /// <summary>Rounds of lease renewal so far (tests: renewals keep the workers' ranges alive).</summary>
    internal long LeaseRenewals => leases.Renewals;

    /// <summary>Stops renewing without releasing anything: what a coordinator that died leaves (tests of lease expiry).</summary>
    internal void StopRenewingLeases() => leases.Dispose();

    /// <summary>Threads of the local stage, or of the first worker when there is none.</summary>
    public int Threads => localThreads?.ThreadCount ?? (int)topology.Workers.First().Handshake.Capabilities.Threads;

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
        return ExceptionTranslation.Run(Summary.Path, () =>
        {
            var outer = promptCancellation.Value;
            promptCancellation.Value = cancellationToken;
            try
            {
                return new GenerationLoop(this).Run(request, onText, cancellationToken);
            }
            catch (FailoverExhaustedException exhausted) when (!cancellationToken.IsCancellationRequested)
            {
                throw PartialResults.Describe(this, request, exhausted);
            }
            catch (Exception exception) when (cancellationToken.IsCancellationRequested && exception is not OperationCanceledException)
            {
                // Cancelling aborts the prompt's streams, which may surface as a stream error first: it is the
                // caller's cancellation, not a worker's failure.
                throw new OperationCanceledException("The prompt was cancelled.", exception, cancellationToken);
            }
            finally
            {
                promptCancellation.Value = outer;
            }
        });
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

    /// <summary>
    /// The cancellation of the prompt running on this thread (flows to the sequences it opens): a step in flight
    /// is abandoned at once on Ctrl+C, and disposing the sequence frees its sessions on the workers right away.
    /// </summary>
    private static readonly AsyncLocal<CancellationToken> promptCancellation = new();

    IGenerationSequence IGenerationModel.Open(int contextSize, int batchSize)
    {
        var options = new RingOptions
        {
            ContextSize = contextSize,
            MaxBatchTokens = batchSize,
            EmbeddingLength = Config.EmbeddingLength,
            VocabularySize = Config.VocabularySize,
            Encoding = encoding,
            StageTimeout = StageTimeout,
        };
        return new ClusterSequence(topology, options, Failover == FailoverMode.Reassign, promptCancellation.Value);
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        leases.Dispose();
        topology.Dispose();
        localThreads?.Dispose();
        file.Dispose();
    }
}
