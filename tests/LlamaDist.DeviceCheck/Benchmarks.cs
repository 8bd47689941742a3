using System.Diagnostics;
using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.TestModels;
using LlamaDist.Gpu;

namespace LlamaDist.DeviceCheck;

/// <summary>
/// llama-bench's pp and tg tests on the TinyLlama shape (F16 and Q4_0), device and CPU engine side by side:
/// pp = one pass over the prompt from an empty cache, tg = tokens generated one at a time from an empty cache
/// (greedy, picked on the device for the device). One warm-up pass first; each test stops at its time bound and
/// reports the tokens it did.
/// </summary>
internal static class Benchmarks
{
    public static void Run(IlgpuBackend backend, ComputeThreads threads, Report report, string directory, bool isShort,
        Func<TimeSpan> remaining, CancellationToken cancellationToken)
    {
        var shape = isShort ? new TestModelShape(256, 512, 2, 4, 2, 512, 256) : TestModelShape.For(TestModelPreset.TinyLlama);
        string name = isShort ? "small" : "tinyllama";
        int promptTokens = isShort ? 16 : 512, generated = isShort ? 4 : 128;
        foreach (var type in isShort ? new[] { GgmlType.Q4_0 } : new[] { GgmlType.F16, GgmlType.Q4_0 })
        {
            if (remaining() < TimeSpan.FromSeconds(isShort ? 1 : 60))
            {
                report.Add("bench", $"{name} {type}", "", null, "", "skipped", "time limit reached");
                continue;
            }
            TestModel model;
            var clock = Stopwatch.StartNew();
            try
            {
                model = TestModel.Create(directory, name, shape, type, backend, threads, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                report.Add("bench", $"{name} {type}", "", null, "", "skipped", "time limit reached while writing the model");
                continue;
            }
            catch (Exception exception)
            {
                report.Add("bench", $"{name} {type}", "", null, "", "FAIL", $"{exception.GetType().Name}: {exception.Message}");
                continue;
            }
            using (model)
            {
                report.Add("bench", $"{name} {type} write + load", "", clock.Elapsed.TotalSeconds, "s", "info");
                foreach (var (label, forward) in new[] { (backend.Kind.ToString(), model.Device), ($"Cpu ({threads.ThreadCount} threads)", model.Cpu) })
                {
                    try
                    {
                        Measure(report, $"{name} {type}", label, forward, promptTokens, generated, remaining);
                    }
                    catch (Exception exception)
                    {
                        report.Add("bench", $"{name} {type}", label, null, "", "FAIL", $"{exception.GetType().Name}: {exception.Message}");
                    }
                }
            }
        }
    }

    private static void Measure(Report report, string model, string label, IRangeForward forward, int promptTokens, int generated,
        Func<TimeSpan> remaining)
    {
        var random = new Random(5);
        int vocabulary = forward.Config.VocabularySize;
        int[] prompt = Enumerable.Range(0, promptTokens).Select(_ => random.Next(3, vocabulary)).ToArray();
        using var session = forward.CreateSession(promptTokens + generated, promptTokens);
        var logits = new float[vocabulary];

        // Warm-up: compiles and loads what the first pass needs, pages weights in.
        forward.EvaluateTokens(session, prompt.AsSpan(0, Math.Min(8, promptTokens)), logits, logitsForAllTokens: false);

        session.Reset();
        var clock = Stopwatch.StartNew();
        forward.EvaluateTokens(session, prompt, logits, logitsForAllTokens: false);
        double seconds = clock.Elapsed.TotalSeconds;
        report.Add("bench", $"{model} pp{promptTokens}", label, promptTokens / seconds, "t/s", "ok");

        session.Reset();
        int token = 1, done = 0;
        var budget = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(1).Ticks, Math.Min(TimeSpan.FromSeconds(30).Ticks, remaining().Ticks / 2)));
        clock.Restart();
        while (done < generated && clock.Elapsed < budget)
        {
            token = forward is IlgpuRangeForward device
                ? device.EvaluateGreedy(session, [token])
                : Greedy(forward, session, token, logits);
            done++;
        }
        seconds = clock.Elapsed.TotalSeconds;
        report.Add("bench", $"{model} tg{generated}", label, done / seconds, "t/s", "ok",
            done < generated ? $"{done} of {generated} tokens within the time bound" : "");
    }

    private static int Greedy(IRangeForward forward, IForwardSession session, int token, float[] logits)
    {
        forward.EvaluateTokens(session, [token], logits, logitsForAllTokens: false);
        return VectorMath.ArgMax(logits);
    }
}
