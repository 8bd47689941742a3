using LlamaDist.Core.Model;

namespace LlamaDist.Core.Tests.Model;

public sealed class LlamaForwardTraceTests
{
    private sealed record Event(string Name, int Layer, int Tokens, float[] Values);

    [Fact]
    public void Trace_reports_every_step_in_llama_cpp_order_with_its_shape()
    {
        using var directory = new TemporaryDirectory();
        var synthetic = new SyntheticLlama(32, 2, 48, 4, 2, 40, seed: 2);
        using var model = new LoadedModel(synthetic.Write(directory.File("m.gguf")));
        LlamaForward forward = model.Whole();
        var events = new List<Event>();
        forward.Trace = (name, layer, tokens, values) => events.Add(new Event(name, layer, tokens, values.ToArray()));
        using LlamaSession session = model.WholeSession();
        var logits = new float[40];

        forward.EvaluateTokens(session, [5, 6, 7], logits, logitsForAllTokens: false);

        var expectedNames = new List<(string, int)> { ("inp_embd", -1) };
        for (int layer = 0; layer < 2; layer++)
        {
            expectedNames.AddRange(new[]
            {
                "attn_norm", "Qcur", "Kcur", "Vcur", "kq", "kq_soft_max", "kqv_out", "attn_out", "ffn_inp",
                "ffn_norm", "ffn_gate", "ffn_up", "ffn_swiglu", "ffn_out", "l_out",
            }.Select(name => (name, layer)));
        }
        expectedNames.Add(("result_norm", -1));
        expectedNames.Add(("result_output", -1));
        Assert.Equal(expectedNames, events.Select(e => (e.Name, e.Layer)).ToList());
        Assert.Equal(TraceNames.BlockOrder, events.Where(e => e.Layer == 0).Select(e => e.Name));

        Event Find(string name, int layer) => events.Single(e => e.Name == name && e.Layer == layer);
        Assert.Equal(3 * 32, Find("inp_embd", -1).Values.Length);
        Assert.Equal(3 * 16, Find("Kcur", 1).Values.Length);           // 2 KV heads of 8
        Assert.Equal(3 * 48, Find("ffn_swiglu", 0).Values.Length);
        Assert.Equal(3, Find("l_out", 1).Tokens);
        Assert.Equal(1, Find("result_norm", -1).Tokens);                // only the last token's logits were asked for
        Assert.Equal(logits, Find("result_output", -1).Values);

        // inp_embd is row 5, 6, 7 of token_embd (F32, exact).
        float[] embedding = synthetic.Values(LlamaTensorNames.TokenEmbedding);
        Assert.Equal(embedding.AsSpan(5 * 32, 3 * 32).ToArray(), Find("inp_embd", -1).Values);

        // kq / kq_soft_max are [heads 4, tokens 3, kv 3] with the causal mask.
        float[] scores = Find("kq", 0).Values, probabilities = Find("kq_soft_max", 0).Values;
        Assert.Equal(4 * 3 * 3, scores.Length);
        for (int head = 0; head < 4; head++)
        {
            for (int t = 0; t < 3; t++)
            {
                var row = probabilities.AsSpan((head * 3 + t) * 3, 3);
                float sum = 0;
                for (int p = 0; p < 3; p++)
                {
                    bool masked = p > t;
                    Assert.Equal(masked, float.IsNegativeInfinity(scores[(head * 3 + t) * 3 + p]));
                    Assert.True(masked ? row[p] == 0 : row[p] > 0);
                    sum += row[p];
                }
                Assert.Equal(1f, sum, 5);
            }
        }
        // The first token can only attend to itself.
        Assert.Equal(1f, probabilities[0]);

        // Residual bookkeeping: ffn_inp = l_out(prev) + attn_out, l_out = ffn_inp + ffn_out.
        float[] layerInput = Find("l_out", 0).Values, attention = Find("attn_out", 1).Values;
        float[] feedForwardInput = Find("ffn_inp", 1).Values, feedForward = Find("ffn_out", 1).Values;
        float[] layerOutput = Find("l_out", 1).Values;
        for (int i = 0; i < layerInput.Length; i++)
        {
            Assert.Equal(layerInput[i] + attention[i], feedForwardInput[i]);
            Assert.Equal(feedForwardInput[i] + feedForward[i], layerOutput[i]);
        }
    }

    [Fact]
    public void Removing_the_trace_restores_silent_evaluation()
    {
        using var model = new LoadedModel(ModelTestFiles.EmbeddedModel);
        LlamaForward forward = model.Whole();
        int calls = 0;
        forward.Trace = (_, _, _, _) => calls++;
        using LlamaSession session = model.WholeSession();
        var logits = new float[model.Config.VocabularySize];
        forward.EvaluateTokens(session, [1], logits, false);
        int perToken = calls;
        Assert.Equal(1 + 15 + 2, perToken); // inp_embd, one block, result_norm + result_output

        forward.Trace = null;
        forward.EvaluateTokens(session, [2], logits, false);
        Assert.Equal(perToken, calls);
    }
}
