using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// Measures what <see cref="SplitCostModel"/> needs of a worker: the round trip of an empty MeasureLink (the
/// fastest of a few), the bandwidth from the extra time a <see cref="BulkBytes"/> payload takes, the round trip of
/// a message on an open EchoLink stream, and the worker's weight throughput as it is now (its threads may be
/// busier than at start-up), alone and with every worker at once.
/// </summary>
public static class LinkMeter
{
    public const int BulkBytes = 256 << 10;

    /// <summary>Echoes sent on one stream, the first (which sets the stream up) not timed; a worker answers at most 16 per call.</summary>
    public const int StreamEchoes = 16;

    /// <summary>EchoLink calls per worker; the fastest echo of all of them counts.</summary>
    public const int StreamCalls = 3;
    private const int Rounds = 3;

    /// <param name="BytesPerSecond">The worker's throughput measured alone: what a stage of a layer split gets,
    /// since the stages compute in turn.</param>
    /// <param name="ConcurrentBytesPerSecond">Its throughput while every worker measured at once: what a shard of a
    /// tensor split gets, since the shards compute together. Lower than alone where workers share a machine (its
    /// cores and memory bandwidth); the same within the noise where each has its own.</param>
    public sealed record Measurement(LinkFigures Link, double BytesPerSecond, double ConcurrentBytesPerSecond);

    /// <summary>The link to <paramref name="worker"/>: fastest empty round trip, and bandwidth from the extra time of a bulk payload.</summary>
    public static async Task<LinkFigures> MeasureLinkAsync(WorkerClient worker, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var bulk = ByteString.CopyFrom(new byte[BulkBytes]);
        double small = double.MaxValue, large = double.MaxValue;
        for (int round = 0; round < Rounds; round++)
        {
            small = Math.Min(small, await TimeAsync(worker, new LinkProbe(), cancellationToken).ConfigureAwait(false));
            large = Math.Min(large, await TimeAsync(worker, new LinkProbe { Payload = bulk }, cancellationToken).ConfigureAwait(false));
        }
        // A payload no slower than an empty call means a link faster than this clock resolves: call it 10 GB/s.
        double bandwidth = large > small ? BulkBytes / (large - small) : 10e9;
        return new LinkFigures(small, Math.Min(bandwidth, 10e9));
    }

    /// <summary>
    /// The fastest round trip of an echo on an open EchoLink stream, or null where the worker does not offer
    /// EchoLink (an older minor version). <see cref="StreamCalls"/> calls one after the other; in each the first
    /// echo, which sets the stream up, is not timed. A worker that has not echoed before runs the path's code
    /// for the first time in the first call (0.57 ms on loopback once, against 0.06-0.13 warm).
    /// </summary>
    public static async Task<double?> MeasureStreamRoundTripAsync(WorkerClient worker, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(worker);
        try
        {
            double best = double.MaxValue;
            for (int call = 0; call < StreamCalls; call++)
            {
                best = Math.Min(best, await WorkerClient.Invoke(worker.Endpoint, () => EchoAsync(worker, cancellationToken)).ConfigureAwait(false));
            }
            return best;
        }
        catch (WorkerCallException exception) when (exception.InnerException is RpcException { StatusCode: StatusCode.Unimplemented })
        {
            return null;
        }
    }

    /// <summary>One EchoLink call of <see cref="StreamEchoes"/> echoes: the fastest round trip after the first.</summary>
    private static async Task<double> EchoAsync(WorkerClient worker, CancellationToken cancellationToken)
    {
        using var call = worker.Calls.EchoLink(cancellationToken: cancellationToken);
        double best = double.MaxValue;
        for (ulong sequence = 0; sequence < StreamEchoes; sequence++)
        {
            var clock = Stopwatch.StartNew();
            await call.RequestStream.WriteAsync(new LinkEcho { Sequence = sequence }, cancellationToken).ConfigureAwait(false);
            if (!await call.ResponseStream.MoveNext(cancellationToken).ConfigureAwait(false) || call.ResponseStream.Current.Sequence != sequence)
            {
                throw new RpcException(new Status(StatusCode.Internal, $"EchoLink did not return echo {sequence}."));
            }
            if (sequence > 0)
            {
                best = Math.Min(best, clock.Elapsed.TotalSeconds);
            }
        }
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        return best;
    }

