using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Tests.Model;

/// <summary>
/// Attention scores (kq) and outputs (kqv_out) are, bit for bit, the F16 row dots llama.cpp's graph computes:
/// kq[h, t, p] = dot(f16 K row p of KV head h / group, q rounded to f16) and kqv[t, h, d] = dot(f16 transposed V row
/// d, probabilities rounded to f16). Whatever way the engine shares converted K / V rows between the query heads of
/// a group, every value must equal that single dot. Covers head widths below and above one 32-element step,
/// groups of four heads split or not across threads, and a second pass that starts past position 0.
/// </summary>
public sealed unsafe class AttentionDotTests
{
    private sealed record Event(string Name, int Tokens, float[] Values);

    [Theory]
    [InlineData(256, 8, 2, 1)] // head dim 32: one vector step; one thread takes whole groups of 4
    [InlineData(256, 8, 2, 2)]
    [InlineData(64, 8, 2, 1)]  // head dim 8: leftovers only
    [InlineData(384, 6, 1, 2)] // head dim 64, multi-query: one group of 6 split across threads
    // head dim 128 (two 512-bit steps), groups of 5 heads (4 + 1 at 512 bits, 3 + 2 at 256) and V rows past 64
    // positions (whole 512-bit steps plus leftovers)
    [InlineData(1280, 10, 2, 2, 90)]
    public void Scores_and_outputs_equal_the_f16_row_dot(int embd, int heads, int kvHeads, int threads, int firstTokens = 37)
    {
        using var directory = new TemporaryDirectory();
        var synthetic = new SyntheticLlama(embd, 1, 48, heads, kvHeads, 40, seed: 7);
        using var model = new LoadedModel(synthetic.Write(directory.File("attention.gguf")), threads);
        LlamaForward forward = model.Whole();
        var events = new List<Event>();
        forward.Trace = (name, layer, tokens, values) =>
        {
            if (layer == 0 && name is TraceNames.Query or TraceNames.Key or TraceNames.Value or TraceNames.Probabilities
                or TraceNames.Scores or TraceNames.AttentionOutputMerged)
            {
                events.Add(new Event(name, tokens, values.ToArray()));
            }
        };
        using LlamaSession session = model.WholeSession(contextSize: 128, maxBatch: 128);
        var logits = new float[40];
        int[] first = Enumerable.Range(0, firstTokens).Select(i => (i * 7 + 3) % 40).ToArray();
        int[] second = [4, 9, 1, 33, 20, 11];

        int headDim = embd / heads, kvWidth = kvHeads * headDim;
        var keys = new List<ushort>();   // [positions, kvWidth] as the cache holds them
        var values = new List<ushort>(); // same layout; transposed per dimension below
        int position = 0;
        foreach (int[] batch in new[] { first, second })
        {
            events.Clear();
            forward.EvaluateTokens(session, batch, logits, logitsForAllTokens: false);
            float[] Values(string name) => events.Single(e => e.Name == name).Values;
            float[] query = Values(TraceNames.Query), scores = Values(TraceNames.Scores);
            float[] probabilities = Values(TraceNames.Probabilities), merged = Values(TraceNames.AttentionOutputMerged);
            keys.AddRange(Values(TraceNames.Key).Select(F16Format.FromSingle));
            values.AddRange(Values(TraceNames.Value).Select(F16Format.FromSingle));

            int tokens = batch.Length, kvLength = position + tokens;
            for (int h = 0; h < heads; h++)
            {
                int kvHead = h / (heads / kvHeads);
                for (int t = 0; t < tokens; t++)
                {
                    int length = position + t + 1;
                    float[] q = query.AsSpan(t * embd + h * headDim, headDim).ToArray().Select(Round).ToArray();
                    for (int p = 0; p < length; p++)
                    {
                        ushort[] k = keys.GetRange(p * kvWidth + kvHead * headDim, headDim).ToArray();
                        AssertSame(Dot(k, q), scores[(h * tokens + t) * kvLength + p], $"kq h{h} t{t} p{p}");
                    }
                    float[] probs = probabilities.AsSpan((h * tokens + t) * kvLength, length).ToArray().Select(Round).ToArray();
                    for (int d = 0; d < headDim; d++)
                    {
                        ushort[] v = Enumerable.Range(0, length).Select(p => values[p * kvWidth + kvHead * headDim + d]).ToArray();
                        AssertSame(Dot(v, probs), merged[t * embd + h * headDim + d], $"kqv h{h} t{t} d{d}");
                    }
                }
            }
            position += tokens;
        }
    }

    private static float Round(float value) => F16Format.ToSingle(F16Format.FromSingle(value));

    private static float Dot(ushort[] halves, float[] rounded)
    {
        var dot = F16Format.RoundedSingleDotKernel(Quantizer.DefaultLevel(GgmlType.F16));
        fixed (ushort* h = halves)
        fixed (float* a = rounded)
        {
            return dot((byte*)h, (byte*)a, halves.Length);
        }
    }

    private static void AssertSame(float expected, float actual, string what)
    {
        if (BitConverter.SingleToUInt32Bits(expected) != BitConverter.SingleToUInt32Bits(actual))
        {
            Assert.Fail($"{what}: expected {expected:R}, got {actual:R}");
        }
    }
}
