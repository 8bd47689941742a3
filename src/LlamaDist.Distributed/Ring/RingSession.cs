using System.Diagnostics;
using Grpc.Core;
using LlamaDist.Distributed.Activations;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Ring;

/// <summary>
/// One sequence evaluated by a ring of workers: coordinator → stage 1 → … → stage N → coordinator.
/// <para>
/// Every worker holds the KV cache of its layers under one session id. The coordinator keeps two persistent
/// Forward streams: one to the first stage, on which it sends each step, and one to the last stage, on which it
/// attached itself as the session's result sink. Workers pass each step's hidden state straight to the next
/// stage over their own stream, so a decoded token costs one message per hop, N + 1 in all (a one-worker ring
/// uses a single stream both ways). Steps are strictly sequential: one in flight at a time.
/// </para>
/// A failure anywhere breaks the ring: the stage that failed ends its upstream stream with the status, which
/// travels back to the coordinator's first stream, and the last stage reports its own failures on the sink.
/// </summary>
public sealed class RingSession : IDisposable
{
    private readonly IReadOnlyList<RingStage> stages;
    private readonly LocalStage? local;
    private readonly RingOptions options;
    private readonly CancellationTokenSource lifetime = new();
    private readonly AsyncDuplexStreamingCall<ForwardRequest, ForwardReply> first;
    private readonly AsyncDuplexStreamingCall<ForwardRequest, ForwardReply> results;
    private readonly Task<bool>? firstStreamEnded;
    private readonly float[]? localHidden;
    private readonly StageWatchdog? watchdog;
    private readonly HashSet<string> failedStages = new(StringComparer.Ordinal);
    private ulong sequence;
    private bool broken;
    private bool disposed;

    private RingSession(string sessionId, IReadOnlyList<RingStage> stages, LocalStage? local, RingOptions options,
        AsyncDuplexStreamingCall<ForwardRequest, ForwardReply> first, AsyncDuplexStreamingCall<ForwardRequest, ForwardReply> results)
    {
        SessionId = sessionId;
        this.stages = stages;
        this.local = local;
        this.options = options;
        this.first = first;
        this.results = results;
        if (!ReferenceEquals(first, results))
        {
            // Nothing normal ever comes back on the first stream of a multi-stage ring: its end is a failure.
            firstStreamEnded = first.ResponseStream.MoveNext(lifetime.Token);
        }
        if (local is not null)
        {
            localHidden = new float[options.MaxBatchTokens * options.EmbeddingLength];
        }
        if (options.StageTimeout is { } timeout)
        {
            watchdog = new StageWatchdog(stages.Select(stage => stage.Worker).ToArray(), timeout);
        }
    }

    /// <summary>
    /// The stage a failure was pinned on (<see cref="WorkerCallException.Endpoint"/> of what <see cref="Step"/>
    /// threw), when the watchdog found one that is dead or frozen; null when the failure was not pinned.
    /// </summary>
    public string? FailedStage { get; private set; }

    public string SessionId { get; }

    /// <summary>Tokens evaluated so far (the position of the next one).</summary>
    public int Position { get; private set; }

    public RingOptions Options => options;

