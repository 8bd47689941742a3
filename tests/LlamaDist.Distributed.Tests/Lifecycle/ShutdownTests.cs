using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tests.Worker;
using LlamaDist.Worker.Hosting;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Lifecycle;

/// <summary>
/// The Shutdown call: with the cluster token the worker answers with its process id and then stops its host;
/// without the token (or with another) it is refused UNAUTHENTICATED and the worker keeps serving.
/// </summary>
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public sealed class ShutdownTests
{
    private const string Token = "shutdown-tests-cluster-secret-2026";

    [Fact]
    public async Task Shutdown_answers_then_stops_the_host()
    {
        await using var worker = await InProcessWorker.StartAsync("shutdown-a");
        var stopping = new TaskCompletionSource();
        using var registration = worker.Lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());

        var reply = await worker.Client.ShutdownAsync(new ShutdownRequest { Reason = "tests" });

        Assert.Equal((uint)Environment.ProcessId, reply.ProcessId);
        Assert.Equal(0u, reply.OpenSessions);
        await stopping.Task.WaitAsync(Bound);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("another-cluster-secret-0123456789")]
    public async Task Shutdown_without_the_token_is_refused_and_the_worker_keeps_serving(string? token)
    {
        await using var worker = await InProcessWorker.StartAsync("shutdown-b", new WorkerOptions { Token = Token });
        using var channel = worker.OpenChannel(token: token);
        var client = new LlamaWorker.LlamaWorkerClient(channel);

        await FailsAsync(async () => await client.ShutdownAsync(new ShutdownRequest { Reason = "stranger" }), StatusCode.Unauthenticated);

        await Task.Delay(300); // longer than the pause between an accepted Shutdown's reply and the stop
        Assert.False(worker.Lifetime.ApplicationStopping.IsCancellationRequested);
        var status = await worker.Client.GetStatusAsync(new GetStatusRequest());
        Assert.Equal(0u, status.OpenSessions);
    }

    [Fact]
    public async Task A_long_reason_is_accepted_and_the_reply_is_the_same()
    {
        await using var worker = await InProcessWorker.StartAsync("shutdown-c");
        var reply = await worker.Client.ShutdownAsync(new ShutdownRequest { Reason = new string('x', 1 << 20) });
        Assert.Equal((uint)Environment.ProcessId, reply.ProcessId);
    }
}
