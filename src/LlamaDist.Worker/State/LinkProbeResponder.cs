using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Worker.State;

/// <summary>
/// Answers MeasureLink: echoes a bounded amount of filler and, when asked, re-runs the throughput benchmark on
/// the worker's compute threads — one measurement at a time, so probes cannot stack up on a busy worker.
/// </summary>
internal sealed class LinkProbeResponder(WorkerRuntime runtime)
{
    /// <summary>Largest payload either way.</summary>
    public const int MaxPayloadBytes = 1 << 20;

    private readonly SemaphoreSlim measuring = new(1, 1);

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
                var (gigaFlops, bytesPerSecond) = await Task.Run(() => ThroughputProbe.Measure(runtime.Threads), cancellationToken).ConfigureAwait(false);
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
