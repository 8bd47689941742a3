using System.Diagnostics;
using Google.Protobuf;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// Measures what <see cref="SplitCostModel"/> needs of a worker: the round trip of an empty MeasureLink (the
/// fastest of a few), the bandwidth from the extra time a <see cref="BulkBytes"/> payload takes, and the worker's
/// weight throughput as it is now (its threads may be busier than at start-up).
/// </summary>
public static class LinkMeter
{
    public const int BulkBytes = 256 << 10;
    private const int Rounds = 3;

    public sealed record Measurement(LinkFigures Link, double BytesPerSecond);

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

    /// <summary>The worker's weight throughput as it is now (bytes per second through its compute threads).</summary>
    public static async Task<double> MeasureThroughputAsync(WorkerClient worker, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var reply = await WorkerClient.Invoke(worker.Endpoint, () =>
            worker.Calls.MeasureLinkAsync(new LinkProbe { MeasureThroughput = true }, cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        return reply.BytesPerSecond;
    }

    /// <summary>
    /// Each worker's throughput one after the other, so that one worker's benchmark does not slow another's where
    /// they share a machine; then every worker's link, all at once (links are independent). Throughput first: the
    /// link probes' megabytes leave each worker a garbage collection to run, which would share its cores with a
    /// benchmark started right after them.
    /// </summary>
    public static async Task<IReadOnlyList<Measurement>> MeasureAllAsync(IReadOnlyList<WorkerClient> workers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workers);
        var throughputs = new double[workers.Count];
        for (int i = 0; i < workers.Count; i++)
        {
            throughputs[i] = await MeasureThroughputAsync(workers[i], cancellationToken).ConfigureAwait(false);
        }
        var links = await Task.WhenAll(workers.Select(worker => MeasureLinkAsync(worker, cancellationToken))).ConfigureAwait(false);
        return workers.Select((_, i) => new Measurement(links[i], throughputs[i])).ToArray();
    }

    private static async Task<double> TimeAsync(WorkerClient worker, LinkProbe probe, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await WorkerClient.Invoke(worker.Endpoint, () => worker.Calls.MeasureLinkAsync(probe, cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        return clock.Elapsed.TotalSeconds;
    }
}
