using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Tensor;
using LlamaDist.Distributed.Tests.Worker;

namespace LlamaDist.Distributed.Tests.Tensor;

/// <summary>
/// A tensor-parallel group of in-process workers (each shard read from the worker's own copy, partial sums
/// exchanged worker to worker) against the same model run locally.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class TensorGroupTests
{
    private static readonly int[] Prompt = [1, 15043, 3186, 29892, 920];
    private readonly WorkerModels models;

    public TensorGroupTests(WorkerModels models) => this.models = models;

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task F32_group_gives_exactly_the_local_greedy_tokens(int workers)
    {
        await using var group = await TensorTestGroup.StartAsync(models, models.F32Path, workers);
        using var session = await TensorGroupSession.OpenAsync(group.Shards, group.Options(ReductionEncoding.F32), default);

        int[] expected = models.LocalGreedy(models.F32Path, Prompt, 6);
        var actual = new List<int>();
        var (token, figures) = session.EvaluateGreedy(Prompt);
        actual.Add(token);
        while (actual.Count < expected.Length)
        {
            actual.Add(session.EvaluateGreedy([actual[^1]]).Token);
        }

        Assert.Equal(expected, actual);
        Assert.Equal(Prompt.Length + 5, session.Position);
        // Two partial sums per layer per step, each [tokens, n_embd] F32 to every peer.
        long perPeer = 2L * models.LayerCount * Prompt.Length * models.Config.EmbeddingLength * sizeof(float);
        Assert.All(figures, shard => Assert.Equal(perPeer * (workers - 1), shard.PartialBytesSent));
    }

    /// <summary>
    /// On a Q8_0 model the activations are re-quantized before every product, so rounding the partial sums (F16:
    /// 2^-11 relative, Q8_0: 1/254 of a block's largest value) can move a value across a quantization step: the
    /// logits then differ by up to a few percent of their range, as between llama.cpp builds.
    /// </summary>
    [Fact]
    public async Task Logits_match_the_local_pass_in_F32_and_stay_close_with_F16_and_Q8_0_partials()
    {
        await using var group = await TensorTestGroup.StartAsync(models, models.Q8Path, 2);
        float[] local = models.LocalLogits(models.Q8Path, [Prompt])[0];
        float scale = local.Max(Math.Abs);

        foreach (var (encoding, tolerance) in new[] { (ReductionEncoding.F32, 1e-4f), (ReductionEncoding.F16, 2e-2f), (ReductionEncoding.Q80, 3e-2f) })
        {
            using var session = await TensorGroupSession.OpenAsync(group.Shards, group.Options(encoding), default);
            var logits = new float[models.Config.VocabularySize];
            var figures = session.Evaluate(Prompt, logits);
            float worst = local.Zip(logits, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst <= tolerance * scale, $"{encoding}: largest difference {worst} of logits up to {scale}");
            long values = 2L * models.LayerCount * Prompt.Length * models.Config.EmbeddingLength;
            Assert.Equal(PartialSumCodec.EncodedBytes(encoding, (int)values), figures[0].PartialBytesSent);
        }
    }

    [Fact]
    public async Task A_worker_without_the_model_and_a_step_out_of_place_are_clear_errors()
    {
        await using var group = await TensorTestGroup.StartAsync(models, models.F32Path, 2);
        using var session = await TensorGroupSession.OpenAsync(group.Shards, group.Options(ReductionEncoding.F32), default);
        var first = group.Workers[0];

        // A step that does not start where the session stands.
        using var stream = first.Client.ShardStep();
        var request = new ShardStepRequest { SessionId = session.Id, Sequence = 1, StartPosition = 7 };
        request.Tokens.Add(1);
        await stream.RequestStream.WriteAsync(request);
        var failure = await Assert.ThrowsAsync<RpcException>(async () => await stream.ResponseStream.MoveNext(default));
        Assert.Equal(StatusCode.FailedPrecondition, failure.StatusCode);

        // A model the worker has no copy of.
        var missing = new LoadShardRequest
        {
            Model = new ModelIdentity { FileName = "absent.gguf", RangeHash = new string('a', 64) },
            Config = ProtocolMapping.ToMessage(models.Config),
            Shard = ShardMapping.ToMessage(group.Shards[0].Slice),
            WorkerPath = Path.Combine(models.Directory, "absent.gguf"),
        };
        failure = await Assert.ThrowsAsync<RpcException>(async () => await first.Client.LoadShardAsync(missing));
        Assert.Equal(StatusCode.FailedPrecondition, failure.StatusCode);

        // A slice outside the model's heads.
        var outside = missing.Clone();
        outside.Model.RangeHash = models.Hash(models.F32Path, models.Whole);
        outside.WorkerPath = models.F32Path;
        outside.Shard.KvHeadStart = (uint)models.Config.KvHeadCount;
        failure = await Assert.ThrowsAsync<RpcException>(async () => await first.Client.LoadShardAsync(outside));
        Assert.Equal(StatusCode.InvalidArgument, failure.StatusCode);
    }

    [Fact]
    public async Task An_owner_whose_lease_expires_leaves_no_shard_or_session_behind()
    {
        await using var group = await TensorTestGroup.StartAsync(models, models.F32Path, 2);
        using var session = await TensorGroupSession.OpenAsync(group.Shards, group.Options(ReductionEncoding.F32), default);
        session.EvaluateGreedy(Prompt);
        var worker = group.Workers[0];
        Assert.Equal(1, worker.Runtime.Shards.SessionCount);

        worker.Runtime.ExpireOwner(group.Shards[0].Worker.OwnerId);

        Assert.Equal(0, worker.Runtime.Shards.SessionCount);
        Assert.Equal(0, worker.Runtime.UsedMemoryBytes);
        // The peer's next step finds its partner gone and fails with a clear status instead of hanging.
        var failure = Assert.ThrowsAny<Exception>(() => session.EvaluateGreedy([1]));
        // Blamed on the shard that dropped the session, not on its peer that lost its partial sums.
        Assert.Equal(group.Shards[0].Worker.Endpoint.ToString(), Assert.IsType<WorkerCallException>(failure).Endpoint);
    }

    [Fact]
    public async Task Releasing_the_shards_frees_their_memory_and_sessions()
    {
        await using var group = await TensorTestGroup.StartAsync(models, models.F32Path, 2);
        using var session = await TensorGroupSession.OpenAsync(group.Shards, group.Options(ReductionEncoding.F32), default);
        session.EvaluateGreedy(Prompt);
        var worker = group.Workers[1];
        long used = worker.Runtime.UsedMemoryBytes;
        Assert.True(used > 0);

        var reply = await worker.Client.ReleaseShardAsync(new ReleaseShardRequest { ShardId = group.Shards[1].ShardId, OwnerId = group.Shards[1].Worker.OwnerId });

        Assert.Equal(1u, reply.ClosedSessions);
        Assert.True(reply.FreedBytes > 0);
        Assert.Equal(0, worker.Runtime.UsedMemoryBytes);
    }
}
