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

    public static async Task<Measurement> MeasureAsync(WorkerClient worker, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(worker);
        var bulk = ByteString.CopyFrom(new byte[BulkBytes]);
        double small = double.MaxValue, large = double.MaxValue;
        for (int round = 0; round < Rounds; round++)
        {
            small = Math.Min(small, await TimeAsync(worker, new LinkProbe(), cancellationToken).ConfigureAwait(false));
            large = Math.Min(large, await TimeAsync(worker, new LinkProbe { Payload = bulk }, cancellationToken).ConfigureAwait(false));
        }
        var speed = await WorkerClient.Invoke(worker.Endpoint, () =>
            worker.Calls.MeasureLinkAsync(new LinkProbe { MeasureThroughput = true }, cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        // A payload no slower than an empty call means a link faster than this clock resolves: call it 10 GB/s.
        double bandwidth = large > small ? BulkBytes / (large - small) : 10e9;
        return new Measurement(new LinkFigures(small, Math.Min(bandwidth, 10e9)), speed.BytesPerSecond);
    }

    private static async Task<double> TimeAsync(WorkerClient worker, LinkProbe probe, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await WorkerClient.Invoke(worker.Endpoint, () => worker.Calls.MeasureLinkAsync(probe, cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        return clock.Elapsed.TotalSeconds;
    }
}
