using System.Diagnostics;
using System.Threading.Channels;
using Grpc.Core;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tensor;

namespace LlamaDist.Worker.State.Tensor;

/// <summary>
/// The all-reduce of one shard session over the network, in one round of messages: <see cref="Sum"/> sends this
/// shard's partial to every peer on a persistent ExchangePartials stream, then takes the peers' partials of the
/// same sequence number from their inboxes and adds all of them in shard order (this shard's own as the peers
/// decode it), so every shard gets the same sums. Waits are bounded by <see cref="Timeout"/>; a peer that sends
/// out of order, too much, or the wrong size breaks the session with a clear error instead of corrupting it.
/// </summary>
internal sealed class PeerReduction : ITensorReduction, IDisposable
{
    /// <summary>Partials a peer may be ahead by: it cannot pass a reduction before receiving ours, so 1 suffices.</summary>
    private const int InboxCapacity = 4;

    private readonly string sessionId;
    private readonly int self;
    private readonly int embeddingLength;
    private readonly int maxTokens;
    private readonly ReductionEncoding encoding;
    private readonly AsyncClientStreamingCall<PartialSum, ExchangePartialsReply>?[] outbound;
    private readonly Channel<PartialSum>[] inboxes;
    private readonly float[][] decoded;
    private readonly CancellationTokenSource closing = new();
    private long sequence;

    public PeerReduction(string sessionId, int self, int shardCount, int embeddingLength, int maxTokens, ReductionEncoding encoding,
        AsyncClientStreamingCall<PartialSum, ExchangePartialsReply>?[] outbound)
    {
        this.sessionId = sessionId;
        this.self = self;
        this.embeddingLength = embeddingLength;
        this.maxTokens = maxTokens;
        this.encoding = encoding;
        this.outbound = outbound;
        inboxes = new Channel<PartialSum>[shardCount];
        decoded = new float[shardCount][];
        for (int shard = 0; shard < shardCount; shard++)
        {
            inboxes[shard] = Channel.CreateBounded<PartialSum>(new BoundedChannelOptions(InboxCapacity) { FullMode = BoundedChannelFullMode.Wait });
            decoded[shard] = new float[(long)embeddingLength * maxTokens];
        }
    }

