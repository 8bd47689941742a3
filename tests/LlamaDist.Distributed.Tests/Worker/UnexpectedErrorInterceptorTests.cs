using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.Service;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// What leaves the worker when a handler throws something other than an RpcException: the caller's own faults
/// as InvalidArgument, cancellation as Cancelled, and a worker defect as Internal with an incident number and no
/// internals — while the log keeps the whole exception under that number.
/// </summary>
public sealed class UnexpectedErrorInterceptorTests
{
    private readonly CapturingLogger logger = new();

    [Fact]
    public async Task A_defect_answers_a_generic_internal_status_and_logs_the_exception()
    {
        var secret = new InvalidOperationException("Could not open /home/worker/secret.key");
        var error = await FailAsync(secret);
        Assert.Equal(StatusCode.Internal, error.StatusCode);
        Assert.Matches(@"^/llamadist\.v1\.LlamaWorker/LoadRange failed unexpectedly on this worker \(incident \d+\); its log has the details\.$", error.Status.Detail);
        Assert.DoesNotContain("secret", error.Status.Detail);
        Assert.DoesNotContain(nameof(InvalidOperationException), error.Status.Detail);
        var entry = Assert.Single(logger.Entries);
        Assert.Equal(LogLevel.Error, entry.Level);
        Assert.Same(secret, entry.Exception);
        Assert.Contains("incident", entry.Message);
    }

    [Fact]
    public async Task Malformed_protobuf_and_overflowing_sizes_are_InvalidArgument()
    {
        InvalidProtocolBufferException malformed = Assert.Throws<InvalidProtocolBufferException>(() =>
            ForwardRequest.Parser.ParseFrom([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]));
        Assert.Equal(StatusCode.InvalidArgument, (await FailAsync(malformed)).StatusCode);
        var overflow = await FailAsync(new OverflowException("Arithmetic operation resulted in an overflow."));
        Assert.Equal(StatusCode.InvalidArgument, overflow.StatusCode);
        Assert.DoesNotContain("Arithmetic", overflow.Status.Detail);
    }

    [Fact]
    public async Task Cancellation_is_Cancelled()
    {
        Assert.Equal(StatusCode.Cancelled, (await FailAsync(new OperationCanceledException())).StatusCode);
        Assert.Equal(StatusCode.Cancelled, (await FailAsync(new IOException("The client reset the request stream."))).StatusCode);
    }

    [Fact]
    public async Task An_RpcException_passes_unchanged()
    {
        var original = new RpcException(new Status(StatusCode.NotFound, "Session 's' is not open on this worker."));
        Assert.Same(original, await FailAsync(original));
    }

    private async Task<RpcException> FailAsync(Exception thrown)
    {
        var interceptor = new UnexpectedErrorInterceptor(logger);
        return await Assert.ThrowsAsync<RpcException>(() => interceptor.UnaryServerHandler<LoadRangeRequest, LoadRangeReply>(
            new LoadRangeRequest(), new FakeCallContext(), (_, _) => throw thrown));
    }

    private sealed record Entry(LogLevel Level, string Message, Exception? Exception);

    private sealed class CapturingLogger : ILogger<UnexpectedErrorInterceptor>
    {
        public List<Entry> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add(new Entry(logLevel, formatter(state, exception), exception));
    }

    /// <summary>Just enough of a call for the interceptor: its method name and peer.</summary>
    private sealed class FakeCallContext : ServerCallContext
    {
        protected override string MethodCore => "/llamadist.v1.LlamaWorker/LoadRange";
        protected override string HostCore => "localhost";
        protected override string PeerCore => "ipv4:127.0.0.1:40000";
        protected override DateTime DeadlineCore => DateTime.MaxValue;
        protected override Metadata RequestHeadersCore { get; } = [];
        protected override CancellationToken CancellationTokenCore => CancellationToken.None;
        protected override Metadata ResponseTrailersCore { get; } = [];
        protected override Status StatusCore { get; set; }
        protected override WriteOptions? WriteOptionsCore { get; set; }
        protected override AuthContext AuthContextCore { get; } = new(null, []);
        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => throw new NotSupportedException();
        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
    }
}
