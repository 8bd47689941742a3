using System.Diagnostics;
using Grpc.Core;
using LlamaDist.Core.Backends;
using LlamaDist.Core.Model;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Cluster;
using LlamaDist.Distributed.Ring;
using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// One prompt's ring session, with per-node figures accumulated from each step's stage timings, and failover:
/// when a stage dies or freezes mid-step (see <see cref="StageWatchdog"/>), the node is marked down, the ring is
/// rebuilt from the survivors (<see cref="ClusterTopology"/>, <see cref="FailoverPlanner"/>), every step evaluated
/// so far is replayed through it with its original boundaries (<see cref="SessionReplay"/>), and the failed step
/// runs again: its output is bit for bit the one the lost ring would have given (with the exact F32 hand-off,
/// identical to one machine's). Each failover is recorded; with failover off, or no node left, the failure is
/// reported naming the node (<see cref="FailoverExhaustedException"/> carries what was evaluated).
/// </summary>
internal sealed class ClusterSequence : IGenerationSequence, IFailoverSource
{
    private readonly ClusterTopology topology;
    private readonly RingOptions options;
    private readonly bool failover;
    private readonly SessionReplay replay = new();
    private readonly List<StageStatistics> allStages = [];
    private readonly Dictionary<string, StageStatistics> stagesByKey = new(StringComparer.Ordinal);
    private readonly List<FailoverRecord> failovers = [];
    private RingSession? ring;
    private IForwardSession? localSession;
    private LocalSequence? localOnly;
    private StageStatistics[] current = [];
    private int hops;

    private readonly CancellationToken cancellation;

    public ClusterSequence(ClusterTopology topology, RingOptions options, bool failover, CancellationToken cancellation)
    {
        this.topology = topology;
        this.options = options;
        this.failover = failover;
        this.cancellation = cancellation;
        OpenWithFailover(null, cancellation);
    }

    /// <summary>Most failovers one prompt may go through (each loses a node, or rebuilds a ring whose stream broke).</summary>
    private int MaxFailovers => topology.Workers.Count() + 2;

    public int Position => replay.Position;

    public IReadOnlyList<StageStatistics> Stages => allStages;

    /// <summary>The failovers of this prompt, in order.</summary>
    public IReadOnlyList<FailoverRecord> Failovers => failovers;

    /// <summary>Messages the coordinator sent into the ring: one per step, or one per micro-batch of a pipelined prompt.</summary>
    public int MicroBatches { get; private set; }

