using System.Diagnostics;
using Grpc.Core;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tensor;

namespace LlamaDist.Worker.State.Tensor;

/// <summary>
/// The all-reduce of one shard session over the network, in one round of messages: <see cref="Sum"/> writes this
/// shard's partial to every peer's <see cref="PeerLink"/>, reads the peers' partials of the same sequence number,
/// and adds all of them in shard order (this shard's own as the peers decode it), so every shard gets the same
/// sums. The links are made at the first reduction, when every shard's session is open: each shard dials the
/// higher ones and waits for the lower ones to dial it (<see cref="TryAttach"/>, from the worker's
/// <see cref="PeerListener"/>). Reads and writes are bounded by <see cref="Timeout"/>; a peer that sends out of
/// order, the wrong size or nothing breaks the session with a clear error instead of corrupting it.
/// </summary>
internal sealed class PeerReduction : ITensorReduction, IDisposable
{
    /// <summary>
    /// Frames up to this size are written inline before reading: both ends' socket buffers hold them, so two
    /// shards writing to each other at once cannot block each other. Larger ones (prompt batches) are written
    /// from another thread while this one reads.
    /// </summary>
    private const int InlineSendBytes = 64 << 10;

    private readonly string sessionId;
    private readonly int embeddingLength;
    private readonly int maxTokens;
    private readonly ReductionEncoding encoding;
    private readonly byte[] secret;
    private readonly PeerAddress?[] addresses;
    private readonly PeerLink?[] links;
    private readonly TaskCompletionSource<PeerLink>[] inbound;
    private readonly float[][] decoded;
    private readonly CancellationTokenSource closing = new();
    private byte[] sendBuffer = [];
    private byte[] receiveBuffer = [];
    private bool linked;
    private long sequence;

    /// <param name="addresses">Every shard's link address in shard order; null for this shard.</param>
    /// <param name="secret">The session's secret, shared by its shards (<see cref="PeerWire.SecretBytes"/> bytes).</param>
    public PeerReduction(string sessionId, int self, int embeddingLength, int maxTokens, ReductionEncoding encoding,
        byte[] secret, PeerAddress?[] addresses)
    {
        this.sessionId = sessionId;
        Self = self;
        this.embeddingLength = embeddingLength;
        this.maxTokens = maxTokens;
        this.encoding = encoding;
        this.secret = secret;
        this.addresses = addresses;
        int shardCount = addresses.Length;
        links = new PeerLink?[shardCount];
        inbound = new TaskCompletionSource<PeerLink>[shardCount];
        decoded = new float[shardCount][];
        for (int shard = 0; shard < shardCount; shard++)
        {
            inbound[shard] = new TaskCompletionSource<PeerLink>(TaskCreationOptions.RunContinuationsAsynchronously);
            decoded[shard] = [];
        }
    }

    /// <summary>This shard's index in the group.</summary>
    public int Self { get; }

    public int ShardCount => addresses.Length;

    /// <summary>The link to <paramref name="shard"/> once the first reduction made it (null for this shard or before).</summary>
    internal PeerLink? LinkTo(int shard) => links[shard];

