using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.Tokenization;
using LlamaDist.Distributed.Activations;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.TestModels;
using Xunit.Abstractions;

namespace LlamaDist.Engine.Tests.Reliability;

/// <summary>
/// What each hand-off encoding costs against the local run, measured as a cluster computes it: the model split
/// into three ranges (two hand-offs), each range's output hidden state encoded and decoded between them exactly as
/// the ring does, logits for every position of a text compared with one process's: top-1 agreement and the
/// mean KL divergence KL(local ‖ split), plus the payload bytes per token per hop. Figures for docs/RELIABILITY.md.
/// </summary>
[Trait("Category", ReliabilitySettings.Category)]
public sealed class HandOffEncodingCostTests(ITestOutputHelper output) : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"llamadist-handoff-{Guid.NewGuid():N}");

    public static TheoryData<string, string> Models => new()
    {
        { "Small", "Q8_0" },
        { "Small", "Q4_K" },
        { "Small", "F16" },
        { "default", "" },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void F32IsExact_F16AndQ8_0CostLittle(string preset, string type)
    {
        string path;
        if (preset == "default")
        {
            path = ModelPaths.DefaultModelPath();
        }
        else
        {
            Directory.CreateDirectory(directory);
            path = Path.Combine(directory, $"{preset}-{type}.gguf");
            TestModelFactory.Create(path, preset, type, seed: 11, vocabularyFrom: null, overwrite: true);
        }
        using var file = GgufFile.Open(path);
        var config = LlamaConfig.FromGguf(file);
        var tokenizer = TokenizerFactory.FromGguf(file);
        var text = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));
        var tokens = tokenizer.Encode(text, addSpecial: true).Take(384).ToArray();
        using var threads = new ComputeThreads(1);

        var local = Logits(file, config, threads, tokens, [LayerRange.All(config.LayerCount)], encoding: null);
        var ranges = Ranges(config.LayerCount);
        foreach (var encoding in new[] { ActivationEncoding.F32, ActivationEncoding.F16, ActivationEncoding.Q80 })
        {
            var split = Logits(file, config, threads, tokens, ranges, encoding);
            var (agreement, kl) = Compare(local, split, config.VocabularySize);
            long bytes = ActivationCodec.RowBytes(encoding, config.EmbeddingLength);
            output.WriteLine($"{Path.GetFileName(path)} n_embd={config.EmbeddingLength} {ranges.Length - 1} hand-offs {encoding}: " +
                $"top-1 agreement {agreement:P2} over {tokens.Length} positions, mean KL {kl:E3} nats, {bytes} bytes per token per hop");
            if (encoding == ActivationEncoding.F32)
            {
                Assert.Equal(1.0, agreement);
                Assert.Equal(0.0, kl);
            }
            else
            {
                Assert.InRange(agreement, 0.9, 1.0);
                Assert.InRange(kl, 0, 0.05);
            }
        }
    }

    /// <summary>Three ranges where the model has the layers for them (two hand-offs), else two.</summary>
    private static LayerRange[] Ranges(int layerCount) => layerCount >= 3
        ? [new(0, layerCount / 3), new(layerCount / 3, 2 * layerCount / 3), new(2 * layerCount / 3, layerCount)]
        : layerCount == 2 ? [new(0, 1), new(1, 2)]
        : [new LayerRange(0, 1).WithOutputElsewhere(), LayerRange.OutputHead(1)];

    /// <summary>Logits [positions, vocabulary] of the text, evaluated in batches of 64 through the ranges in order.</summary>
    private static float[] Logits(GgufFile file, LlamaConfig config, ComputeThreads threads, int[] tokens, LayerRange[] ranges,
        ActivationEncoding? encoding)
    {
        const int batch = 64;
        var forwards = ranges.Select(range => new LlamaForward(config, LlamaWeights.Load(file, config, range), threads)).ToArray();
        var sessions = ranges.Select(range => new LlamaSession(config, range, tokens.Length, batch)).ToArray();
        try
        {
            int vocabulary = config.VocabularySize, embd = config.EmbeddingLength;
            var logits = new float[tokens.Length * vocabulary];
            var hidden = new float[batch * embd];
            var next = new float[batch * embd];
            for (int start = 0; start < tokens.Length; start += batch)
            {
                int n = Math.Min(batch, tokens.Length - start);
                var step = tokens.AsSpan(start, n);
                var rows = logits.AsSpan(start * vocabulary, n * vocabulary);
                if (forwards.Length == 1)
                {
                    forwards[0].EvaluateTokens(sessions[0], step, rows, logitsForAllTokens: true);
                    continue;
                }
                forwards[0].EvaluateTokensToHidden(sessions[0], step, hidden.AsSpan(0, n * embd));
                for (int stage = 1; stage < forwards.Length; stage++)
                {
                    // The hop: exactly what the ring puts on the wire and the next stage decodes.
                    var payload = ActivationCodec.Encode(hidden.AsSpan(0, n * embd), n, embd, encoding!.Value);
                    ActivationCodec.Decode(payload.Span, encoding.Value, n, embd, hidden.AsSpan(0, n * embd));
                    if (stage == forwards.Length - 1)
                    {
                        forwards[stage].EvaluateHiddenToLogits(sessions[stage], hidden.AsSpan(0, n * embd), n, rows, logitsForAllTokens: true);
                    }
                    else
                    {
                        forwards[stage].EvaluateHidden(sessions[stage], hidden.AsSpan(0, n * embd), n, next.AsSpan(0, n * embd));
                        (hidden, next) = (next, hidden);
                    }
                }
            }
            return logits;
        }
        finally
        {
            foreach (var session in sessions)
            {
                session.Dispose();
            }
        }
    }

    private static (double Agreement, double MeanKl) Compare(float[] local, float[] split, int vocabulary)
    {
        int positions = local.Length / vocabulary, agree = 0;
        double kl = 0;
        for (int p = 0; p < positions; p++)
        {
            var a = local.AsSpan(p * vocabulary, vocabulary);
            var b = split.AsSpan(p * vocabulary, vocabulary);
            if (ArgMax(a) == ArgMax(b))
            {
                agree++;
            }
            kl += Kl(a, b);
        }
        return ((double)agree / positions, kl / positions);
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }
        return best;
    }

    /// <summary>KL(softmax(p) ‖ softmax(q)) in nats, in double precision.</summary>
    private static double Kl(ReadOnlySpan<float> p, ReadOnlySpan<float> q)
    {
        double maxP = double.MinValue, maxQ = double.MinValue;
        for (int i = 0; i < p.Length; i++)
        {
            maxP = Math.Max(maxP, p[i]);
            maxQ = Math.Max(maxQ, q[i]);
        }
        double sumP = 0, sumQ = 0;
        for (int i = 0; i < p.Length; i++)
        {
            sumP += Math.Exp(p[i] - maxP);
            sumQ += Math.Exp(q[i] - maxQ);
        }
        double logZp = maxP + Math.Log(sumP), logZq = maxQ + Math.Log(sumQ), kl = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double logP = p[i] - logZp, logQ = q[i] - logZq;
            kl += Math.Exp(logP) * (logP - logQ);
        }
        return Math.Max(0, kl);
    }

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "LlamaDist.sln")))
            {
                return folder.FullName;
            }
        }
        throw new DirectoryNotFoundException("The repository root (LlamaDist.sln) is not above the test's folder.");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
