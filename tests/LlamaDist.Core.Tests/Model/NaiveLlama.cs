using LlamaDist.Core.Model;

namespace LlamaDist.Core.Tests.Model;

/// <summary>
/// An independent, deliberately plain llama forward pass in double precision: nested loops straight from the
/// llama architecture, sharing no code with the engine. The only concessions to llama.cpp are the F16 roundings
/// its graph performs (K and V stored in an f16 cache, q and the softmax probabilities converted to f16 for the
/// two attention products), done here with System.Half.
/// </summary>
internal static class NaiveLlama
{
    /// <summary>Logits [tokens.Length, vocabulary] for a sequence starting at position 0.</summary>
    public static double[,] Logits(SyntheticLlama model, int[] tokens)
    {
        int n = tokens.Length, embd = model.Embd, hd = model.HeadDim, heads = model.Heads;
        int kvWidth = model.KvHeads * hd, group = heads / model.KvHeads;
        double[] W(string name) => Array.ConvertAll(model.Tensors[name].StoredValues(), v => (double)v);

        double[][] x = new double[n][];
        double[] embedding = W(LlamaTensorNames.TokenEmbedding);
        for (int t = 0; t < n; t++)
        {
            x[t] = embedding.AsSpan(tokens[t] * embd, embd).ToArray();
        }

        for (int layer = 0; layer < model.Layers; layer++)
        {
            string p = LlamaTensorNames.BlockPrefix(layer);
            double[] wq = W(p + "attn_q.weight"), wk = W(p + "attn_k.weight"), wv = W(p + "attn_v.weight");
            double[] wo = W(p + "attn_output.weight"), wg = W(p + "ffn_gate.weight"), wu = W(p + "ffn_up.weight");
            double[] wd = W(p + "ffn_down.weight");
            double[] attnNorm = W(p + "attn_norm.weight"), ffnNorm = W(p + "ffn_norm.weight");

            var q = new double[n][];
            var k = new double[n][];
            var v = new double[n][];
            for (int t = 0; t < n; t++)
            {
                double[] h = RmsNorm(x[t], attnNorm, model.Epsilon);
                q[t] = MatVec(wq, h, embd);
                k[t] = MatVec(wk, h, kvWidth);
                v[t] = MatVec(wv, h, kvWidth);
                Rope(q[t], heads, hd, t, model.RopeDimensions, model.RopeBase);
                Rope(k[t], model.KvHeads, hd, t, model.RopeDimensions, model.RopeBase);
                k[t] = Array.ConvertAll(k[t], Half16); // the f16 KV cache
                v[t] = Array.ConvertAll(v[t], Half16);
            }

            for (int t = 0; t < n; t++)
            {
                var merged = new double[embd];
                for (int head = 0; head < heads; head++)
                {
                    int kvHead = head / group;
                    var scores = new double[t + 1];
                    for (int j = 0; j <= t; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < hd; d++)
                        {
                            dot += Half16(q[t][head * hd + d]) * k[j][kvHead * hd + d];
                        }
                        scores[j] = dot / Math.Sqrt(hd);
                    }
                    double max = scores.Max(), sum = 0;
                    for (int j = 0; j <= t; j++) sum += Math.Exp(scores[j] - max);
                    for (int d = 0; d < hd; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j <= t; j++)
                        {
                            acc += Half16(Math.Exp(scores[j] - max) / sum) * v[j][kvHead * hd + d];
                        }
                        merged[head * hd + d] = acc;
                    }
                }
                double[] attention = MatVec(wo, merged, embd);
                for (int i = 0; i < embd; i++) x[t][i] += attention[i];

                double[] h = RmsNorm(x[t], ffnNorm, model.Epsilon);
                double[] gate = MatVec(wg, h, model.Ffn), up = MatVec(wu, h, model.Ffn);
                for (int i = 0; i < model.Ffn; i++) gate[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
                double[] down = MatVec(wd, gate, embd);
                for (int i = 0; i < embd; i++) x[t][i] += down[i];
            }
        }

        double[] outputNorm = W(LlamaTensorNames.OutputNorm);
        double[] output = model.Tensors.ContainsKey(LlamaTensorNames.Output)
            ? W(LlamaTensorNames.Output) : W(LlamaTensorNames.TokenEmbedding);
        var logits = new double[n, model.Vocabulary];
        for (int t = 0; t < n; t++)
        {
            double[] row = MatVec(output, RmsNorm(x[t], outputNorm, model.Epsilon), model.Vocabulary);
            for (int i = 0; i < model.Vocabulary; i++) logits[t, i] = row[i];
        }
        return logits;
    }

    private static double Half16(double value) => (double)(Half)(float)value;

    private static double[] RmsNorm(double[] x, double[] weight, double epsilon)
    {
        double meanSquare = x.Sum(value => value * value) / x.Length;
        double scale = 1 / Math.Sqrt(meanSquare + epsilon);
        return x.Select((value, i) => value * scale * weight[i]).ToArray();
    }

    /// <summary>y = W x for W stored row-major [rows, columns] (ggml's [columns, rows]).</summary>
    private static double[] MatVec(double[] w, double[] x, int rows)
    {
        int columns = x.Length;
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            for (int c = 0; c < columns; c++) sum += w[r * columns + c] * x[c];
            y[r] = sum;
        }
        return y;
    }

    /// <summary>Rotates pairs (2i, 2i+1) of each head by position * base^(-2i / ropeDimensions).</summary>
    private static void Rope(double[] values, int heads, int hd, int position, int ropeDimensions, double ropeBase)
    {
        for (int head = 0; head < heads; head++)
        {
            for (int i = 0; i < ropeDimensions / 2; i++)
            {
                double theta = position * Math.Pow(ropeBase, -2.0 * i / ropeDimensions);
                int a = head * hd + 2 * i;
                double x0 = values[a], x1 = values[a + 1];
                values[a] = x0 * Math.Cos(theta) - x1 * Math.Sin(theta);
                values[a + 1] = x0 * Math.Sin(theta) + x1 * Math.Cos(theta);
            }
        }
    }
}
