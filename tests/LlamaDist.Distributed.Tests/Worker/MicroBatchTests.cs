using System.Runtime.InteropServices;
using Google.Protobuf;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.Hosting;
using static LlamaDist.Distributed.Tests.Worker.WorkerCalls;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>
/// A worker cuts each Forward step into micro-batches of --max-step-tokens tokens; the replies must be bit for
/// bit those of one pass over the whole step, for every range kind (tokens to logits, tokens to hidden, hidden
/// to logits), for a first step and for steps after the KV cache already holds tokens.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class MicroBatchTests
{
    // 11 then 5 tokens: a prompt and a continuation that reads the prompt's KV cache.
    private static readonly int[][] Steps = [[1, 450, 4996, 17354, 1701, 29891, 338, 263, 1243, 310, 3273], [29889, 13, 450, 1095, 471]];

    private readonly WorkerModels models;

    public MicroBatchTests(WorkerModels models) => this.models = models;

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(7)]
    public async Task MicroBatchedSteps_AreBitIdenticalToOnePass(int stepTokens)
    {
        await using var worker = await InProcessWorker.StartAsync(options: new WorkerOptions { MaxStepTokens = stepTokens });
        var counts = new List<int>();
        worker.Runtime.MicroBatchEvaluated = (_, count) => { lock (counts) { counts.Add(count); } };

        // Whole model, logits of every token, then of the last token only.
        foreach (bool allTokens in new[] { true, false })
        {
            var expected = Local(models.Whole, hidden: null, allTokens);
            var replies = await RunAsync(worker, models.Whole, step => TokenRequest(step, allTokens));
            for (int i = 0; i < Steps.Length; i++)
            {
                Assert.Equal(Bytes(expected[i]), replies[i].Logits.Data.ToByteArray());
            }
        }

        // First half: tokens in, hidden states out (F32, exact).
        var expectedHidden = Local(models.FirstHalf, hidden: null, allTokens: false);
        var hiddenReplies = await RunAsync(worker, models.FirstHalf, step => TokenRequest(step, allTokens: false));
        for (int i = 0; i < Steps.Length; i++)
        {
            Assert.Equal(ActivationEncoding.F32, hiddenReplies[i].Hidden.Encoding);
            Assert.Equal(Bytes(expectedHidden[i]), hiddenReplies[i].Hidden.Data.ToByteArray());
        }

        // Second half: those hidden states in, logits of every token out.
        var expectedLogits = Local(models.SecondHalf, hidden: expectedHidden, allTokens: true);
        var logitReplies = await RunAsync(worker, models.SecondHalf, step =>
        {
            var request = new ForwardRequest
            {
                TokenCount = (uint)Steps[step].Length,
                Hidden = new HiddenState
                {
                    Encoding = ActivationEncoding.F32,
                    EmbeddingLength = (uint)models.Config.EmbeddingLength,
                    Data = ByteString.CopyFrom(Bytes(expectedHidden[step])),
                },
                WantLogits = true,
                LogitsForAllTokens = true,
            };
            return request;
        });
        for (int i = 0; i < Steps.Length; i++)
        {
            Assert.Equal(Bytes(expectedLogits[i]), logitReplies[i].Logits.Data.ToByteArray());
        }

        // Every step was cut as asked: ceil(tokens / stepTokens) micro-batches of at most stepTokens.
        int perRun = Steps.Sum(step => (step.Length + stepTokens - 1) / stepTokens);
        Assert.Equal(4 * perRun, counts.Count);
        Assert.All(counts, count => Assert.InRange(count, 1, stepTokens));
        Assert.Equal(4 * Steps.Sum(step => step.Length), counts.Sum());
    }

    private static ForwardRequest TokenRequest(int step, bool allTokens)
    {
        var request = TokenStep("", 0, 0, Steps[step]);
        request.WantLogits = true;
        request.LogitsForAllTokens = allTokens;
        request.ReplyEncoding = ActivationEncoding.F32;
        return request;
    }

    /// <summary>Loads the range, opens a session, sends every step on one stream; returns the replies.</summary>
    private async Task<List<ForwardReply>> RunAsync(InProcessWorker worker, LayerRange range, Func<int, ForwardRequest> build)
    {
        await worker.Client.LoadRangeAsync(models.LoadRequest(models.F32Path, range));
        var session = await OpenSessionAsync(worker, models.Hash(models.F32Path, range));
        using var call = worker.Client.Forward();
        var replies = new List<ForwardReply>();
        int position = 0;
        for (int i = 0; i < Steps.Length; i++)
        {
            var request = build(i);
            request.SessionId = session;
            request.Sequence = (ulong)(i + 1);
            request.StartPosition = (uint)position;
            position += Steps[i].Length;
            replies.Add(await ExchangeAsync(call, request));
        }
        await call.RequestStream.CompleteAsync();
        return replies;
    }

    /// <summary>
    /// The range evaluated locally, each step in one pass: logits (every token or the last) of an output range,
    /// else hidden states [tokens, n_embd]; a later range reads <paramref name="hidden"/>.
    /// </summary>
    private List<float[]> Local(LayerRange range, List<float[]>? hidden, bool allTokens)
    {
        var config = models.Config;
        using var file = GgufFile.Open(models.F32Path);
        using var threads = new ComputeThreads(1);
        var forward = new LlamaForward(config, LlamaWeights.Load(file, config, range), threads);
        using var session = new LlamaSession(config, range, 64, 16);
        var results = new List<float[]>();
        for (int i = 0; i < Steps.Length; i++)
        {
            int n = Steps[i].Length;
            if (!range.IncludesOutput(config.LayerCount))
            {
                var output = new float[n * config.EmbeddingLength];
                forward.EvaluateTokensToHidden(session, Steps[i], output);
                results.Add(output);
                continue;
            }
            var logits = new float[(allTokens ? n : 1) * config.VocabularySize];
            if (hidden is null)
            {
                forward.EvaluateTokens(session, Steps[i], logits, allTokens);
            }
            else
            {
                forward.EvaluateHiddenToLogits(session, hidden[i], n, logits, allTokens);
            }
            results.Add(logits);
        }
        return results;
    }

    private static byte[] Bytes(float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
}
