using LlamaDist.Core.Backends;
using LlamaDist.Distributed.Client;

namespace LlamaDist.Worker.State;

/// <summary>
/// One sequence on this worker: the KV cache of the range's layers, step buffers sized once at open
/// ([maxBatch, n_embd] hidden in/out, [n_vocab] logits), and the session's place in the ring.
/// </summary>
internal sealed class HostedSession : IDisposable
{
    public HostedSession(string id, HostedRange range, int contextSize, int maxBatch, WorkerEndpoint? next)
    {
        Id = id;
        Range = range;
        Next = next;
        try
        {
            Cache = range.Forward.CreateSession(contextSize, maxBatch);
        }
        catch (DeviceMemoryException exception)
        {
            throw WorkerErrors.OutOfMemory(exception.Message);
        }
        MaxBatch = maxBatch;
        int embd = range.Config.EmbeddingLength;
        HiddenIn = new float[maxBatch * embd];
        HiddenOut = new float[maxBatch * embd];
        Logits = range.IncludesOutput ? new float[range.Config.VocabularySize] : [];
        Touch();
    }

    public string Id { get; }

    /// <summary>The coordinator that opened it (OpenSessionRequest.owner_id): the session ends with its lease.</summary>
    public string Owner { get; init; } = "";

    /// <summary>Set while a Forward step of this session is being evaluated: a session runs one step at a time.</summary>
    private int stepping;

    public bool TryBeginStep() => Interlocked.CompareExchange(ref stepping, 1, 0) == 0;

    public void EndStep() => Volatile.Write(ref stepping, 0);

    /// <summary>True while a step of this session is on this worker (queued or evaluating).</summary>
    public bool IsStepping => Volatile.Read(ref stepping) == 1;

    public HostedRange Range { get; }

    /// <summary>Next stage of the ring; null on the last stage.</summary>
    public WorkerEndpoint? Next { get; }

    public IForwardSession Cache { get; }

    public int MaxBatch { get; }

    public float[] HiddenIn { get; }

    public float[] HiddenOut { get; }

    public float[] Logits { get; set; }

    /// <summary>Opened lazily on the first step that goes on to <see cref="Next"/>.</summary>
    public DownstreamLink? Downstream { get; set; }

    /// <summary>The coordinator's result stream, when attached (last stage of a multi-stage ring).</summary>
    public ResultSink? Sink { get; set; }

    public DateTime LastUsedUtc { get; private set; }

    /// <summary>True while a Forward call is reading this session's steps (it is not idle then).</summary>
    public bool Streaming { get; set; }

    /// <summary>OpenSessionRequest.stages_share_machine: some stages of its ring share one machine's cores.</summary>
    public bool StagesShareMachine { get; init; }

    /// <summary>When its steps arrive here: a session decoding steadily is "due" again about a period later.</summary>
    public StepPace Pace { get; } = new();

    public void Touch() => LastUsedUtc = DateTime.UtcNow;

    public void Dispose()
    {
        Downstream?.Dispose();
        Sink?.Complete();
        Cache.Dispose();
    }
}
