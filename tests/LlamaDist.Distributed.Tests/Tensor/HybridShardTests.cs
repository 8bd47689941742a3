using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Core.Gguf;
using LlamaDist.Distributed.Activations;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tensor;
using LlamaDist.Distributed.Tests.Worker;

namespace LlamaDist.Distributed.Tests.Tensor;

/// <summary>
/// Shards of a hybrid split on in-process workers: a group holding the first half of the layers hands its hidden
/// state to a group holding the second half, together exactly the local model; and every hidden-state field a
/// step carries is checked against the session before anything is allocated.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class HybridShardTests
{
    private static readonly int[] Prompt = [1, 15043, 3186, 29892, 920];
    private readonly WorkerModels models;

    public HybridShardTests(WorkerModels models) => this.models = models;

    [Fact]
    public async Task A_pair_then_a_single_shard_give_exactly_the_local_greedy_tokens()
    {
        var workers = new List<InProcessWorker>();
        var clients = new List<WorkerClient>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                workers.Add(await InProcessWorker.StartAsync($"hybrid-{i}"));
            }
            InProcessWorker.Route([.. workers]);
            foreach (var worker in workers)
            {
                clients.Add(await worker.ConnectAsync());
            }
            using var file = GgufFile.Open(models.F32Path);
            string hash = models.Hash(models.F32Path, models.Whole);
            var first = await TensorGroupLoader.LoadAsync(clients[..2], file, models.Config, models.F32Path, hash, null, default, models.FirstHalf);
            var second = await TensorGroupLoader.LoadAsync(clients[2..], file, models.Config, models.F32Path, hash, null, default, models.SecondHalf);
            var options = Options(maxBatchTokens: 2);
            using var session = await HybridSession.OpenAsync([first, second], options, default);

            int[] expected = models.LocalGreedy(models.F32Path, Prompt, 4);
            var (token, figures) = session.EvaluateGreedy(Prompt);
            var actual = new List<int> { token };
            while (actual.Count < expected.Length)
            {
                actual.Add(session.EvaluateGreedy([actual[^1]]).Token);
            }

            Assert.Equal(expected, actual);
            Assert.Equal(Prompt.Length + 3, session.Position);
            // The prompt crossed in pieces of 2, 2 and 1 tokens: shard 0 of the first group answered with each
            // piece's hidden state in F32, its peer with no output.
            long hidden = Prompt.Length * models.Config.EmbeddingLength * sizeof(float);
            Assert.True(figures[0][0].ReplyBytes > hidden);
            Assert.True(figures[0][1].ReplyBytes < 100);
            Assert.True(figures[1][0].StepBytes > hidden);
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Hidden_state_steps_that_do_not_fit_the_session_are_refused()
    {
        await using var worker = await InProcessWorker.StartAsync("hybrid-bounds");
        using var client = await worker.ConnectAsync();
        using var file = GgufFile.Open(models.F32Path);
        string hash = models.Hash(models.F32Path, models.Whole);
        var shards = await TensorGroupLoader.LoadAsync([client], file, models.Config, models.F32Path, hash, null, default, models.SecondHalf);
        using var session = await TensorGroupSession.OpenAsync(shards, Options(maxBatchTokens: 4), default);
        int embd = models.Config.EmbeddingLength;

        ShardStepRequest Step(int tokens, HiddenState? hidden)
        {
            var request = new ShardStepRequest { SessionId = session.Id, Sequence = 1, StartPosition = 0, TokenCount = (uint)tokens, WantGreedyToken = true };
            if (hidden is not null)
            {
                request.Hidden = hidden;
            }
            return request;
        }
        HiddenState State(int tokens, int width, ActivationEncoding encoding = ActivationEncoding.F32, int extraBytes = 0) => new()
        {
            Encoding = encoding, EmbeddingLength = (uint)width,
            Data = ByteString.CopyFrom(new byte[ActivationCodec.PayloadBytes(encoding == ActivationEncoding.Unspecified ? ActivationEncoding.F32 : encoding, tokens, embd) + extraBytes]),
        };

        var tokenIds = Step(1, null);
        tokenIds.Tokens.Add(1);
        var refused = new[]
        {
            ("token ids to a shard whose layers start later", tokenIds),
            ("no hidden state", Step(1, null)),
            ("a payload one byte long", Step(1, State(1, embd, extraBytes: 1))),
            ("a payload for 2 tokens sent as 1", Step(1, State(2, embd))),
            ("the wrong width", Step(1, State(1, embd * 2))),
            ("no encoding", Step(1, State(1, embd, ActivationEncoding.Unspecified))),
            ("more tokens than a step may carry", Step(5, State(5, embd))),
            ("zero tokens", Step(0, State(0, embd))),
            ("a token count beyond any allocation", Step(int.MaxValue, State(1, embd))),
        };
        foreach (var (what, request) in refused)
        {
            using var stream = client.Calls.ShardStep();
            await stream.RequestStream.WriteAsync(request);
            var failure = await Assert.ThrowsAsync<RpcException>(async () => await stream.ResponseStream.MoveNext(default));
            Assert.True(failure.StatusCode == StatusCode.InvalidArgument, $"{what}: {failure.StatusCode} {failure.Status.Detail}");
        }

        // The session is untouched by what was refused: a well-formed hidden state evaluates from position 0.
        var input = new float[embd];
        input[0] = 1;
        var (token, _) = session.EvaluateGreedy(TensorStepInput.FromHidden(ActivationCodec.ToMessage(input, 1, embd, ActivationEncoding.F32), 1));
        Assert.InRange(token, 0, models.Config.VocabularySize - 1);
        Assert.Equal(1, session.Position);

        // A layer range outside the model is refused at load.
        var outside = new LoadShardRequest
        {
            Model = new ModelIdentity { FileName = Path.GetFileName(models.F32Path), RangeHash = hash },
            Config = ProtocolMapping.ToMessage(models.Config),
            Shard = ShardMapping.ToMessage(shards[0].Slice, models.SecondHalf),
            WorkerPath = models.F32Path,
        };
        outside.Shard.LayerEndExclusive = (uint)models.LayerCount + 1;
        var load = await Assert.ThrowsAsync<RpcException>(async () => await client.Calls.LoadShardAsync(outside));
        Assert.Equal(StatusCode.InvalidArgument, load.StatusCode);
    }

    private TensorSessionOptions Options(int maxBatchTokens) => new()
    {
        ContextSize = 64, MaxBatchTokens = maxBatchTokens, VocabularySize = models.Config.VocabularySize,
        Encoding = ReductionEncoding.F32, EmbeddingLength = models.Config.EmbeddingLength,
    };
}
