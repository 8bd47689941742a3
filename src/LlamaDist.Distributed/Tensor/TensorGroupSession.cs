using System.Diagnostics;
using System.Runtime.InteropServices;
using Grpc.Core;
using LlamaDist.Distributed.Activations;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tensor;

/// <summary>
/// One sequence on a tensor-parallel group, from the coordinator's side. Every step goes to every shard at once
/// (the same token ids, on one persistent ShardStep stream per shard); the shards exchange their partial sums
/// among themselves, twice per layer, and each answers with its columns of the logits — or, for greedy decoding,
/// the best of them (8 bytes), from which the coordinator takes the best overall (the lowest id on a tie, as an
/// argmax over all the logits does). A failed shard fails the step with its error; the session is then unusable.
/// As a stage of a hybrid split the group may start from a hidden state and answer with one
/// (<see cref="EvaluateHidden"/>).
/// </summary>
public sealed class TensorGroupSession : IDisposable
{
    private static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(30);

    private readonly IReadOnlyList<TensorShard> shards;
    private readonly TensorSessionOptions options;
    private readonly AsyncDuplexStreamingCall<ShardStepRequest, ShardStepReply>[] streams;
    private readonly CancellationTokenSource closing = new();
    private ulong sequence;
    private bool broken;

    private TensorGroupSession(string id, IReadOnlyList<TensorShard> shards, TensorSessionOptions options,
        AsyncDuplexStreamingCall<ShardStepRequest, ShardStepReply>[] streams)
    {
        Id = id;
        this.shards = shards;
        this.options = options;
        this.streams = streams;
    }

    public string Id { get; }

    /// <summary>Tokens evaluated so far.</summary>
    public int Position { get; private set; }

    public int ShardCount => shards.Count;

