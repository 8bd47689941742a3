using System.Runtime.InteropServices;
using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Distributed.Activations;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>A one-worker ring: the whole model on one worker, steps and replies on one Forward stream.</summary>
[Collection(WorkerCollection.Name)]
public sealed class ForwardTests : IClassFixture<SharedWorker>
{
    private readonly WorkerModels models;
    private readonly InProcessWorker worker;

    public ForwardTests(WorkerModels models, SharedWorker shared)
    {
        this.models = models;
        worker = shared.Worker;
    }

    private async Task<string> OpenAsync(string path, Core.Model.LayerRange range, uint maxBatch = 16)
    {
        await worker.Client.LoadRangeAsync(models.LoadRequest(path, range));
        return await OpenSessionAsync(worker, models.Hash(path, range), maxBatch: maxBatch);
    }

    [Theory]
    [InlineData("F32")]
    [InlineData("Q8_0")]
    public async Task Steps_MatchTheLocalForwardPassBitForBit(string type)
    {
        var path = type == "F32" ? models.F32Path : models.Q8Path;
        var greedy = models.LocalGreedy(path, Prompt, 3);
        var local = models.LocalLogits(path, [Prompt, [greedy[0]], [greedy[1]], [greedy[2]]], allTokens: step => step == 0);
        var session = await OpenAsync(path, models.Whole);
        using var call = worker.Client.Forward();

        // Prompt batch: logits of every token.
        var prompt = TokenStep(session, 1, 0, Prompt);
        prompt.WantLogits = true;
        prompt.LogitsForAllTokens = true;
        var reply = await ExchangeAsync(call, prompt);
        Assert.Equal(ForwardReply.OutputOneofCase.Logits, reply.OutputCase);
        Assert.Equal((uint)Prompt.Length, reply.Logits.RowCount);
        Assert.Equal((uint)models.Config.VocabularySize, reply.Logits.VocabularySize);
        Assert.Equal(MemoryMarshal.AsBytes(local[0].AsSpan()).ToArray(), reply.Logits.Data.ToByteArray());

        // Decode: the worker's greedy choice is the local one.
        int position = Prompt.Length;
        for (int i = 0; i < 2; i++)
        {
            var step = TokenStep(session, (ulong)(2 + i), position++, [greedy[i]]);
            step.WantGreedyToken = true;
            reply = await ExchangeAsync(call, step);
            Assert.Equal(ForwardReply.OutputOneofCase.GreedyToken, reply.OutputCase);
            Assert.Equal(greedy[i + 1], reply.GreedyToken);
        }

        // Last-token logits.
        var last = TokenStep(session, 4, position, [greedy[2]]);
        last.WantLogits = true;
        reply = await ExchangeAsync(call, last);
        Assert.Equal(1u, reply.Logits.RowCount);
        Assert.Equal(MemoryMarshal.AsBytes(local[3].AsSpan()).ToArray(), reply.Logits.Data.ToByteArray());

        await call.RequestStream.CompleteAsync();
    }

    [Fact]
    public async Task MiddleRange_ReturnsTheHiddenStateInTheAskedEncoding()
    {
        // The first half of the model, then the second half fed with its output: the hand-off a two-stage ring makes.
        var first = await OpenAsync(models.F32Path, models.FirstHalf);
        var second = await OpenAsync(models.F32Path, models.SecondHalf);
        using var firstCall = worker.Client.Forward();
        using var secondCall = worker.Client.Forward();

        var step = TokenStep(first, 1, 0, Prompt);
        step.ReplyEncoding = ActivationEncoding.F32;
        var hidden = await ExchangeAsync(firstCall, step);
        Assert.Equal(ForwardReply.OutputOneofCase.Hidden, hidden.OutputCase);
        Assert.Equal(ActivationEncoding.F32, hidden.Hidden.Encoding);
        Assert.Equal((uint)models.Config.EmbeddingLength, hidden.Hidden.EmbeddingLength);
        Assert.Equal(Prompt.Length * models.Config.EmbeddingLength * 4, hidden.Hidden.Data.Length);

        var onward = new ForwardRequest { SessionId = second, Sequence = 1, TokenCount = (uint)Prompt.Length, Hidden = hidden.Hidden, WantLogits = true };
        var logits = await ExchangeAsync(secondCall, onward);
        var local = models.LocalLogits(models.F32Path, [Prompt]);
        Assert.Equal(MemoryMarshal.AsBytes(local[0].AsSpan()).ToArray(), logits.Logits.Data.ToByteArray());

        // Token input without reply_encoding travels as F16.
        var f16 = await ExchangeAsync(firstCall, TokenStep(first, 2, Prompt.Length, [7]));
        Assert.Equal(ActivationEncoding.F16, f16.Hidden.Encoding);
        Assert.Equal(models.Config.EmbeddingLength * 2, f16.Hidden.Data.Length);
    }