    /// <summary>
    /// The worker's weight throughput as it is now (bytes per second through its compute threads): as at start-up,
    /// or <paramref name="sustained"/> over a working set larger than the caches (what -Split Auto plans with).
    /// </summary>
    public static async Task<double> MeasureThroughputAsync(WorkerClient worker, CancellationToken cancellationToken, bool sustained = false)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var probe = new LinkProbe { MeasureThroughput = true, Sustained = sustained };
        var reply = await WorkerClient.Invoke(worker.Endpoint, () =>
            worker.Calls.MeasureLinkAsync(probe, cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        return reply.BytesPerSecond;
    }

    /// <summary>
    /// Each worker's stream round trip, one worker after the other while all are idle (an echo is a few hundred
    /// bytes; timed beside a throughput probe or another worker's bulk payloads it read four times slower on
    /// loopback). Then each worker's throughput one after the other, so that one worker's benchmark does not slow
    /// another's where they share a machine; for <paramref name="planning"/> (-Split Auto) over the sustained working
    /// set and, with two or more workers, once more with all of them at once (a shown prediction takes the quick
    /// start-up probe); then every worker's call round trip and bandwidth, all at once (links are independent).
    /// Throughput before those: the bulk payloads leave each worker a garbage collection to run, which would share
    /// its cores with a benchmark started right after them.
    /// <para>For planning, the echoes and the together probe run a second time after the first round, and the best
    /// of the two counts (the least round trip, each worker's greater throughput). Each is one short span: in one
    /// benchmark run, right after another cluster had been removed from the same workers, they read a stream round
    /// trip of 0.35 ms where 0.07 is usual and 20 GB/s together where 32 is, and a tensor split's prediction (two
    /// exchanges per layer) made the faster split the slower one. A second round about a second later is less
    /// likely to fall in the same busy span.</para>
    /// </summary>
    public static async Task<IReadOnlyList<Measurement>> MeasureAllAsync(IReadOnlyList<WorkerClient> workers, CancellationToken cancellationToken,
        bool planning = false)
    {
        ArgumentNullException.ThrowIfNull(workers);
        var streams = await MeasureStreamsAsync(workers, cancellationToken).ConfigureAwait(false);
        var throughputs = new double[workers.Count];
        for (int i = 0; i < workers.Count; i++)
        {
            throughputs[i] = await MeasureThroughputAsync(workers[i], cancellationToken, planning).ConfigureAwait(false);
        }
        var together = throughputs;
        if (planning)
        {
            together = workers.Count > 1 ? await MeasureTogetherAsync(workers, cancellationToken).ConfigureAwait(false) : together;
            streams = Best(streams, await MeasureStreamsAsync(workers, cancellationToken).ConfigureAwait(false));
            if (workers.Count > 1)
            {
                var again = await MeasureTogetherAsync(workers, cancellationToken).ConfigureAwait(false);
                together = together.Zip(again, Math.Max).ToArray();
            }
        }
        var links = await Task.WhenAll(workers.Select(worker => MeasureLinkAsync(worker, cancellationToken))).ConfigureAwait(false);
        return workers.Select((_, i) => new Measurement(links[i] with { StreamRoundTripSeconds = streams[i] ?? links[i].RoundTripSeconds },
            throughputs[i], together[i])).ToArray();
    }

    /// <summary>Each worker's stream round trip, one worker after the other (null where a worker has no EchoLink).</summary>
    private static async Task<double?[]> MeasureStreamsAsync(IReadOnlyList<WorkerClient> workers, CancellationToken cancellationToken)
    {
        var streams = new double?[workers.Count];
        for (int i = 0; i < workers.Count; i++)
        {
            streams[i] = await MeasureStreamRoundTripAsync(workers[i], cancellationToken).ConfigureAwait(false);
        }
        return streams;
    }

    /// <summary>Every worker's sustained throughput, all of them at once.</summary>
    private static Task<double[]> MeasureTogetherAsync(IReadOnlyList<WorkerClient> workers, CancellationToken cancellationToken) =>
        Task.WhenAll(workers.Select(worker => MeasureThroughputAsync(worker, cancellationToken, sustained: true)));

    /// <summary>The lesser of two round trips per worker; null only where both are.</summary>
    internal static double?[] Best(double?[] first, double?[] second) =>
        first.Zip(second, (a, b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value)).ToArray();

    private static async Task<double> TimeAsync(WorkerClient worker, LinkProbe probe, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await WorkerClient.Invoke(worker.Endpoint, () => worker.Calls.MeasureLinkAsync(probe, cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        return clock.Elapsed.TotalSeconds;
    }
}