    /// <summary>The tokens evaluated so far (prompt, then generated), for a partial result when the prompt cannot go on.</summary>
    public IReadOnlyList<int> EvaluatedTokens => replay.Tokens;

    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        if (localOnly is not null)
        {
            localOnly.Evaluate(tokens, logits);
            replay.Record(tokens);
            return;
        }
        var result = Step(tokens, RingOutput.LastLogits);
        result.Logits.AsSpan(0, logits.Length).CopyTo(logits);
    }

    public int EvaluateGreedy(ReadOnlySpan<int> tokens)
    {
        if (localOnly is not null)
        {
            var token = localOnly.EvaluateGreedy(tokens);
            replay.Record(tokens);
            return token;
        }
        return Step(tokens, RingOutput.GreedyToken).GreedyToken;
    }

    private RingStepResult Step(ReadOnlySpan<int> tokens, RingOutput output)
    {
        var step = tokens.ToArray();
        pendingStep = step;
        while (true)
        {
            var clock = Stopwatch.StartNew();
            try
            {
                var result = ring!.Step(step, output, cancellation);
                replay.Record(step);
                Record(result);
                return result;
            }
            catch (Exception exception) when (!cancellation.IsCancellationRequested && IsStageFailure(exception))
            {
                var failed = ring!.FailedStage;
                OpenWithFailover(new Failure(exception, failed, clock.Elapsed.TotalMilliseconds), cancellation);
                if (localOnly is not null)
                {
                    var logits = new float[options.VocabularySize];
                    localOnly.Evaluate(step, logits);
                    replay.Record(step);
                    return new RingStepResult
                    {
                        GreedyToken = Core.Numerics.VectorMath.ArgMax(logits), Logits = logits, Stages = [], WallMilliseconds = clock.Elapsed.TotalMilliseconds,
                        BytesSent = 0, BytesReceived = 0,
                    };
                }
            }
        }
    }

    /// <summary>A stage died, froze, or its stream broke: what a new ring can get past (not a refused request).</summary>
    private bool IsStageFailure(Exception exception) =>
        ring?.FailedStage is not null || exception is RingBrokenException || exception is WorkerCallException { Failure: WorkerFailure.Unreachable };

    private sealed record Failure(Exception Exception, string? Endpoint, double DetectionMs);

    /// <summary>
    /// Opens the ring the topology gives now; after a <paramref name="failure"/>, first marks the failed node down,
    /// and then replays every recorded step through the new ring. A node that fails meanwhile is marked down too
    /// and the next plan tried, up to <see cref="MaxFailovers"/>.
    /// </summary>
    private void OpenWithFailover(Failure? failure, CancellationToken cancellationToken)
    {
        int attempts = 0;
        string failedLayers = "";
        while (true)
        {
            if (failure is not null)
            {
                var endpoint = failure.Endpoint ?? (failure.Exception as WorkerCallException)?.Endpoint ?? "";
                // What the node ran in the ring that failed (a grown range after an earlier failover).
                failedLayers = failure.Endpoint is null ? "" : current.FirstOrDefault(stage => stage.Endpoint == endpoint)?.Layers ?? "";
                if (!failover || ++attempts > MaxFailovers)
                {
                    throw Exhausted(failure, endpoint, failover ? $"the ring failed {attempts - 1} times in this prompt" : "-Failover None");
                }
                if (failure.Endpoint is not null)
                {
                    topology.MarkDown(failure.Endpoint, failure.Exception.Message);
                }
                CloseCurrent();
            }
            var replan = Stopwatch.StartNew();
            try
            {
                var layout = OpenLayout(cancellationToken, failure?.Endpoint);
                if (failure is null)
                {
                    return;
                }
                double replanMs = replan.Elapsed.TotalMilliseconds;
                double replayMs = replay.Replay(step =>
                {
                    if (localOnly is not null)
                    {
                        localOnly.EvaluateGreedy(step.Span);
                    }
                    else
                    {
                        ring!.Step(step.Span, RingOutput.GreedyToken, cancellationToken);
                    }
                }, cancellationToken);
                var endpoint = failure.Endpoint ?? (failure.Exception as WorkerCallException)?.Endpoint ?? "";
                failovers.Add(new FailoverRecord
                {
                    Endpoint = endpoint,
                    Layers = failedLayers,
                    DetectedUtc = DateTime.UtcNow - TimeSpan.FromMilliseconds(replanMs + replayMs),
                    DetectionMs = failure.DetectionMs,
                    Position = replay.Position,
                    Reason = failure.Exception.Message,
                    NewPlan = string.Join(", ", layout.Nodes.Select(node => $"{node.Endpoint} {node.Layers}")),
                    ReplanMs = replanMs,
                    ReplayMs = replayMs,
                    ReplayedTokens = replay.Position,
                });
                return;
            }
            catch (PlanningException planning)
            {
                var endpoint = failure?.Endpoint ?? (failure?.Exception as WorkerCallException)?.Endpoint ?? "";
                throw Exhausted(failure ?? new Failure(planning, null, 0), endpoint, planning.Message);
            }
            catch (Exception exception) when (!cancellationToken.IsCancellationRequested && failover && (exception is RingBrokenException or WorkerCallException { Failure: WorkerFailure.Unreachable }
                || ring?.FailedStage is not null))
            {
                // A node failed while the new ring was being built or replayed: plan again without it.
                failure = new Failure(exception, ring?.FailedStage ?? (exception as WorkerCallException)?.Endpoint, failure?.DetectionMs ?? 0);
            }
        }
    }

    private FailoverExhaustedException Exhausted(Failure failure, string endpoint, string why) =>
        new(endpoint, $"{failure.Exception.Message} The prompt cannot continue ({why}).", [.. replay.Tokens, .. pendingStep], failovers.ToArray(), failure.Exception);

    private ClusterTopology.Layout OpenLayout(CancellationToken cancellationToken, string? justFailed)
    {
        var layout = topology.Current(cancellationToken, justFailed);
        if (layout.Stages.Count == 0)
        {
            // Every worker is gone and this process (-IncludeLocal) took the whole model.
            localOnly = new LocalSequence(new LocalBatcher(layout.Local!), options.ContextSize, options.MaxBatchTokens);
            SetCurrent(layout.Nodes, local: true);
            return layout;
        }
        localSession = layout.Local?.CreateSession(options.ContextSize, options.MaxBatchTokens);
        var local = localSession is null ? null : new LocalStage(layout.Local!, localSession);
        for (int reloads = 0; ring is null; reloads++)
        {
            try
            {
                ring = RingSession.OpenAsync(layout.Stages, local, options, cancellationToken).GetAwaiter().GetResult();
            }
            catch (WorkerCallException exception) when (reloads < layout.Stages.Count && exception.InnerException is RpcException { StatusCode: StatusCode.NotFound }
                && layout.Stages.FirstOrDefault(stage => stage.Worker.Endpoint.ToString() == exception.Endpoint) is { } lost)
            {
                // The worker restarted (or its lease lapsed) and no longer holds the range: load it again (each
                // stage at most once: several may have restarted).
                topology.Reload(exception.Endpoint, lost.Layers, cancellationToken);
            }
        }
        SetCurrent(layout.Nodes, local: layout.Local is not null);
        return layout;
    }

    private void SetCurrent(IReadOnlyList<ClusterNode> nodes, bool local)
    {
        // Coordinator → … → coordinator: one hop into every remote node, plus the way back.
        hops = nodes.Count + (local ? 0 : 1);
        current = nodes.Select(node =>
        {
            var key = $"{node.Endpoint}|{node.Layers}";
            if (!stagesByKey.TryGetValue(key, out var stage))
            {
                stage = node.NewStatistics();
                stagesByKey[key] = stage;
                allStages.Add(stage);
            }
            return stage;
        }).ToArray();
        localIsFirst = local;
    }

    private bool localIsFirst;

    /// <summary>The step being evaluated: a decode step's token was already generated when it fails.</summary>
    private int[] pendingStep = [];

    /// <summary>
    /// Step timings arrive in ring order, one per stage. Each node received the previous one's message and sent
    /// its own to the next (the last one's reply to the coordinator); the time beyond compute is shared by hops.
    /// </summary>
    private void Record(RingStepResult result)
    {
        MicroBatches += result.MicroBatches;
        double computeMs = 0;
        for (int i = 0; i < current.Length && i < result.Stages.Count; i++)
        {
            var timing = result.Stages[i];
            var stage = current[i];
            double ms = timing.ComputeMicroseconds / 1000.0;
            computeMs += ms;
            stage.ComputeMs += ms;
            stage.Steps++;
            stage.BytesReceived += (long)timing.BytesReceived;
            stage.BytesSent += i + 1 < result.Stages.Count ? (long)result.Stages[i + 1].BytesReceived : result.BytesReceived;
        }
        double perHop = Math.Max(0, result.WallMilliseconds - computeMs) / hops;
        for (int i = 0; i < current.Length; i++)
        {
            bool isLocal = localIsFirst && i == 0;
            current[i].NetworkMs += isLocal ? 0 : perHop * (i == current.Length - 1 ? 2 : 1);
        }
    }

    private void CloseCurrent()
    {
        ring?.Dispose();
        ring = null;
        localSession?.Dispose();
        localSession = null;
        localOnly?.Dispose();
        localOnly = null;
    }

    public void Dispose() => CloseCurrent();
}
