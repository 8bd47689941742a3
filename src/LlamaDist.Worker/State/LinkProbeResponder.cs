using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Worker.State;

/// <summary>
/// Answers MeasureLink: echoes a bounded amount of filler and, when asked, re-runs the throughput benchmark on
/// the worker's compute threads, as at start-up or over the sustained working set
/// (<see cref="ThroughputProbe.SustainedWorkingSetBytes"/>, less where memory is short) — one measurement at a time,
/// so probes cannot stack up on a busy worker. Answers EchoLink too.
/// </summary>
internal sealed class LinkProbeResponder(WorkerRuntime runtime)
{
    /// <summary>Largest payload either way.</summary>
    public const int MaxPayloadBytes = 1 << 20;

    /// <summary>Echoes one EchoLink call answers before the worker ends it.</summary>
    public const int MaxEchoes = 16;

    /// <summary>How long one EchoLink call may stay open.</summary>
    public static readonly TimeSpan EchoLifetime = TimeSpan.FromSeconds(10);

    private readonly SemaphoreSlim measuring = new(1, 1);

    /// <summary>
    /// Answers each echo with its sequence, at most <see cref="MaxEchoes"/> of them within <see cref="EchoLifetime"/>;
    /// then the call ends (OK after the last echo, ResourceExhausted when its time ran out first). Nothing of the
    /// request but its sequence number is sent back.
    /// </summary>
    public static async Task EchoAsync(IAsyncStreamReader<LinkEcho> requests, IServerStreamWriter<LinkEcho> replies, CancellationToken cancellationToken)
    {
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        lifetime.CancelAfter(EchoLifetime);
        try
        {
            for (int answered = 0; answered < MaxEchoes && await requests.MoveNext(lifetime.Token).ConfigureAwait(false); answered++)
            {
                await replies.WriteAsync(new LinkEcho { Sequence = requests.Current.Sequence }, lifetime.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw WorkerErrors.Create(StatusCode.ResourceExhausted, WorkerFailure.Rejected,
                $"An EchoLink call stays open at most {EchoLifetime.TotalSeconds:0} s.");
        }
    }

    public async Task<LinkProbeReply> AnswerAsync(LinkProbe probe, CancellationToken cancellationToken)
    {
        if (probe.Payload.Length > MaxPayloadBytes || probe.ReplyBytes > MaxPayloadBytes)
        {
            throw WorkerErrors.Invalid($"A link probe carries at most {MaxPayloadBytes:N0} bytes each way.");
        }
        var reply = new LinkProbeReply
        {
            Payload = probe.ReplyBytes == 0 ? Google.Protobuf.ByteString.Empty : Google.Protobuf.ByteString.CopyFrom(new byte[probe.ReplyBytes]),
        };
        if (probe.MeasureThroughput)
        {
            await measuring.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var (gigaFlops, bytesPerSecond) = await Task.Run(() => probe.Sustained
                    ? ThroughputProbe.Measure(runtime.Threads, ThroughputProbe.SustainedWorkingSet(SystemMemory.Available()), ThroughputProbe.SustainedTime)
                    : ThroughputProbe.Measure(runtime.Threads), cancellationToken).ConfigureAwait(false);
                reply.BytesPerSecond = bytesPerSecond;
                reply.MatvecGflops = gigaFlops;
            }
            finally
            {
                measuring.Release();
            }
        }
        return reply;
    }
}