    /// <summary>The secret a peer's link proves (read by the listener's handshake).</summary>
    public ReadOnlySpan<byte> Secret => secret;

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Told the size of every frame sent to a peer and received from one (the worker's traffic counters).</summary>
    public Action<int>? FrameSent { get; init; }

    public Action<int>? FrameReceived { get; init; }

    /// <summary>The largest partial this session sums: max_batch_tokens rows.</summary>
    public int MaxTokens => maxTokens;

    /// <summary>Time spent sending, waiting for and adding peers' partials since the last <see cref="TakeFigures"/>.</summary>
    private long reduceTicks;
    private long bytesSent;
    private long bytesReceived;

    public (TimeSpan Reduce, long BytesSent, long BytesReceived) TakeFigures() =>
        (TimeSpan.FromTicks(Interlocked.Exchange(ref reduceTicks, 0)), Interlocked.Exchange(ref bytesSent, 0),
            Interlocked.Exchange(ref bytesReceived, 0));

    /// <summary>
    /// Takes the link a lower shard dialled (after the listener checked its proof); false, and the caller closes
    /// it, when that shard already has one or the session is closing.
    /// </summary>
    public bool TryAttach(int from, PeerLink link)
    {
        if ((uint)from >= (uint)Self || closing.IsCancellationRequested)
        {
            return false;
        }
        link.Timeout = Timeout;
        if (!inbound[from].TrySetResult(link))
        {
            return false;
        }
        if (closing.IsCancellationRequested)
        {
            link.Dispose();   // Dispose ran meanwhile and may have missed it
        }
        return true;
    }

    public void Sum(Span<float> partial, int tokens)
    {
        long started = Stopwatch.GetTimestamp();
        if (ShardCount == 1)
        {
            return;
        }
        EnsureLinked();
        long number = sequence++;
        int values = tokens * embeddingLength;
        int payload = PartialSumCodec.EncodedBytes(encoding, values);
        int frame = PeerWire.FrameHeaderBytes + payload;
        Grow(ref sendBuffer, frame);
        Grow(ref receiveBuffer, payload);
        PeerWire.WriteFrameHeader(sendBuffer, number, tokens, payload);
        PartialSumCodec.Encode(encoding, partial[..values], sendBuffer.AsSpan(PeerWire.FrameHeaderBytes, payload));

        Task? sending = null;
        if (frame <= InlineSendBytes)
        {
            SendToPeers(frame);
        }
        else
        {
            sending = Task.Run(() => SendToPeers(frame));
        }
        PartialSumCodec.RoundTrip(encoding, partial[..values]);
        var own = Decoded(Self, values);
        partial[..values].CopyTo(own);
        for (int peer = 0; peer < ShardCount; peer++)
        {
            if (peer != Self)
            {
                Receive(peer, number, tokens, payload, Decoded(peer, values));
            }
        }
        if (sending is not null)
        {
            WaitForSend(sending);
        }

        Decoded(0, values).CopyTo(partial);
        for (int shard = 1; shard < ShardCount; shard++)
        {
            Core.Numerics.VectorMath.Add(partial[..values], Decoded(shard, values));
        }
        Interlocked.Add(ref reduceTicks, Stopwatch.GetElapsedTime(started).Ticks);
    }

    private Span<float> Decoded(int shard, int values)
    {
        if (decoded[shard].Length < values)
        {
            decoded[shard] = new float[Math.Min((long)embeddingLength * maxTokens, (long)values * 2)];
        }
        return decoded[shard].AsSpan(0, values);
    }

    private static void Grow(ref byte[] buffer, int bytes)
    {
        if (buffer.Length < bytes)
        {
            buffer = new byte[Math.Max(bytes, Math.Min(buffer.Length * 2, int.MaxValue / 2))];
        }
    }

    /// <summary>Dials every higher shard and waits for every lower one, once.</summary>
    private void EnsureLinked()
    {
        if (linked)
        {
            return;
        }
        for (int peer = Self + 1; peer < ShardCount; peer++)
        {
            try
            {
                var link = PeerLink.Connect(addresses[peer]!, secret, Self, peer, sessionId, Timeout, closing.Token);
                link.Timeout = Timeout;
                links[peer] = link;
                if (closing.IsCancellationRequested)
                {
                    link.Dispose();   // Dispose ran meanwhile and may have missed it
                    throw new OperationCanceledException();
                }
            }
            catch (PeerLinkException exception)
            {
                throw WorkerErrors.Create(StatusCode.Unavailable, WorkerFailure.Unreachable,
                    $"Shard {Self} cannot link to shard {peer}: {exception.Message} (its worker's peer port must be reachable from this one; see -PeerPort).");
            }
            catch (OperationCanceledException)
            {
                throw Closed();
            }
        }
        for (int peer = 0; peer < Self; peer++)
        {
            try
            {
                if (!inbound[peer].Task.Wait(Timeout, closing.Token))
                {
                    throw WorkerErrors.Create(StatusCode.Unavailable, WorkerFailure.Unreachable,
                        $"Shard {peer} did not link to shard {Self} within {Timeout.TotalSeconds:0} s (this worker's peer port must be reachable from it; see -PeerPort).");
                }
                links[peer] = inbound[peer].Task.Result;
            }
            catch (OperationCanceledException)
            {
                throw Closed();
            }
        }
        linked = true;
    }

    private void SendToPeers(int frame)
    {
        for (int peer = 0; peer < ShardCount; peer++)
        {
            if (links[peer] is { } link)
            {
                try
                {
                    link.Send(sendBuffer.AsSpan(0, frame));
                }
                catch (Exception exception) when (exception is IOException or ObjectDisposedException)
                {
                    throw closing.IsCancellationRequested ? Closed()
                        : WorkerErrors.LostShard(peer, $"Shard {peer} stopped accepting partial sums: {exception.Message}");
                }
                Interlocked.Add(ref bytesSent, frame - PeerWire.FrameHeaderBytes);
                FrameSent?.Invoke(frame);
            }
        }
    }

    private void WaitForSend(Task sending)
    {
        try
        {
            sending.GetAwaiter().GetResult();
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException)
        {
            throw WorkerErrors.Create(StatusCode.Unavailable, WorkerFailure.Unreachable, $"A peer shard stopped accepting partial sums: {exception.Message}");
        }
    }

    private void Receive(int peer, long number, int tokens, int payload, Span<float> values)
    {
        var link = links[peer]!;
        Span<byte> header = stackalloc byte[PeerWire.FrameHeaderBytes];
        try
        {
            link.Receive(header);
            var (frameSequence, frameTokens, frameBytes) = PeerWire.ReadFrameHeader(header);
            // Checked before the payload is read: a peer out of step is refused, not trusted with a buffer size.
            if (frameSequence != (ulong)number || frameTokens != (uint)tokens || frameBytes != (uint)payload)
            {
                throw WorkerErrors.Create(StatusCode.DataLoss, WorkerFailure.Rejected,
                    $"Shard {peer} sent partial {frameSequence} of {frameTokens} tokens in {frameBytes} bytes; expected {number} of {tokens} in {payload} bytes.");
            }
            link.Receive(receiveBuffer.AsSpan(0, payload));
        }
        catch (Exception exception) when (exception is IOException or ObjectDisposedException)
        {
            if (closing.IsCancellationRequested)
            {
                throw Closed();
            }
            throw PeerLink.TimedOut(exception)
                ? WorkerErrors.LostShard(peer, $"Shard {peer} sent no partial sum within {Timeout.TotalSeconds:0} s; the tensor-parallel group is broken.")
                : WorkerErrors.LostShard(peer, $"Shard {peer} stopped sending partial sums.");
        }
        Interlocked.Add(ref bytesReceived, payload);
        FrameReceived?.Invoke(PeerWire.FrameHeaderBytes + payload);
        PartialSumCodec.Decode(encoding, receiveBuffer.AsSpan(0, payload), values);
    }

    private static RpcException Closed() => WorkerErrors.NotFound("The session was closed during the step.");

    public void Dispose()
    {
        closing.Cancel();
        for (int shard = 0; shard < ShardCount; shard++)
        {
            links[shard]?.Dispose();
            if (inbound[shard].Task.IsCompletedSuccessfully)
            {
                inbound[shard].Task.Result.Dispose();
            }
        }
    }
}
