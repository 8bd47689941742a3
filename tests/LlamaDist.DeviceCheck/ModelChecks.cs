using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.TestModels;
using LlamaDist.Gpu;
using LlamaDist.Tests.Shared;

namespace LlamaDist.DeviceCheck;

/// <summary>
/// Whole models on the device against the CPU engine: F32 and F16 give the same greedy tokens; quantized types give
/// logits within a per-type tolerance (the CPU quantizes activations to 8 bits, the device does not).
/// </summary>
internal static class ModelChecks
{
    private static readonly int[] Prompt = [1, 300, 401, 17, 288, 500, 42, 260];

    /// <summary>A small model: every layer type of the block, cheap enough for the simulated accelerator.</summary>
    public static readonly (string Name, TestModelShape Shape) Small = ("small", new TestModelShape(256, 512, 2, 4, 2, 512, 256));

    /// <summary>TinyLlama's width, heads and 32000-token vocabulary with two layers: the real kernel sizes.</summary>
    public static readonly (string Name, TestModelShape Shape) Wide = ("tinyllama-2-layers", new TestModelShape(2048, 5632, 2, 32, 4, 32000, 2048));

    public static void Run(IlgpuBackend backend, ComputeThreads threads, Report report, string directory, bool isShort,
        (string Name, TestModelShape Shape) model, CancellationToken cancellationToken)
    {
        var shapes = new[] { model };
        string kind = backend.Kind.ToString();
        foreach (var (name, shape) in shapes)
        {
            // The short mode (the default test run, on a simulated device) keeps one case of each kind.
            foreach (var type in isShort ? new[] { GgmlType.F16 } : new[] { GgmlType.F32, GgmlType.F16 })
            {
                Guard(report, $"greedy tokens {name} {type}", kind, () =>
                {
                    using var model = TestModel.Create(directory, name, shape, type, backend, threads, cancellationToken);
                    int[] cpu = Greedy(model.Cpu, 8);
                    int[] device = Greedy(model.Device, 8);
                    bool same = cpu.SequenceEqual(device);
                    report.Add("model", $"greedy tokens {name} {type}", kind, cpu.Zip(device).Count(pair => pair.First == pair.Second), "of 8 equal",
                        same ? "ok" : "FAIL", $"cpu {string.Join(' ', cpu)} / device {string.Join(' ', device)}");
                });
            }
            if (!isShort)
            {
                Guard(report, $"top-k candidates {name} F16", kind, () =>
                {
                    using var model = TestModel.Create(directory, name, shape, GgmlType.F16, backend, threads, cancellationToken);
                    var (matches, detail) = CandidatesMatch((IlgpuRangeForward)model.Device);
                    report.Add("model", $"top-k candidates {name} F16", kind, null, "", matches ? "ok" : "FAIL", detail);
                });
            }
            var quantized = new[] { (GgmlType.Q8_0, 0.03), (GgmlType.Q4_0, 0.05), (GgmlType.Q4_K, 0.05), (GgmlType.Q6_K, 0.03) };
            foreach (var (type, tolerance) in isShort ? quantized[2..3] : quantized)
            {
                Guard(report, $"logits {name} {type}", kind, () =>
                {
                    using var model = TestModel.Create(directory, name, shape, type, backend, threads, cancellationToken);
                    float[] cpu = AllLogits(model.Cpu);
                    float[] device = AllLogits(model.Device);
                    double scale = cpu.Max(value => Math.Abs(value));
                    double worst = cpu.Zip(device, (a, b) => (double)Math.Abs(a - b)).Max() / scale;
                    report.Add("model", $"logits {name} {type}", kind, worst, "rel. error", worst <= tolerance ? "ok" : "FAIL", $"tolerance {tolerance}");
                });
            }
        }
    }

    private static void Guard(Report report, string name, string kind, Action check)
    {
        try
        {
            check();
        }
        catch (OperationCanceledException)
        {
            report.Add("model", name, kind, null, "", "skipped", "time limit reached");
        }
        catch (Exception exception)
        {
            report.Add("model", name, kind, null, "", "FAIL", $"{exception.GetType().Name}: {exception.Message}");
        }
    }

    /// <summary>
    /// The device's selection for a top-k sampler (40 largest plus three penalized ids) against the same device's
    /// full row of logits: exactly the logits at least the 40th largest, then the three.
    /// </summary>
    private static (bool Matches, string Detail) CandidatesMatch(IlgpuRangeForward device)
    {
        int vocabulary = device.Config.VocabularySize;
        var logits = new float[vocabulary];
        using (var session = device.CreateSession(Prompt.Length, Prompt.Length))
        {
            device.EvaluateTokens(session, Prompt, logits, logitsForAllTokens: false);
        }
        int[] extra = [Prompt[1], Prompt[2], Prompt[3]];
        var ids = new int[vocabulary + extra.Length];
        var values = new float[vocabulary + extra.Length];
        int written;
        using (var session = device.CreateSession(Prompt.Length, Prompt.Length))
        {
            written = device.EvaluateTopCandidates(session, Prompt, 40, extra, ids, values);
        }
        float threshold = logits.OrderByDescending(value => value).ElementAt(39);
        int[] expected = Enumerable.Range(0, vocabulary).Where(i => logits[i] >= threshold).ToArray();
        int selected = written - extra.Length;
        bool matches = selected >= 0 && ids[..selected].Order().SequenceEqual(expected) && ids[selected..written].SequenceEqual(extra)
            && Enumerable.Range(0, written).All(i => values[i] == logits[ids[i]]);
        return (matches, $"{written} pairs of {vocabulary} logits crossed the bus (40 largest, ties, 3 penalized)");
    }

    private static int[] Greedy(IRangeForward forward, int count) => ForwardRuns.Greedy(forward, Prompt, count);

    private static float[] AllLogits(IRangeForward forward) => ForwardRuns.AllLogits(forward, Prompt);
}
