using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>One in-process worker shared by the tests of a class (they run one at a time).</summary>
public sealed class SharedWorker : IAsyncLifetime
{
    internal InProcessWorker Worker { get; private set; } = null!;

    public async Task InitializeAsync() => Worker = await InProcessWorker.StartAsync();

    public async Task DisposeAsync() => await Worker.DisposeAsync();
}

/// <summary>Raw calls and checks the worker tests share.</summary>
internal static class WorkerCalls
{
    /// <summary>Longest any single step or failure may take before the test calls it a hang.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    public static readonly int[] Prompt = [1, 450, 4996, 17354, 1701];

    public static async Task<RpcException> FailsAsync(Func<Task> call, StatusCode expected)
    {
        var error = await Assert.ThrowsAsync<RpcException>(() => call().WaitAsync(Bound));
        Assert.True(expected == error.StatusCode, $"Expected {expected}, got {error.StatusCode}: {error.Status.Detail}");
        return error;
    }

    /// <summary>
    /// Streams <paramref name="chunks"/> to a worker that is to refuse them, and returns the refusal: the call's
    /// status, whichever write or the response the refusal reached first.
    /// </summary>
    public static async Task<RpcException> SendFailsAsync(InProcessWorker target, IEnumerable<WeightChunk> chunks, StatusCode expected)
    {
        using var call = target.Client.StreamWeights();
        try
        {
            foreach (var chunk in chunks)
            {
                await call.RequestStream.WriteAsync(chunk).WaitAsync(Bound);
            }
            await call.RequestStream.CompleteAsync().WaitAsync(Bound);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException or IOException or OperationCanceledException)
        {
            // The worker stopped reading once it refused the stream (the write sees the call end, as a cancellation
            // on these channels); its status comes with the response.
        }
        return await FailsAsync(() => call.ResponseAsync, expected);
    }

    public static string? Failure(this RpcException error) => error.Trailers.GetValue(WorkerCallException.FailureTrailer);

    public static async Task<string> OpenSessionAsync(InProcessWorker worker, string rangeHash, uint context = 64, uint maxBatch = 16, string next = "")
    {
        var id = Guid.NewGuid().ToString("N");
        await worker.Client.OpenSessionAsync(new OpenSessionRequest
        {
            SessionId = id,
            RangeHash = rangeHash,
            ContextSize = context,
            MaxBatchTokens = maxBatch,
            NextEndpoint = next,
        });
        return id;
    }

    public static ForwardRequest TokenStep(string session, ulong sequence, int position, int[] tokens)
    {
        var request = new ForwardRequest
        {
            SessionId = session,
            Sequence = sequence,
            StartPosition = (uint)position,
            TokenCount = (uint)tokens.Length,
            Tokens = new TokenIds(),
        };
        request.Tokens.Ids.Add(tokens);
        return request;
    }

    /// <summary>Sends one step and reads its reply on a one-worker ring's stream.</summary>
    public static async Task<ForwardReply> ExchangeAsync(AsyncDuplexStreamingCall<ForwardRequest, ForwardReply> call, ForwardRequest request)
    {
        await call.RequestStream.WriteAsync(request).WaitAsync(Bound);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound), "The worker ended the stream instead of replying.");
        var reply = call.ResponseStream.Current;
        Assert.Equal(request.Sequence, reply.Sequence);
        Assert.Equal(request.StartPosition, reply.StartPosition);
        return reply;
    }

    /// <summary>Sends <paramref name="request"/> (the client's write may itself fail once the call ended) and reads until the stream's status.</summary>
    public static async Task<RpcException> StepFailsAsync(AsyncDuplexStreamingCall<ForwardRequest, ForwardReply> call, ForwardRequest request,
        StatusCode expected)
    {
        try
        {
            await call.RequestStream.WriteAsync(request).WaitAsync(Bound);
        }
        catch (Exception exception) when (exception is RpcException or OperationCanceledException)
        {
            // Refused before it was sent (the client's own limit), or the call already failed: the status says which.
        }
        return await FailsAsync(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                Assert.Fail($"The worker replied to a step it should refuse: {call.ResponseStream.Current}");
            }
        }, expected);
    }

    /// <summary>
    /// The worker still works after whatever a test did to it: a new session on the whole F32 model gets the
    /// greedy token a local run chooses, and is closed again.
    /// </summary>
    public static async Task AssertServesAsync(InProcessWorker worker, WorkerModels models)
    {
        await worker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, models.Whole));
        var session = await OpenSessionAsync(worker, models.Hash(models.F32Path, models.Whole));
        using (var call = worker.Client.Forward())
        {
            var request = TokenStep(session, 1, 0, Prompt);
            request.WantGreedyToken = true;
            var reply = await ExchangeAsync(call, request);
            Assert.Equal(ForwardReply.OutputOneofCase.GreedyToken, reply.OutputCase);
            Assert.Equal(models.LocalGreedy(models.F32Path, Prompt, 1)[0], reply.GreedyToken);
            await call.RequestStream.CompleteAsync();
        }
        await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = session });
    }
}
