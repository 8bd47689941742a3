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
        Assert.True(measured.Link.StreamRoundTripSeconds > 0 && measured.Link.StreamRoundTripSeconds < 5);
        Assert.True(measured.BytesPerSecond > 0);
        Assert.Equal(measured.BytesPerSecond, measured.ConcurrentBytesPerSecond);  // one worker: nothing to measure together

        var sustained = await worker.Client.MeasureLinkAsync(new LinkProbe { MeasureThroughput = true, Sustained = true });
        Assert.True(sustained.BytesPerSecond > 0 && sustained.MatvecGflops > 0);

        var echo = await worker.Client.MeasureLinkAsync(new LinkProbe { ReplyBytes = 1000 });
        Assert.Equal(1000, echo.Payload.Length);
        Assert.Equal(0, echo.BytesPerSecond);
        var failure = await Assert.ThrowsAsync<RpcException>(async () => await worker.Client.MeasureLinkAsync(new LinkProbe { ReplyBytes = (1 << 20) + 1 }));
        Assert.Equal(StatusCode.InvalidArgument, failure.StatusCode);
    }

    [Fact]
    public async Task Workers_measured_together_each_report_their_own_rate()
    {
        await using var first = await InProcessWorker.StartAsync("meter-b");
        await using var second = await InProcessWorker.StartAsync("meter-c");
        using var firstClient = await first.ConnectAsync();
        using var secondClient = await second.ConnectAsync();

        var measured = await LinkMeter.MeasureAllAsync([firstClient, secondClient], default, planning: true);

        Assert.Equal(2, measured.Count);
        Assert.All(measured, worker => Assert.True(worker.BytesPerSecond > 0 && worker.ConcurrentBytesPerSecond > 0));
    }

    [Fact]
    public void Two_rounds_of_echoes_keep_each_workers_lesser_round_trip()
    {
        double?[] first = [0.00035, 0.00007, null, null];
        double?[] second = [0.00006, 0.00009, 0.00008, null];

        // A worker without EchoLink in one round keeps the other round's figure; without it in both, none.
        Assert.Equal([0.00006, 0.00007, 0.00008, null], LinkMeter.Best(first, second));
    }

    [Theory]
    [InlineData(24L << 30, 256L << 20)]  // plenty of memory: the whole sustained working set
    [InlineData(1L << 30, 128L << 20)]   // an eighth of what is free
    [InlineData(100L << 20, 64L << 20)]  // never below the start-up size
    public void The_sustained_probe_takes_at_most_an_eighth_of_free_memory(long availableBytes, long expectedBytes) =>
        Assert.Equal(expectedBytes, LlamaDist.Worker.State.ThroughputProbe.SustainedWorkingSet(availableBytes));

    [Fact]
    public async Task An_echo_stream_returns_each_sequence_and_ends_after_sixteen()
    {
        await using var worker = await InProcessWorker.StartAsync("meter-d");
        using var call = worker.Client.EchoLink();

        for (ulong sequence = 0; sequence < (ulong)LlamaDist.Worker.State.LinkProbeResponder.MaxEchoes; sequence++)
        {
            await call.RequestStream.WriteAsync(new LinkEcho { Sequence = sequence * 7 });
            Assert.True(await call.ResponseStream.MoveNext(default));
            Assert.Equal(sequence * 7, call.ResponseStream.Current.Sequence);
        }

        // The worker has answered all it answers on one call and ended it: no echo comes back for another.
        try
        {
            await call.RequestStream.WriteAsync(new LinkEcho { Sequence = 99 });
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException or OperationCanceledException or IOException)
        {
            // The call may already be over when the write happens.
        }
        Assert.False(await call.ResponseStream.MoveNext(default));
        Assert.Equal(StatusCode.OK, call.GetStatus().StatusCode);
    }

    [Fact]
    public async Task An_echo_stream_left_open_ends_when_its_time_is_up()
    {
        await using var worker = await InProcessWorker.StartAsync("meter-e");
        using var call = worker.Client.EchoLink();
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var failure = await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(default));

        Assert.Equal(StatusCode.ResourceExhausted, failure.StatusCode);
        Assert.Contains("at most 10 s", failure.Status.Detail);

        var lifetime = LlamaDist.Worker.State.LinkProbeResponder.EchoLifetime;
        Assert.InRange(clock.Elapsed, lifetime - TimeSpan.FromSeconds(1), lifetime + TimeSpan.FromSeconds(30));
    }
}
