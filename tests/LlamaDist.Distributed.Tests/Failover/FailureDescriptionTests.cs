using System.Net.Http;
using System.Net.Sockets;
using Grpc.Core;
using LlamaDist.Distributed.Client;

namespace LlamaDist.Distributed.Tests.Failover;

/// <summary>What a failed call observed, in plain words, and a deadline as a deadline (never a bare cancellation).</summary>
public sealed class FailureDescriptionTests
{
    private static readonly WorkerEndpoint Endpoint = new("127.0.0.1", 50099);

    [Theory]
    [InlineData(SocketError.ConnectionRefused, "connection refused")]
    [InlineData(SocketError.ConnectionReset, "connection reset")]
    [InlineData(SocketError.HostUnreachable, "host unreachable")]
    public void SocketErrorsUnderGrpcsOwnWords_AreNamed(SocketError error, string expected)
    {
        var transport = new HttpRequestException("Error connecting to subchannel.", new SocketException((int)error));
        var rpc = new RpcException(new Status(StatusCode.Unavailable, "Error connecting to subchannel.", transport));
        var failure = WorkerCallException.FromRpc(Endpoint.ToString(), rpc);
        Assert.Equal(WorkerFailure.Unreachable, failure.Failure);
        Assert.StartsWith($"Worker {Endpoint} is unreachable: {expected}", failure.Message);
        Assert.DoesNotContain("subchannel", failure.Message);
    }

    [Fact]
    public async Task ACallPastItsDeadline_IsADeadlineErrorNamingTheWorker()
    {
        var error = await Assert.ThrowsAsync<WorkerCallException>(() => WorkerClient.InvokeWithin(Endpoint, TimeSpan.FromMilliseconds(50), "the handshake",
            async token => { await Task.Delay(Timeout.Infinite, token); return 0; }, CancellationToken.None));
        Assert.Equal(WorkerFailure.Unreachable, error.Failure);
        Assert.True(error.DeadlineExceeded);
        Assert.Equal(Endpoint.ToString(), error.Endpoint);
        Assert.Contains("the handshake had no answer within 0.05 s (deadline exceeded)", error.Message);
    }

    [Fact]
    public async Task TheCallersOwnCancellation_StaysACancellation()
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => WorkerClient.InvokeWithin(Endpoint, TimeSpan.FromMinutes(1), "GetStatus",
            async token => { await Task.Delay(Timeout.Infinite, token); return 0; }, cancel.Token));
    }
}