    [Fact]
    public async Task WrongStartPosition_IsFailedPrecondition_AndTheWorkerGoesOn()
    {
        var session = await OpenAsync(models.F32Path, models.Whole);
        using (var call = worker.Client.Forward())
        {
            var step = TokenStep(session, 1, 0, Prompt);
            step.WantGreedyToken = true;
            await ExchangeAsync(call, step);
            var error = await StepFailsAsync(call, TokenStep(session, 2, Prompt.Length - 1, [5]), StatusCode.FailedPrecondition);
            Assert.Contains($"holds {Prompt.Length} tokens", error.Status.Detail);
        }
        await AssertSessionGoneAsync(session);
        await AssertServesAsync(worker, models);
    }

    public static TheoryData<string> InvalidSteps =>
    [
        "token id beyond the vocabulary", "negative token id", "fewer ids than token_count", "no tokens", "more tokens than max_batch",
        "no input", "hidden state sent to the first range", "token ids sent to a later range", "hidden payload of the wrong size",
        "wrong embedding_length", "hidden encoding unspecified", "attach_result_stream after a step",
    ];

    [Theory]
    [MemberData(nameof(InvalidSteps))]
    public async Task InvalidStep_IsInvalidArgument_ClosesOnlyItsSession_AndTheWorkerGoesOn(string problem)
    {
        bool later = problem is "token ids sent to a later range" or "hidden payload of the wrong size" or "wrong embedding_length"
            or "hidden encoding unspecified";
        var session = await OpenAsync(models.F32Path, later ? models.SecondHalf : models.Whole, maxBatch: 8);
        int embd = models.Config.EmbeddingLength;
        var hidden = ActivationCodec.ToMessage(new float[2 * embd], 2, embd, ActivationEncoding.F16);
        var request = TokenStep(session, 1, 0, [1, 2]);
        switch (problem)
        {
            case "token id beyond the vocabulary": request.Tokens.Ids[1] = models.Config.VocabularySize; break;
            case "negative token id": request.Tokens.Ids[0] = -1; break;
            case "fewer ids than token_count": request.TokenCount = 3; break;
            case "no tokens": request.TokenCount = 0; request.Tokens.Ids.Clear(); break;
            case "more tokens than max_batch": request = TokenStep(session, 1, 0, new int[9]); break;
            case "no input": request.ClearInput(); break;
            case "hidden state sent to the first range": request.Hidden = hidden; break;
            case "token ids sent to a later range": break;
            case "hidden payload of the wrong size": request.Hidden = hidden; hidden.Data = ByteString.CopyFrom(hidden.Data.Span[..^2]); break;
            case "wrong embedding_length": request.Hidden = hidden; hidden.EmbeddingLength = (uint)embd * 2; request.TokenCount = 1; break;
            case "hidden encoding unspecified": request.Hidden = hidden; hidden.Encoding = ActivationEncoding.Unspecified; break;
        }
        // An unrelated session on the same worker must not be disturbed.
        var bystander = await OpenAsync(models.F32Path, models.Whole);

        using (var call = worker.Client.Forward())
        {
            if (problem == "attach_result_stream after a step")
            {
                await ExchangeAsync(call, request);
                request = new ForwardRequest { SessionId = session, AttachResultStream = true };
            }
            var error = await StepFailsAsync(call, request, StatusCode.InvalidArgument);
            Assert.Equal(nameof(WorkerFailure.Rejected), error.Failure());
        }

        await AssertSessionGoneAsync(session);
        Assert.True((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = bystander })).Closed);
        await AssertServesAsync(worker, models);
    }

    [Fact]
    public async Task UnknownSession_IsNotFound()
    {
        using var call = worker.Client.Forward();
        await StepFailsAsync(call, TokenStep("no-such-session", 1, 0, [1]), StatusCode.NotFound);
        await AssertServesAsync(worker, models);
    }

    [Fact]
    public async Task MessageOverTheLimit_IsResourceExhausted_ButUnderItIsRead()
    {
        var session = await OpenAsync(models.F32Path, models.Whole);
        using var channel = worker.OpenChannel(unlimitedSend: true);
        var client = new LlamaWorker.LlamaWorkerClient(channel);

        // 5 MiB is over gRPC's 4 MiB default but under the worker's limit: the worker reads it (and refuses its content).
        var large = TokenStep(session, 1, 0, [1]);
        large.Hidden = new HiddenState { Encoding = ActivationEncoding.F32, EmbeddingLength = 64, Data = UnsafeByteOperations.UnsafeWrap(new byte[5 << 20]) };
        using (var call = client.Forward())
        {
            await StepFailsAsync(call, large, StatusCode.InvalidArgument);
        }

        // Over 64 MiB: refused by the worker's message limit before it reaches the service.
        session = await OpenAsync(models.F32Path, models.Whole);
        var huge = TokenStep(session, 1, 0, [1]);
        huge.Hidden = new HiddenState { Encoding = ActivationEncoding.F32, EmbeddingLength = 64, Data = UnsafeByteOperations.UnsafeWrap(new byte[WorkerChannels.MaxMessageBytes + 1]) };
        using (var call = client.Forward())
        {
            await StepFailsAsync(call, huge, StatusCode.ResourceExhausted);
        }
        // And a coordinator's own channel refuses to send it at all.
        using (var call = worker.Client.Forward())
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() => call.RequestStream.WriteAsync(huge).WaitAsync(Bound));
            Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        }

        Assert.True((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = session })).Closed);
        await AssertServesAsync(worker, models);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EndingTheStream_ClosesTheSession(bool complete)
    {
        var before = (await worker.StatusAsync()).OpenSessions;
        var session = await OpenAsync(models.F32Path, models.Whole);
        var call = worker.Client.Forward();
        var step = TokenStep(session, 1, 0, Prompt);
        step.WantGreedyToken = true;
        await ExchangeAsync(call, step);
        Assert.Equal(before + 1, (await worker.StatusAsync()).OpenSessions);

        if (complete)
        {
            // The coordinator finished: the worker ends the call and frees the session.
            await call.RequestStream.CompleteAsync();
            Assert.False(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Bound));
            call.Dispose();
        }
        else
        {
            call.Dispose();  // the coordinator went away
        }

        var status = await worker.WaitForStatusAsync(s => s.OpenSessions == before, Bound);
        Assert.Equal(before, status.OpenSessions);
        Assert.False((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = session })).Closed);
    }

    [Fact]
    public async Task Status_CountsForwardMessagesAndBytes()
    {
        var session = await OpenAsync(models.F32Path, models.Whole);
        var before = await worker.StatusAsync();
        long sentBytes = 0, receivedBytes = 0;
        using (var call = worker.Client.Forward())
        {
            int position = 0;
            for (int i = 0; i < 3; i++)
            {
                var step = TokenStep(session, (ulong)i + 1, position, i == 0 ? Prompt : [3]);
                position += (int)step.TokenCount;
                step.WantGreedyToken = i != 1;
                step.WantLogits = i == 1;
                var reply = await ExchangeAsync(call, step);
                sentBytes += step.CalculateSize();
                receivedBytes += reply.CalculateSize();

                // The stage's timing rides on the reply: what it computed and the step's size as it arrived.
                var timing = Assert.Single(reply.Stages);
                Assert.Equal((ulong)step.CalculateSize(), timing.BytesReceived);
                Assert.Equal(reply.ComputeMicroseconds, timing.ComputeMicroseconds);
            }
            await call.RequestStream.CompleteAsync();
        }

        // The worker counts a reply once its write completed, which may be just after this test read it.
        var after = await worker.WaitForStatusAsync(s => s.ForwardMessagesSent >= before.ForwardMessagesSent + 3, Bound);
        Assert.Equal(3ul, after.ForwardMessagesReceived - before.ForwardMessagesReceived);
        Assert.Equal((ulong)sentBytes, after.ForwardBytesReceived - before.ForwardBytesReceived);
        Assert.Equal(3ul, after.ForwardMessagesSent - before.ForwardMessagesSent);
        Assert.Equal((ulong)receivedBytes, after.ForwardBytesSent - before.ForwardBytesSent);
        Assert.True(receivedBytes > models.Config.VocabularySize * 4, "the logits step's reply is counted whole");
    }

    /// <summary>A failing stream closes its session before its status leaves the worker.</summary>
    private async Task AssertSessionGoneAsync(string session) =>
        Assert.False((await worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = session })).Closed,
            $"Session {session} was still open after its stream failed.");
}
