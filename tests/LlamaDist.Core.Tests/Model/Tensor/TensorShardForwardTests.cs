using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.TestModels;
using LlamaDist.Core.Tests.Gguf;
using LlamaDist.Tests.Shared;

namespace LlamaDist.Core.Tests.Model.Tensor;

/// <summary>
/// Tensor-parallel shards of a model, run together through <see cref="LocalTensorGroup"/>, against the same model
/// on one node: the same greedy tokens and logits within float summation-order noise, on 2 and 3 shards, for
/// every architecture's block (biases, per-head norms, fused products, post-norms and soft-capping); and shards
/// of a hybrid split, a group holding the first layers handing its hidden state to a group holding the rest.
/// </summary>
public sealed class TensorShardForwardTests : IDisposable
{
    // 6 heads over 3 KV heads of 32: divisible between 2 (2 + 1 KV heads) and 3 shards.
    private static readonly TestModelShape Shape = new(192, 512, 2, 6, 3, TestModelShape.LlamaVocabularySize, 256);
    private static readonly int[] Prompt = [1, 15043, 3186, 29892, 920, 526];
    private const int Generated = 6;

    private readonly TemporaryDirectory _directory = new();

    [Theory]
    [InlineData(TestModelArchitecture.Llama, GgmlType.F32, 2)]
    [InlineData(TestModelArchitecture.Llama, GgmlType.F32, 3)]
    [InlineData(TestModelArchitecture.Qwen2, GgmlType.F32, 2)]
    [InlineData(TestModelArchitecture.Qwen3, GgmlType.F32, 3)]
    [InlineData(TestModelArchitecture.Phi3, GgmlType.F32, 2)]
    [InlineData(TestModelArchitecture.Gemma2, GgmlType.F32, 3)]
    [InlineData(TestModelArchitecture.Llama3, GgmlType.F32, 2)]
    public void F32_shards_give_exactly_the_local_greedy_tokens(TestModelArchitecture architecture, GgmlType type, int shards)
    {
        string path = Write(architecture, type);
        (int[] localTokens, float[] localLogits) = RunLocal(path);
        (int[] shardTokens, float[] shardLogits) = RunSharded(path, shards);

        Assert.Equal(localTokens, shardTokens);
        AssertClose(localLogits, shardLogits, relativeTolerance: 1e-4f);
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, 2)]
    [InlineData(GgmlType.Q8_0, 3)]
    [InlineData(GgmlType.Q4_0, 3)]
    [InlineData(GgmlType.F16, 2)]
    public void Quantized_shards_give_logits_within_tolerance(GgmlType type, int shards)
    {
        string path = Write(TestModelArchitecture.Llama, type);
        (_, float[] localLogits) = RunLocal(path);
        (_, float[] shardLogits) = RunSharded(path, shards);

        // Activations are quantized per block on both sides (slice edges are block edges): only the order in
        // which partial products are added differs.
        AssertClose(localLogits, shardLogits, relativeTolerance: 2e-3f);
    }

    [Fact]
    public void A_shard_config_narrows_heads_and_hidden_units_only()
    {
        string path = Write(TestModelArchitecture.Llama, GgmlType.F32);
        using GgufFile file = GgufFile.Open(path);
        LlamaConfig config = LlamaConfig.FromGguf(file);
        TensorSlice slice = TensorSlice.Plan(config, 3, GgmlType.F32, GgmlType.F32)[1];
        using TensorShardWeights weights = TensorShardWeights.Load(file, config, slice);

        Assert.Equal(2, weights.ShardConfig.HeadCount);
        Assert.Equal(1, weights.ShardConfig.KvHeadCount);
        Assert.Equal(slice.FeedForwardCount, weights.ShardConfig.FeedForwardLength);
        Assert.Equal(config.EmbeddingLength, weights.ShardConfig.EmbeddingLength);
        Assert.Equal(config.HeadDimension, weights.ShardConfig.HeadDimension);
        Assert.Equal(64, weights.Layers[0].Query.Rows);
        Assert.Equal(64, weights.Layers[0].AttentionOutput.Columns);
        Assert.Equal(slice.VocabularyCount, weights.Output.Rows);
        // About a third of the block matrices (plus a third of the head) are copied.
        long streamed = file.Tensors.Where(tensor => (tensor.Name.StartsWith("blk.", StringComparison.Ordinal) && tensor.Rows > 1)
            || tensor.Name == LlamaTensorNames.Output).Sum(tensor => tensor.ByteSize);
        Assert.InRange(weights.SliceBytes, streamed / 4, streamed / 2);
    }

    [SkippableTheory]
    [InlineData(0)]  // the first layer: the embedding's rows are still read through the mapping
    [InlineData(1)]  // a later stage: nothing is
    public void A_loaded_shard_keeps_mapped_only_the_embedding_it_reads(int firstLayer)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Releasing mapped pages is a Linux call (madvise); elsewhere it does nothing.");
        string path = Write(TestModelArchitecture.Llama, GgmlType.F32);
        using GgufFile file = GgufFile.Open(path);
        LlamaConfig config = LlamaConfig.FromGguf(file);
        TensorSlice slice = TensorSlice.Plan(config, 2, GgmlType.F32, GgmlType.F32)[1];
        Assert.NotEqual(0, MappedFileMemory.TouchEveryTensor(file));

        using TensorShardWeights weights = TensorShardWeights.Load(file, config, slice, new LayerRange(firstLayer, config.LayerCount));

        long page = Environment.SystemPageSize;
        GgufTensorInfo embedding = file.GetTensor(LlamaTensorNames.TokenEmbedding);
        long embeddingPages = (embedding.AbsoluteOffset + embedding.ByteSize + page - 1) / page * page - embedding.AbsoluteOffset / page * page;
        long mapped = MappedFileMemory.ResidentBytes(path);
        Assert.True(mapped <= (firstLayer == 0 ? embeddingPages : 0), $"{mapped} bytes of the file stay mapped; the embedding spans {embeddingPages}");
        Assert.True(file.FileSize - embeddingPages > 64 * page, "the blocks and head should span more than a few pages in the test model");
    }

    [Theory]
    [InlineData(TestModelArchitecture.Llama, GgmlType.F32)]
    [InlineData(TestModelArchitecture.Gemma2, GgmlType.F32)]
    [InlineData(TestModelArchitecture.Llama, GgmlType.Q8_0)]
    public void A_pair_on_the_first_layer_then_one_shard_on_the_second_gives_the_local_run(TestModelArchitecture architecture, GgmlType type)
    {
        string path = Write(architecture, type);
        (int[] localTokens, float[] localLogits) = RunLocal(path);
        (int[] stagedTokens, float[] stagedLogits) = RunStaged(path);

        if (type == GgmlType.F32)
        {
            Assert.Equal(localTokens, stagedTokens);
        }
        AssertClose(localLogits, stagedLogits, relativeTolerance: type == GgmlType.F32 ? 1e-4f : 2e-3f);
    }

    [Fact]
    public void A_stage_shard_holds_only_its_layers_and_checks_what_it_is_given()
    {
        string path = Write(TestModelArchitecture.Llama, GgmlType.F32);
        using GgufFile file = GgufFile.Open(path);
        LlamaConfig config = LlamaConfig.FromGguf(file);
        TensorSlice slice = TensorSlice.Plan(config, 2, GgmlType.F32, GgmlType.F32)[0];
        using TensorShardWeights first = TensorShardWeights.Load(file, config, slice, new LayerRange(0, 1));
        using TensorShardWeights whole = TensorShardWeights.Load(file, config, slice);

        Assert.Single(first.Layers);
        Assert.True(first.HasTokenEmbedding);
        Assert.False(first.HasOutput);
        Assert.Throws<InvalidOperationException>(() => first.Output);
        // One of two blocks and no output rows.
        Assert.True(first.SliceBytes < whole.SliceBytes / 2);
        Assert.Throws<ArgumentException>(() => TensorShardWeights.Load(file, config, slice, LayerRange.OutputHead(config.LayerCount)));
        Assert.Throws<ArgumentOutOfRangeException>(() => TensorShardWeights.Load(file, config, slice, new LayerRange(1, 3)));

        using var threads = new ComputeThreads(1);
        using var group = new LocalTensorGroup(1, config.EmbeddingLength, 4);
        TensorSlice alone = TensorSlice.Plan(config, 1, GgmlType.F32, GgmlType.F32)[0];
        using TensorShardWeights second = TensorShardWeights.Load(file, config, alone, new LayerRange(1, 2));
        var forward = new TensorShardForward(second, threads, group.For(0));
        using LlamaSession session = forward.CreateSession(16, 4);
        var logits = new float[config.VocabularySize];
        Assert.False(forward.TakesTokens);
        Assert.True(forward.WritesLogits);
        // A hidden state of the wrong size, and token ids where a hidden state is due, are refused before evaluating.
        Assert.Throws<ArgumentException>(() => forward.EvaluateStage(session, [], new float[config.EmbeddingLength - 1], 1, logits, false));
        Assert.Throws<ArgumentException>(() => forward.EvaluateStage(session, [1], [], 1, logits, false));
        Assert.Equal(0, session.Position);
        forward.EvaluateStage(session, [], new float[config.EmbeddingLength], 1, logits, false);
        Assert.Equal(1, session.Position);
    }

    public void Dispose() => _directory.Dispose();

    private string Write(TestModelArchitecture architecture, GgmlType type)
    {
        string path = _directory.File($"{architecture}-{type}.gguf");
        if (!File.Exists(path))
        {
            TestModelWriter.Write(path, Shape, architecture, type, seed: 21, RealModel.Path, null, CancellationToken.None);
        }
        return path;
    }

    /// <summary>Greedy generation on one node; returns the tokens and the logits of every step, concatenated.</summary>
    private static (int[] Tokens, float[] Logits) RunLocal(string path)
    {
        using GgufFile file = GgufFile.Open(path);
        LlamaConfig config = LlamaConfig.FromGguf(file);
        using var threads = new ComputeThreads(1);
        var forward = new LlamaForward(config, LlamaWeights.Load(file, config, LayerRange.All(config.LayerCount)), threads);
        using var session = new LlamaSession(config, LayerRange.All(config.LayerCount), 64, 16);
        return Generate(config.VocabularySize, (tokens, logits) => forward.EvaluateTokens(session, tokens, logits, logitsForAllTokens: false));
    }

    /// <summary>The same generation with each shard on its own thread, its own file mapping and its own session.</summary>
    private static (int[] Tokens, float[] Logits) RunSharded(string path, int shardCount)
    {
        var files = new List<GgufFile>();
        var shards = new List<(TensorShardWeights Weights, ComputeThreads Threads)>();
        var sessions = new List<LlamaSession>();
        LocalTensorGroup? group = null;
        try
        {
            LlamaConfig? config = null;
            IReadOnlyList<TensorSlice>? slices = null;
            for (int shard = 0; shard < shardCount; shard++)
            {
                GgufFile file = GgufFile.Open(path);
                files.Add(file);
                config ??= LlamaConfig.FromGguf(file);
                slices ??= TensorSlice.Plan(config, shardCount, file.GetTensor("blk.0.attn_output.weight").Type,
                    file.GetTensor("blk.0.ffn_down.weight").Type);
                shards.Add((TensorShardWeights.Load(file, config, slices[shard]), new ComputeThreads(1)));
            }
            group = new LocalTensorGroup(shardCount, config!.EmbeddingLength, 16);
            var members = shards.Select((shard, index) => new TensorShardForward(shard.Weights, shard.Threads, group.For(index))).ToArray();
            sessions.AddRange(members.Select(member => member.CreateSession(64, 16)));
            return Generate(config.VocabularySize, (tokens, logits) =>
            {
                int[] input = tokens.ToArray();
                float[] full = new float[logits.Length];
                Exception? failure = null;
                var workers = members.Select((member, index) => new Thread(() =>
                {
                    try
                    {
                        TensorSlice slice = member.Weights.Slice;
                        member.Evaluate(sessions[index], input, full.AsSpan(slice.VocabularyStart, slice.VocabularyCount), logitsForAllTokens: false);
                    }
                    catch (Exception exception)
                    {
                        failure = exception;
                    }
                })).ToArray();
                foreach (Thread worker in workers)
                {
                    worker.Start();
                }
                foreach (Thread worker in workers)
                {
                    Assert.True(worker.Join(TimeSpan.FromSeconds(120)), "a shard did not finish");
                }
                Assert.Null(failure);
                full.CopyTo(logits);
            });
        }
        finally
        {
            foreach (var session in sessions)
            {
                session.Dispose();
            }
            foreach (var shard in shards)
            {
                shard.Weights.Dispose();
                shard.Threads.Dispose();
            }
            group?.Dispose();
            foreach (GgufFile file in files)
            {
                file.Dispose();
            }
        }
    }

    /// <summary>
    /// The same generation as a hybrid split: shards 0 and 1 of a pair run layer 0 and hand on shard 0's hidden
    /// state; one shard runs layer 1 and the head.
    /// </summary>
    private static (int[] Tokens, float[] Logits) RunStaged(string path)
    {
        var files = new List<GgufFile>();
        var weights = new List<TensorShardWeights>();
        var threads = new List<ComputeThreads>();
        var sessions = new List<LlamaSession>();
        using var pair = new LocalTensorGroup(2, 192, 16);
        using var single = new LocalTensorGroup(1, 192, 16);
        try
        {
            var members = new List<TensorShardForward>();
            for (int shard = 0; shard < 3; shard++)
            {
                GgufFile file = GgufFile.Open(path);
                files.Add(file);
                LlamaConfig config = LlamaConfig.FromGguf(file);
                Assert.Equal(2, config.LayerCount);
                int groupSize = shard < 2 ? 2 : 1;
                var slice = TensorSlice.Plan(config, groupSize, file.GetTensor("blk.0.attn_output.weight").Type,
                    file.GetTensor("blk.0.ffn_down.weight").Type)[shard < 2 ? shard : 0];
                weights.Add(TensorShardWeights.Load(file, config, slice, shard < 2 ? new LayerRange(0, 1) : new LayerRange(1, 2)));
                threads.Add(new ComputeThreads(1));
                members.Add(new TensorShardForward(weights[^1], threads[^1], shard < 2 ? pair.For(shard) : single.For(0)));
                sessions.Add(members[^1].CreateSession(64, 16));
            }
            int embd = members[0].Config.EmbeddingLength;
            return Generate(members[2].Config.VocabularySize, (tokens, logits) =>
            {
                var hidden = new float[2][];
                Exception? failure = null;
                var workers = Enumerable.Range(0, 2).Select(index => new Thread(() =>
                {
                    try
                    {
                        hidden[index] = new float[tokens.Length * embd];
                        members[index].EvaluateStage(sessions[index], tokens, [], tokens.Length, hidden[index], logitsForAllTokens: false);
                    }
                    catch (Exception exception)
                    {
                        failure = exception;
                    }
                })).ToArray();
                foreach (Thread worker in workers)
                {
                    worker.Start();
                }
                foreach (Thread worker in workers)
                {
                    Assert.True(worker.Join(TimeSpan.FromSeconds(120)), "a shard did not finish");
                }
                Assert.Null(failure);
                // Both members of the pair hold the same residual stream, bit for bit.
                Assert.Equal(hidden[0], hidden[1]);
                members[2].EvaluateStage(sessions[2], [], hidden[0], tokens.Length, logits, logitsForAllTokens: false);
            });
        }
        finally
        {
            sessions.ForEach(session => session.Dispose());
            weights.ForEach(weight => weight.Dispose());
            threads.ForEach(thread => thread.Dispose());
            files.ForEach(file => file.Dispose());
        }
    }

    private static (int[] Tokens, float[] Logits) Generate(int vocabulary, Action<int[], float[]> evaluate)
    {
        var tokens = new List<int>();
        var allLogits = new List<float>();
        var logits = new float[vocabulary];
        int[] input = Prompt;
        for (int step = 0; step < Generated; step++)
        {
            evaluate(input, logits);
            allLogits.AddRange(logits);
            int next = 0;
            for (int i = 1; i < vocabulary; i++)
            {
                if (logits[i] > logits[next])
                {
                    next = i;
                }
            }
            tokens.Add(next);
            input = [next];
        }
        return ([.. tokens], [.. allLogits]);
    }

    private static void AssertClose(float[] expected, float[] actual, float relativeTolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = expected.Max(Math.Abs);
        Assert.True(scale > 0f);
        float worst = 0f;
        for (int i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        }
        Assert.True(worst <= relativeTolerance * scale, $"largest logit difference {worst} exceeds {relativeTolerance} x {scale}");
    }
}