    public int ShardCount => inboxes.Length;

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Told the size of every message sent to a peer (the worker's traffic counters).</summary>
    public Action<int>? MessageSent { get; init; }

    /// <summary>Time spent sending, waiting for and adding peers' partials since the last <see cref="TakeFigures"/>.</summary>
    private long reduceTicks;
    private long bytesSent;
    private long bytesReceived;

    public (TimeSpan Reduce, long BytesSent, long BytesReceived) TakeFigures() =>
        (TimeSpan.FromTicks(Interlocked.Exchange(ref reduceTicks, 0)), Interlocked.Exchange(ref bytesSent, 0),
            Interlocked.Exchange(ref bytesReceived, 0));

    /// <summary>
    /// Accepts a peer's partial (from its ExchangePartials stream). Waits while the peer is
    /// <see cref="InboxCapacity"/> partials ahead; false once the session is closing.
    /// </summary>
    public async ValueTask<bool> DeliverAsync(PartialSum partial, CancellationToken cancellationToken)
    {
        if (partial.FromShard >= inboxes.Length || partial.FromShard == self)
        {
            throw WorkerErrors.Invalid($"from_shard {partial.FromShard} is not a peer of shard {self} of {inboxes.Length}.");
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, closing.Token);
        try
        {
            await inboxes[partial.FromShard].Writer.WriteAsync(partial, linked.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (closing.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// The stream from <paramref name="shard"/> ended (its session closed, or it went away): what it sent is
    /// still summed, after that a wait for it fails at once instead of at the timeout.
    /// </summary>
    public void PeerEnded(uint shard)
    {
        if (shard < inboxes.Length && shard != self)
        {
            inboxes[shard].Writer.TryComplete();
        }
    }

    public void Sum(Span<float> partial, int tokens)
    {
        var clock = Stopwatch.StartNew();
        long number = sequence++;
        int values = tokens * embeddingLength;
        var message = new PartialSum
        {
            SessionId = sessionId, FromShard = (uint)self, Sequence = (ulong)number, TokenCount = (uint)tokens, Encoding = encoding,
            Data = PartialSumCodec.Encode(encoding, partial[..values]),
        };
        var writes = new List<Task>(outbound.Length);
        for (int peer = 0; peer < outbound.Length; peer++)
        {
            if (outbound[peer] is { } call)
            {
                writes.Add(call.RequestStream.WriteAsync(message, closing.Token));
                Interlocked.Add(ref bytesSent, message.Data.Length);
                MessageSent?.Invoke(message.CalculateSize());
            }
        }
        PartialSumCodec.RoundTrip(encoding, partial[..values]);
        partial[..values].CopyTo(decoded[self]);
        for (int peer = 0; peer < inboxes.Length; peer++)
        {
            if (peer != self)
            {
                Receive(peer, number, tokens, decoded[peer].AsSpan(0, values));
            }
        }
        WaitAll(writes);

        decoded[0].AsSpan(0, values).CopyTo(partial);
        for (int shard = 1; shard < inboxes.Length; shard++)
        {
            Core.Numerics.VectorMath.Add(partial[..values], decoded[shard].AsSpan(0, values));
        }
        Interlocked.Add(ref reduceTicks, clock.Elapsed.Ticks);
    }

    private void Receive(int peer, long number, int tokens, Span<float> values)
    {
        PartialSum message;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(closing.Token))
        {
            timeout.CancelAfter(Timeout);
            try
            {
                message = inboxes[peer].Reader.ReadAsync(timeout.Token).AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (!closing.IsCancellationRequested)
            {
                throw WorkerErrors.Create(StatusCode.Unavailable, WorkerFailure.Unreachable,
                    $"Shard {peer} sent no partial sum within {Timeout.TotalSeconds:0} s; the tensor-parallel group is broken.");
            }
            catch (ChannelClosedException)
            {
                throw WorkerErrors.Create(StatusCode.Unavailable, WorkerFailure.Unreachable, $"Shard {peer} stopped sending partial sums.");
            }
        }
        if (message.Sequence != (ulong)number || message.TokenCount != (uint)tokens || message.Encoding != encoding)
        {
            throw WorkerErrors.Create(StatusCode.DataLoss, WorkerFailure.Rejected,
                $"Shard {peer} sent partial {message.Sequence} of {message.TokenCount} tokens in {message.Encoding}; expected {number} of {tokens} in {encoding}.");
        }
        Interlocked.Add(ref bytesReceived, message.Data.Length);
        try
        {
            PartialSumCodec.Decode(encoding, message.Data.Span, values);
        }
        catch (ArgumentException exception)
        {
            throw WorkerErrors.Create(StatusCode.DataLoss, WorkerFailure.Rejected, $"Shard {peer}: {exception.Message}");
        }
    }

    private void WaitAll(List<Task> writes)
    {
        try
        {
            if (!Task.WaitAll([.. writes], Timeout))
            {
                throw WorkerErrors.Create(StatusCode.Unavailable, WorkerFailure.Unreachable,
                    $"Partial sums could not be sent to the peers within {Timeout.TotalSeconds:0} s.");
            }
        }
        catch (AggregateException exception)
        {
            throw WorkerErrors.Create(StatusCode.Unavailable, WorkerFailure.Unreachable,
                $"A peer shard stopped accepting partial sums: {exception.InnerException?.Message}");
        }
    }

    /// <summary>The largest partial this session sums: max_batch_tokens rows.</summary>
    public int MaxTokens => maxTokens;

    public void Dispose()
    {
        closing.Cancel();
        foreach (var inbox in inboxes)
        {
            inbox.Writer.TryComplete();
        }
        foreach (var call in outbound)
        {
            if (call is null)
            {
                continue;
            }
            try
            {
                _ = call.RequestStream.CompleteAsync().ContinueWith(_ => call.Dispose(), TaskScheduler.Default);
            }
            catch (InvalidOperationException)
            {
                call.Dispose();
            }
        }
    }
}
