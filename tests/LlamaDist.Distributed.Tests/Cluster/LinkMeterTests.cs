using Grpc.Core;
using LlamaDist.Distributed.Cluster;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tests.Worker;

namespace LlamaDist.Distributed.Tests.Cluster;

/// <summary>MeasureLink as -Split Auto uses it: a round trip, a bandwidth and a fresh throughput, with bounded payloads.</summary>
[Collection(WorkerCollection.Name)]
public sealed class LinkMeterTests
{
    [Fact]
    public async Task A_worker_is_measured_and_oversized_probes_are_refused()
    {
        await using var worker = await InProcessWorker.StartAsync("meter-a");
        using var client = await worker.ConnectAsync();

        var measured = Assert.Single(await LinkMeter.MeasureAllAsync([client], default));
        Assert.True(measured.Link.RoundTripSeconds > 0 && measured.Link.RoundTripSeconds < 5);
        Assert.True(measured.Link.BytesPerSecond > 0 && measured.Link.BytesPerSecond <= 10e9);
        Assert.True(measured.BytesPerSecond > 0);

        var echo = await worker.Client.MeasureLinkAsync(new LinkProbe { ReplyBytes = 1000 });
        Assert.Equal(1000, echo.Payload.Length);
        Assert.Equal(0, echo.BytesPerSecond);
        var failure = await Assert.ThrowsAsync<RpcException>(async () => await worker.Client.MeasureLinkAsync(new LinkProbe { ReplyBytes = (1 << 20) + 1 }));
        Assert.Equal(StatusCode.InvalidArgument, failure.StatusCode);
    }
}