    /// <summary>Opens the session on every stage (KV caches allocated, next hops set) and connects the streams.</summary>
    public static async Task<RingSession> OpenAsync(IReadOnlyList<RingStage> stages, LocalStage? local, RingOptions options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stages);
        ArgumentNullException.ThrowIfNull(options);
        if (stages.Count == 0)
        {
            throw new ArgumentException("A ring needs at least one worker stage.", nameof(stages));
        }
        var sessionId = Guid.NewGuid().ToString("N");
        try
        {
            for (int i = stages.Count - 1; i >= 0; i--)
            {
                var request = new OpenSessionRequest
                {
                    SessionId = sessionId,
                    RangeHash = stages[i].RangeHash,
                    ContextSize = (uint)options.ContextSize,
                    MaxBatchTokens = (uint)options.MaxBatchTokens,
                    NextEndpoint = i < stages.Count - 1 ? stages[i + 1].Worker.Endpoint.ToString() : "",
                    StagesShareMachine = options.Costs is { } costs && costs.ParallelStages < stages.Count + (local is null ? 0 : 1),
                };
                if (i < stages.Count - 1)
                {
                    // The next stage's certificate pins travel with its address: the worker dials it, not us.
                    request.NextCertificateThumbprints.AddRange(stages[i + 1].Worker.Credentials.CertificateThumbprints);
                }
                await stages[i].Worker.OpenSessionAsync(request, cancellationToken).ConfigureAwait(false);
            }

            var firstCall = stages[0].Worker.Calls.Forward(cancellationToken: CancellationToken.None);
            var resultCall = firstCall;
            if (stages.Count > 1)
            {
                var last = stages[^1].Worker;
                resultCall = last.Calls.Forward(cancellationToken: CancellationToken.None);
                await WorkerClient.Invoke(last.Endpoint, async () =>
                {
                    await resultCall.RequestStream.WriteAsync(new ForwardRequest { SessionId = sessionId, AttachResultStream = true }, cancellationToken).ConfigureAwait(false);
                    if (!await resultCall.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false) || resultCall.ResponseStream.Current.Sequence != 0)
                    {
                        throw new RingBrokenException($"Worker {last.Endpoint} did not confirm the result stream of session {sessionId}.");
                    }
                    return true;
                }).ConfigureAwait(false);
            }
            return new RingSession(sessionId, stages, local, options, firstCall, resultCall);
        }
        catch
        {
            // Every stage, not only those that confirmed: an OpenSession cancelled or timed out on our side may
            // still have opened the session on the worker (closing an unknown session is harmless).
            await Task.WhenAll(stages.Select(stage => CloseQuietly(stage.Worker, sessionId))).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Evaluates <paramref name="tokens"/> at <see cref="Position"/> through every stage. A step of several tokens
    /// goes in micro-batches when the ring's stages can overlap (see <see cref="PrefillPlanner"/>): all of them are
    /// sent at once, each stage starts on the next as soon as it passed one on, and only the last one asks for
    /// the output; the result is the same as one step's.
    /// </summary>
    public RingStepResult Step(ReadOnlySpan<int> tokens, RingOutput output, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (broken)
        {
            throw new RingBrokenException($"Session {SessionId} failed earlier and cannot continue.");
        }
        if (tokens.Length == 0 || tokens.Length > options.MaxBatchTokens)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), tokens.Length, $"A step carries 1 to {options.MaxBatchTokens} tokens.");
        }
        if (Position + tokens.Length > options.ContextSize)
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), $"The session holds {options.ContextSize} tokens; {Position} are used and {tokens.Length} more do not fit.");
        }

        int microBatch = MicroBatchFor(tokens.Length);
        RingStepResult result;
        try
        {
            result = microBatch < tokens.Length
                ? PipelinedAsync(tokens.ToArray(), microBatch, output, cancellationToken).GetAwaiter().GetResult()
                : WholeAsync(tokens.ToArray(), output, cancellationToken).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            broken = true;
            throw;
        }
        catch (OperationCanceledException exception)
        {
            // Not our cancellation: a stream the other side cancelled (its connection reset mid-call).
            broken = true;
            throw (Exception?)FindCulprit(exception) ?? new RingBrokenException($"A stream of session {SessionId} was cancelled by the other side: its connection broke.", exception);
        }
        catch (Exception exception) when (exception is WorkerCallException or RingBrokenException or RpcException or IOException)
        {
            broken = true;
            // A stream's failure travels the ring and may surface on a healthy stage's stream (the one before the
            // dead stage, or the result stream the last stage closes): blame the stage that does not answer.
            if (FindCulprit(exception) is { } culprit && culprit != exception)
            {
                throw culprit;
            }
            throw;
        }

        Position += tokens.Length;
        return result;
    }

    /// <summary>The micro-batch this ring uses for a step of <paramref name="tokens"/> tokens.</summary>
    public int MicroBatchFor(int tokens)
    {
        if (tokens <= 1)
        {
            return tokens;
        }
        if (options.MicroBatchTokens > 0)
        {
            return Math.Min(tokens, options.MicroBatchTokens);
        }
        return options.Costs?.MicroBatch(tokens, options.MaxBatchTokens) ?? tokens;
    }

    /// <summary>Hops of a step: into every remote stage, and back to the coordinator.</summary>
    private int Hops => stages.Count + (local is null ? 1 : 0);

    private async Task<RingStepResult> WholeAsync(int[] tokens, RingOutput output, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var (request, bytesSent) = BuildRequest(tokens, Position, output, cacheOnly: false);
        request.Sequence = ++sequence;
        await WriteAsync(request, cancellationToken).ConfigureAwait(false);
        var reply = await ReadReplyAsync(request, writer: null, cancellationToken).ConfigureAwait(false);
        var result = ToResult(reply, clock.Elapsed.TotalMilliseconds, bytesSent);
        options.Costs?.Observe(reply.Stages, tokens.Length, result.WallMilliseconds, Hops);
        return result;
    }

    /// <summary>
    /// The step in micro-batches of <paramref name="microBatch"/> tokens: written one after another by one task
    /// (the local stage, if any, computing each before it goes), while this one reads the last stage's replies:
    /// empty ones for the cache-only micro-batches, the output for the last. Stage timings are summed.
    /// </summary>
    private async Task<RingStepResult> PipelinedAsync(int[] tokens, int microBatch, RingOutput output, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        int start = Position;
        var requests = new List<(ulong Sequence, uint Start, int Count)>();
        for (int done = 0; done < tokens.Length; done += microBatch)
        {
            requests.Add((++sequence, (uint)(start + done), Math.Min(microBatch, tokens.Length - done)));
        }
        long bytesSent = 0;
        var writer = Task.Run(async () =>
        {
            for (int i = 0; i < requests.Count; i++)
            {
                var (number, position, count) = requests[i];
                int offset = (int)position - start;
                var (request, bytes) = BuildRequest(tokens.AsSpan(offset, count), (int)position, output, cacheOnly: i < requests.Count - 1);
                request.Sequence = number;
                bytesSent += bytes;
                await WriteAsync(request, cancellationToken).ConfigureAwait(false);
            }
        }, CancellationToken.None);

        var totals = new List<StageTiming>();
        ForwardReply? last = null;
        foreach (var (number, position, count) in requests)
        {
            var expected = new ForwardRequest { Sequence = number, StartPosition = position };
            last = await ReadReplyAsync(expected, writer, cancellationToken).ConfigureAwait(false);
            options.Costs?.Observe(last.Stages, count, wallMs: null, Hops);
            for (int i = 0; i < last.Stages.Count; i++)
            {
                if (totals.Count <= i)
                {
                    totals.Add(new StageTiming());
                }
                totals[i].ComputeMicroseconds += last.Stages[i].ComputeMicroseconds;
                totals[i].BytesReceived += last.Stages[i].BytesReceived;
            }
        }
        await writer.ConfigureAwait(false);
        last!.Stages.Clear();
        last.Stages.AddRange(totals);
        return ToResult(last, clock.Elapsed.TotalMilliseconds, bytesSent, requests.Count);
    }

    /// <summary>
    /// The request of one step (or micro-batch) at <paramref name="position"/>: token ids for the first remote
    /// stage, or the hidden state of the coordinator's own stage evaluated here. Returns it with its payload bytes.
    /// </summary>
    private (ForwardRequest Request, long Bytes) BuildRequest(ReadOnlySpan<int> tokens, int position, RingOutput output, bool cacheOnly)
    {
        var request = new ForwardRequest
        {
            SessionId = SessionId,
            StartPosition = (uint)position,
            TokenCount = (uint)tokens.Length,
            WantGreedyToken = !cacheOnly && output == RingOutput.GreedyToken,
            WantLogits = !cacheOnly && output == RingOutput.LastLogits,
            CacheOnly = cacheOnly,
            ReplyEncoding = options.Encoding,
        };
        if (local is not null)
        {
            var localClock = Stopwatch.StartNew();
            var hidden = localHidden.AsSpan(0, tokens.Length * options.EmbeddingLength);
            local.Forward.EvaluateTokensToHidden(local.Session, tokens, hidden);
            request.Hidden = ActivationCodec.ToMessage(hidden, tokens.Length, options.EmbeddingLength, options.Encoding);
            request.Stages.Add(new StageTiming { ComputeMicroseconds = (ulong)(localClock.Elapsed.TotalMicroseconds) });
            return (request, request.Hidden.Data.Length);
        }
        request.Tokens = new TokenIds();
        request.Tokens.Ids.Add(tokens.ToArray());
        return (request, tokens.Length * sizeof(int));
    }

    private WorkerCallException? FindCulprit(Exception exception)
    {
        if (watchdog is null)
        {
            return exception as WorkerCallException;
        }
        var culprit = exception is WorkerCallException { Failure: WorkerFailure.Unreachable } pinned && watchdog.Failed.IsCompleted
            && watchdog.Failed.Result.Endpoint == pinned.Endpoint
            ? pinned
            : watchdog.FindFailedAsync(CancellationToken.None).GetAwaiter().GetResult();
        if (culprit is not null)
        {
            FailedStage = culprit.Endpoint;
            failedStages.Add(culprit.Endpoint);
        }
        return culprit ?? exception as WorkerCallException;
    }

    /// <summary>The worker id the coordinator's own stage reports in <see cref="StageTiming"/>.</summary>
    public const string LocalWorkerId = "local";

    private async Task WriteAsync(ForwardRequest request, CancellationToken cancellationToken)
    {
        await WorkerClient.Invoke(stages[0].Worker.Endpoint, async () =>
        {
            await first.RequestStream.WriteAsync(request, cancellationToken).ConfigureAwait(false);
            return true;
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// The last stage's reply to <paramref name="request"/> (its sequence and position checked). A failure
    /// anywhere ends it: the first stage's stream ending (a stage failed and the status travelled back up), or
    /// the task writing a pipelined step's micro-batches failing.
    /// </summary>
    private async Task<ForwardReply> ReadReplyAsync(ForwardRequest request, Task? writer, CancellationToken cancellationToken)
    {
        var firstStage = stages[0].Worker.Endpoint;
        var lastStage = stages[^1].Worker.Endpoint;
        var next = results.ResponseStream.MoveNext(cancellationToken);
        var failures = new List<Task>(4) { next };
        if (watchdog is not null)
        {
            // A stage that stops answering mid-step ends the wait here, not at the transport's keep-alive.
            failures.Add(watchdog.Failed);
        }
        if (firstStreamEnded is not null)
        {
            failures.Add(firstStreamEnded);
        }
        if (writer is not null)
        {
            failures.Add(writer);
        }
        while (true)
        {
            var winner = await Task.WhenAny(failures).ConfigureAwait(false);
            if (watchdog is not null && winner == watchdog.Failed)
            {
                throw await watchdog.Failed.ConfigureAwait(false);
            }
            if (winner == firstStreamEnded)
            {
                await WorkerClient.Invoke(firstStage, async () => await firstStreamEnded.ConfigureAwait(false)).ConfigureAwait(false);
                throw new RingBrokenException($"Worker {firstStage} closed the ring of session {SessionId} without an error.");
            }
            if (winner != writer)
            {
                break;
            }
            await writer.ConfigureAwait(false);  // rethrows why the micro-batches could not be sent
            failures.Remove(writer);             // all sent: wait for the reply alone
        }
        var hasReply = await WorkerClient.Invoke(lastStage, () => next).ConfigureAwait(false);
        if (!hasReply)
        {
            throw new RingBrokenException($"Worker {lastStage} closed the result stream of session {SessionId}.");
        }
        var reply = results.ResponseStream.Current;
        if (reply.Sequence != request.Sequence || reply.StartPosition != request.StartPosition)
        {
            throw new RingBrokenException(
                $"Worker {lastStage} answered step {reply.Sequence} at position {reply.StartPosition}, expected step {request.Sequence} at {request.StartPosition}.");
        }
        return reply;
    }

    private RingStepResult ToResult(ForwardReply reply, double wallMilliseconds, long bytesSent, int microBatches = 1)
    {
        switch (reply.OutputCase)
        {
            case ForwardReply.OutputOneofCase.GreedyToken:
                return new RingStepResult { GreedyToken = reply.GreedyToken, Stages = reply.Stages, WallMilliseconds = wallMilliseconds, BytesSent = bytesSent, BytesReceived = sizeof(int), MicroBatches = microBatches };
            case ForwardReply.OutputOneofCase.Logits:
                var logits = reply.Logits;
                if (logits.VocabularySize != options.VocabularySize || logits.Data.Length != (long)logits.RowCount * logits.VocabularySize * sizeof(float))
                {
                    throw new RingBrokenException($"Worker {stages[^1].Worker.Endpoint} sent {logits.Data.Length} bytes of logits for {logits.RowCount} x {logits.VocabularySize}; the model's vocabulary is {options.VocabularySize}.");
                }
                var values = new float[logits.RowCount * logits.VocabularySize];
                System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(logits.Data.Span).CopyTo(values);
                if (!BitConverter.IsLittleEndian)
                {
                    throw new PlatformNotSupportedException("Logits decoding assumes a little-endian machine.");
                }
                return new RingStepResult { Logits = values, Stages = reply.Stages, WallMilliseconds = wallMilliseconds, BytesSent = bytesSent, BytesReceived = logits.Data.Length, MicroBatches = microBatches };
            default:
                throw new RingBrokenException($"Worker {stages[^1].Worker.Endpoint} answered with {reply.OutputCase} where a token or logits were expected.");
        }
    }

    private static async Task CloseQuietly(WorkerClient worker, string sessionId)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await worker.CloseSessionAsync(sessionId, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is WorkerCallException or OperationCanceledException)
        {
            // Best effort: the worker also closes the session when its stream ends or it sits idle.
        }
    }

    /// <summary>Ends the streams (which releases the session along the ring) and closes it on every stage.</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            first.RequestStream.CompleteAsync().Wait(timeout.Token);
            if (!ReferenceEquals(first, results))
            {
                results.RequestStream.CompleteAsync().Wait(timeout.Token);
            }
        }
        catch (Exception exception) when (exception is AggregateException or OperationCanceledException or InvalidOperationException or RpcException)
        {
            // The stream already failed; closing the sessions below still frees the workers' caches.
        }
        watchdog?.Dispose();
        // In parallel, and never with a stage found dead: a frozen one would hold every close for its timeout.
        Task.WhenAll(stages.Where(stage => !failedStages.Contains(stage.Worker.Endpoint.ToString()))
            .Select(stage => CloseQuietly(stage.Worker, SessionId))).GetAwaiter().GetResult();
        lifetime.Cancel();
        first.Dispose();
        if (!ReferenceEquals(first, results))
        {
            results.Dispose();
        }
        lifetime.Dispose();
    }
}
