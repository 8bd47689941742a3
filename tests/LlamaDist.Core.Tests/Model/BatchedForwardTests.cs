using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Tests.Model;

/// <summary>
/// Rows of several sessions evaluated in one <see cref="BatchedForward"/> pass give every session exactly what
/// it gets evaluated alone, at different positions, for every kind of range. F16, and Q8_0 where the CPU has
/// AVX-VNNI, are the exceptions, as in llama.cpp: their batches run a register-blocked GEMM (F16: one accumulator
/// per output over converted panels; Q8_0: exact block sums for eight rows per vector) and a lone token the decode
/// row dot, so a session's logits depend in their last bits on how many rows shared its pass; they stay within
/// 1e-3 of the largest logit, and the greedy tokens are the same.
/// </summary>
public sealed class BatchedForwardTests
{
    private static readonly int[][] Prompts = [[1, 15, 7, 31, 2], [3, 9], [22, 5, 11, 30, 8, 17, 4]];

    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void Decoding_several_sessions_in_one_pass_equals_each_alone(GgmlType type)
    {
        using var directory = new TemporaryDirectory();
        string path = new SyntheticLlama(64, 2, 96, 4, 2, 40, seed: 31, matrixType: type).Write(directory.File("m.gguf"));
        using var model = new LoadedModel(path, threadCount: 2);
        LlamaForward forward = model.Whole();
        int vocabulary = model.Config.VocabularySize;

        // Alone: each prompt, then four greedy steps, one session at a time.
        var expected = new List<float[]>[Prompts.Length];
        for (int s = 0; s < Prompts.Length; s++)
        {
            using LlamaSession alone = model.WholeSession();
            var logits = new float[vocabulary];
            forward.EvaluateTokens(alone, Prompts[s], logits, logitsForAllTokens: false);
            expected[s] = [(float[])logits.Clone()];
            for (int step = 0; step < 4; step++)
            {
                forward.EvaluateTokens(alone, [ArgMax(logits)], logits, logitsForAllTokens: false);
                expected[s].Add((float[])logits.Clone());
            }
        }

        // Together: the prompts in one pass (different lengths), then every decode step in one pass.
        var batched = new BatchedForward(forward);
        var sessions = Prompts.Select(_ => model.WholeSession()).ToArray();
        try
        {
            var outputs = Prompts.Select(_ => new float[vocabulary]).ToArray();
            batched.Evaluate(Prompts.Select((prompt, s) => Step(sessions[s], prompt, outputs[s])).ToList());
            for (int s = 0; s < Prompts.Length; s++)
            {
                AssertSame(type, expected[s][0], outputs[s]);
            }
            for (int step = 0; step < 4; step++)
            {
                var next = outputs.Select(logits => new[] { ArgMax(logits) }).ToArray();
                batched.Evaluate(next.Select((token, s) => Step(sessions[s], token, outputs[s])).ToList());
                for (int s = 0; s < Prompts.Length; s++)
                {
                    AssertSame(type, expected[s][step + 1], outputs[s]);
                    Assert.Equal(Prompts[s].Length + step + 1, sessions[s].Position);
                }
            }
        }
        finally
        {
            foreach (var session in sessions) session.Dispose();
        }
    }

    /// <summary>Bit for bit, except F16 (see the class comment): within 1e-3 of the largest logit (summation order through every layer and step), same argmax.</summary>
    private static void AssertSame(GgmlType type, float[] expected, float[] actual)
    {
        bool batchesRoundDifferently = type == GgmlType.F16 || (type == GgmlType.Q8_0 && Q8_0Gemm.IsSupported);
        if (!batchesRoundDifferently)
        {
            Assert.Equal(expected, actual);
            return;
        }
        float scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-3f * scale, $"logit {i}: {actual[i]} vs {expected[i]} alone");
        }
        Assert.Equal(ArgMax(expected), ArgMax(actual));
    }

    [Fact]
    public void A_middle_range_batches_hidden_rows_of_several_sessions()
    {
        using var directory = new TemporaryDirectory();
        string path = new SyntheticLlama(64, 3, 96, 4, 2, 40, seed: 12, matrixType: GgmlType.Q8_0).Write(directory.File("m.gguf"));
        using var model = new LoadedModel(path);
        int embd = model.Config.EmbeddingLength;
        var front = new LayerRange(0, 1);
        var middle = new LayerRange(1, 2);
        LlamaForward first = model.Forward(front), second = model.Forward(middle);

        var hidden = Prompts.Select(prompt =>
        {
            using LlamaSession session = model.Session(front);
            var rows = new float[prompt.Length * embd];
            first.EvaluateTokensToHidden(session, prompt, rows);
            return rows;
        }).ToArray();
        var expected = hidden.Select((rows, s) =>
        {
            using LlamaSession session = model.Session(middle);
            var output = new float[rows.Length];
            second.EvaluateHidden(session, rows, Prompts[s].Length, output);
            return output;
        }).ToArray();

        var sessions = Prompts.Select(_ => model.Session(middle)).ToArray();
        var actual = hidden.Select(rows => new float[rows.Length]).ToArray();
        new BatchedForward(second).Evaluate(Prompts.Select((prompt, s) => new BatchedStep
        {
            Session = sessions[s],
            Count = prompt.Length,
            Hidden = hidden[s],
            Output = actual[s],
        }).ToList());
        for (int s = 0; s < Prompts.Length; s++)
        {
            Assert.Equal(expected[s], actual[s]);
            sessions[s].Dispose();
        }
    }

    [Fact]
    public void An_invalid_step_changes_no_session()
    {
        using var directory = new TemporaryDirectory();
        string path = new SyntheticLlama(64, 2, 96, 4, 2, 40, seed: 5).Write(directory.File("m.gguf"));
        using var model = new LoadedModel(path);
        var batched = new BatchedForward(model.Whole());
        using LlamaSession good = model.WholeSession();
        var logits = new float[model.Config.VocabularySize];

        Assert.Throws<ArgumentOutOfRangeException>(() => batched.Evaluate([Step(good, [1, 2], logits), Step(model.WholeSession(), [99], new float[40])]));
        Assert.Throws<ArgumentException>(() => batched.Evaluate([Step(good, [1], logits), Step(good, [2], logits)]));
        Assert.Equal(0, good.Position);
    }

    private static BatchedStep Step(LlamaSession session, int[] tokens, float[] logits) => new()
    {
        Session = session,
        Count = tokens.Length,
        Tokens = tokens,
        Output = logits,
        WantsLogits = true,
    };

    private static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best]) best = i;
        }
        return best;
    }
}