    /// <summary>
    /// Opens the session on every shard (each verifies its peers), then the step streams. The shards link to each
    /// other at the first step, on their workers' peer ports, proving the session's fresh secret to each other.
    /// </summary>
    public static async Task<TensorGroupSession> OpenAsync(IReadOnlyList<TensorShard> shards, TensorSessionOptions options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(shards);
        ArgumentNullException.ThrowIfNull(options);
        if (shards.Count == 0)
        {
            throw new ArgumentException("A tensor-parallel group needs at least one shard.", nameof(shards));
        }
        string id = Guid.NewGuid().ToString("N");
        // The shards' links prove this to each other: only the shards this session was opened on know it.
        var secret = Google.Protobuf.ByteString.CopyFrom(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var opened = new List<TensorShard>();
        try
        {
            await Task.WhenAll(shards.Select(async shard =>
            {
                var request = new OpenShardSessionRequest
                {
                    SessionId = id, ShardId = shard.ShardId, ContextSize = (uint)options.ContextSize,
                    MaxBatchTokens = (uint)options.MaxBatchTokens, Encoding = options.Encoding, OwnerId = shard.Worker.OwnerId,
                    PeerSecret = secret,
                };
                foreach (var peer in shards)
                {
                    var link = new ShardPeer
                    {
                        Endpoint = peer == shard ? "" : peer.Worker.Endpoint.ToString(), PeerPort = peer == shard ? 0 : (uint)peer.PeerPort,
                    };
                    link.CertificateThumbprints.AddRange(peer.Worker.Credentials.CertificateThumbprints);
                    request.Peers.Add(link);
                }
                await WorkerClient.Invoke(shard.Worker.Endpoint, () => shard.Worker.Calls.OpenShardSessionAsync(request,
                    deadline: DateTime.UtcNow + ControlTimeout, cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
                lock (opened)
                {
                    opened.Add(shard);
                }
            })).ConfigureAwait(false);
        }
        catch
        {
            CloseQuietly(opened, id);
            throw;
        }
        var streams = shards.Select(shard => shard.Worker.Calls.ShardStep()).ToArray();
        return new TensorGroupSession(id, shards, options, streams);
    }

    /// <summary>
    /// Evaluates <paramref name="tokens"/> (in steps of at most MaxBatchTokens) and writes the last token's
    /// logits [n_vocab]; returns each shard's figures summed over the steps.
    /// </summary>
    public ShardStepFigures[] Evaluate(ReadOnlySpan<int> tokens, Span<float> logits) =>
        Evaluate(TensorStepInput.FromTokens(tokens), logits);

    /// <summary>Evaluates <paramref name="tokens"/> and returns the argmax of the last token's logits, with each shard's figures.</summary>
    public (int Token, ShardStepFigures[] Figures) EvaluateGreedy(ReadOnlySpan<int> tokens) =>
        EvaluateGreedy(TensorStepInput.FromTokens(tokens));

    /// <summary>As <see cref="Evaluate(ReadOnlySpan{int}, Span{float})"/>, from token ids or (a later stage of a hybrid split) a hidden state.</summary>
    public ShardStepFigures[] Evaluate(TensorStepInput input, Span<float> logits)
    {
        if (logits.Length < options.VocabularySize)
        {
            throw new ArgumentException($"The logits buffer holds {logits.Length} values but {options.VocabularySize} are needed.", nameof(logits));
        }
        var figures = new ShardStepFigures[shards.Count];
        ShardStepReply[] replies = RunSteps(input, greedy: false, figures);
        for (int i = 0; i < shards.Count; i++)
        {
            var slice = shards[i].Slice;
            var data = replies[i].Logits?.Data ?? throw Malformed(i, "no logits");
            if (data.Length != slice.VocabularyCount * sizeof(float))
            {
                throw Malformed(i, $"{data.Length} bytes of logits for {slice.VocabularyCount} columns");
            }
            MemoryMarshal.Cast<byte, float>(data.Span).CopyTo(logits.Slice(slice.VocabularyStart, slice.VocabularyCount));
        }
        return figures;
    }

    /// <summary>As <see cref="EvaluateGreedy(ReadOnlySpan{int})"/>, from token ids or a hidden state.</summary>
    public (int Token, ShardStepFigures[] Figures) EvaluateGreedy(TensorStepInput input)
    {
        var figures = new ShardStepFigures[shards.Count];
        ShardStepReply[] replies = RunSteps(input, greedy: true, figures);
        int best = -1;
        float bestLogit = float.NegativeInfinity;
        for (int i = 0; i < shards.Count; i++)
        {
            var slice = shards[i].Slice;
            var greedy = replies[i].Greedy ?? throw Malformed(i, "no greedy token");
            if (greedy.Token < slice.VocabularyStart || greedy.Token >= slice.VocabularyStart + slice.VocabularyCount)
            {
                throw Malformed(i, $"token {greedy.Token} outside its columns");
            }
            // Shards come in vocabulary order, so keeping the first of equal logits keeps the lowest id.
            if (best < 0 || greedy.Logit > bestLogit)
            {
                best = greedy.Token;
                bestLogit = greedy.Logit;
            }
        }
        return (best, figures);
    }

    /// <summary>
    /// A stage of a hybrid split whose layers end before the model's last: evaluates at most MaxBatchTokens tokens
    /// in one step and returns the group's output [tokens, n_embd] in <see cref="TensorSessionOptions.HiddenEncoding"/>
    /// (from shard 0; size and width checked), ready to be passed unchanged to the next stage.
    /// </summary>
    public (HiddenState Hidden, ShardStepFigures[] Figures) EvaluateHidden(TensorStepInput input)
    {
        if (input.Count > options.MaxBatchTokens)
        {
            throw new ArgumentException($"A hidden-state step carries at most {options.MaxBatchTokens} tokens, not {input.Count}.", nameof(input));
        }
        var figures = new ShardStepFigures[shards.Count];
        ShardStepReply[] replies = RunSteps(input, greedy: false, figures);
        var hidden = replies[0].Hidden ?? throw Malformed(0, "no hidden state");
        long expected = ActivationCodec.PayloadBytes(options.HiddenEncoding, input.Count, options.EmbeddingLength);
        if (hidden.Encoding != options.HiddenEncoding || hidden.EmbeddingLength != (uint)options.EmbeddingLength || hidden.Data.Length != expected)
        {
            throw Malformed(0, $"a hidden state of {hidden.Data.Length} bytes ({hidden.Encoding}, width {hidden.EmbeddingLength}) where {expected} were due");
        }
        return (hidden, figures);
    }

    private ShardStepReply[] RunSteps(TensorStepInput input, bool greedy, ShardStepFigures[] figures)
    {
        ObjectDisposedException.ThrowIf(closing.IsCancellationRequested, this);
        if (broken)
        {
            throw new InvalidOperationException("A step of this tensor-parallel session failed; open a new session.");
        }
        if (input.Count <= 0)
        {
            throw new ArgumentException("At least one token must be evaluated.", nameof(input));
        }
        if (input.Hidden is not null && input.Count > options.MaxBatchTokens)
        {
            throw new ArgumentException($"A hidden state travels in steps of at most {options.MaxBatchTokens} tokens, not {input.Count}.", nameof(input));
        }
        ShardStepReply[]? last = null;
        for (int done = 0; done < input.Count; done += options.MaxBatchTokens)
        {
            int count = Math.Min(options.MaxBatchTokens, input.Count - done);
            var request = new ShardStepRequest
            {
                SessionId = Id, Sequence = ++sequence, StartPosition = (uint)Position, WantGreedyToken = greedy,
                ReplyEncoding = options.HiddenEncoding,
            };
            if (input.Hidden is { } hidden)
            {
                request.Hidden = hidden;
                request.TokenCount = (uint)count;
            }
            else
            {
                request.Tokens.AddRange(input.Tokens.AsSpan(done, count).ToArray());
            }
            try
            {
                last = StepAsync(request).GetAwaiter().GetResult();
            }
            catch
            {
                broken = true;
                throw;
            }
            Position += count;
            for (int i = 0; i < last.Length; i++)
            {
                var reply = last[i];
                figures[i] = new ShardStepFigures(
                    figures[i].ComputeMs + reply.ComputeMicroseconds / 1000.0,
                    figures[i].ReduceMs + reply.ReduceMicroseconds / 1000.0,
                    figures[i].PartialBytesSent + (long)reply.PartialBytesSent,
                    figures[i].PartialBytesReceived + (long)reply.PartialBytesReceived,
                    figures[i].StepBytes + request.CalculateSize(),
                    figures[i].ReplyBytes + reply.CalculateSize());
            }
        }
        return last!;
    }

    private async Task<ShardStepReply[]> StepAsync(ShardStepRequest request)
    {
        var token = closing.Token;
        await AllShards(streams.Select((stream, i) =>
            OnShard(i, async () =>
            {
                await stream.RequestStream.WriteAsync(request, token).ConfigureAwait(false);
                return true;
            }))).ConfigureAwait(false);
        var replies = await AllShards(streams.Select((stream, i) =>
            OnShard(i, async () =>
            {
                if (!await stream.ResponseStream.MoveNext(token).ConfigureAwait(false))
                {
                    throw Malformed(i, "the step stream ended");
                }
                return stream.ResponseStream.Current;
            }))).ConfigureAwait(false);
        for (int i = 0; i < replies.Length; i++)
        {
            if (replies[i].Sequence != request.Sequence)
            {
                throw Malformed(i, $"reply {replies[i].Sequence} to step {request.Sequence}");
            }
        }
        return replies;
    }

    /// <summary>A call on shard <paramref name="shard"/>'s stream; a connection that breaks under it names the shard as unreachable.</summary>
    private Task<T> OnShard<T>(int shard, Func<Task<T>> call) => WorkerClient.Invoke(shards[shard].Worker.Endpoint, async () =>
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (IOException exception)
        {
            throw new WorkerCallException(shards[shard].Worker.Endpoint.ToString(), WorkerFailure.Unreachable,
                $"Worker {shards[shard].Worker.Endpoint} is unreachable: its connection broke ({exception.Message}).", exception);
        }
    });

    /// <summary>
    /// Every shard's call; when some fail, the lost shard is reported rather than a peer that only failed because
    /// the lost one stopped sending its partial sums (<see cref="ShardBlame"/>).
    /// </summary>
    private async Task<T[]> AllShards<T>(IEnumerable<Task<T>> calls)
    {
        var tasks = calls.ToArray();
        try
        {
            return await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (WorkerCallException)
        {
            var failures = tasks.Select((task, shard) => (Shard: shard, Failure: task.IsFaulted ? task.Exception!.InnerException as WorkerCallException : null))
                .Where(entry => entry.Failure is not null)
                .Select(entry => (entry.Shard, entry.Failure!))
                .ToArray();
            throw ShardBlame.Pick(failures, shards.Select(shard => shard.Worker.Endpoint.ToString()).ToArray());
        }
    }

    private WorkerCallException Malformed(int shard, string what) =>
        new(shards[shard].Worker.Endpoint.ToString(), WorkerFailure.Rejected,
            $"Shard {shard} ({shards[shard].Worker.Endpoint}) answered a step with {what}.");

    public void Dispose()
    {
        if (closing.IsCancellationRequested)
        {
            return;
        }
        foreach (var stream in streams)
        {
            try
            {
                stream.RequestStream.CompleteAsync().Wait(TimeSpan.FromSeconds(2));
            }
            catch (Exception exception) when (exception is AggregateException or InvalidOperationException or RpcException)
            {
                // Already broken: nothing to finish.
            }
        }
        closing.Cancel();
        foreach (var stream in streams)
        {
            stream.Dispose();
        }
        CloseQuietly(shards, Id);
    }

    private static void CloseQuietly(IEnumerable<TensorShard> shards, string id)
    {
        var closes = shards.Select(async shard =>
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await shard.Worker.Calls.CloseShardSessionAsync(new CloseSessionRequest { SessionId = id, OwnerId = shard.Worker.OwnerId },
                    cancellationToken: timeout.Token).ResponseAsync.ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is RpcException or OperationCanceledException or HttpRequestException or ObjectDisposedException)
            {
                // Gone or slow: the worker closes the session when idle or when the lease ends.
            }
        }).ToArray();
        Task.WaitAll(closes, TimeSpan.FromSeconds(6));
    }
}
