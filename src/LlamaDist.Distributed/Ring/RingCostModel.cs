using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Ring;

/// <summary>
/// What a ring's steps cost, learnt from the steps themselves and shared by every session of one cluster, so
/// <see cref="PrefillPlanner"/> can size a prompt's micro-batches for this ring and this link:
/// <list type="bullet">
/// <item>per stage, the compute of a one-token step (c1) and the extra cost of each further token of a batch (b),
///   from the stage timings every step carries (a = c1 − b: the cost of a pass whatever its size);</item>
/// <item>the link's overhead per hop: a one-token step's wall time beyond all stages' compute, shared by its hops.</item>
/// </list>
/// Before anything is observed, priors stand in: c1 from each stage's weight bytes over the throughput its node
/// measured at start-up (a decode step streams every weight once), b as <see cref="BatchedTokenRatio"/> of c1,
/// and <see cref="DefaultHopMs"/>. Observations enter as exponential moving averages. Thread-safe.
/// </summary>
public sealed class RingCostModel
{
    /// <summary>Cost of one more token of a batched pass relative to a lone token's step, on CPUs (about 0.45:
    /// prompt evaluation runs about 2.2 times the decode rate, as llama.cpp's pp and tg figures show).</summary>
    public const double BatchedTokenRatio = 0.45;

    /// <summary>Assumed overhead per hop until a step measured it (a LAN's message round trip, halved).</summary>
    public const double DefaultHopMs = 0.5;

    private const double Weight = 0.3;  // of each new observation in the moving averages

    private readonly object sync = new();
    private readonly double[] singleTokenMs;
    private readonly double[] perTokenMs;
    private double hopMs = DefaultHopMs;

    /// <param name="parallelStages">Stages that can compute at the same time: the distinct machines of the ring.</param>
    /// <param name="stageSingleTokenMs">Prior of each stage's one-token step, in ring order (weights / throughput).</param>
    public RingCostModel(int parallelStages, IReadOnlyList<double> stageSingleTokenMs)
    {
        ArgumentNullException.ThrowIfNull(stageSingleTokenMs);
        if (stageSingleTokenMs.Count == 0)
        {
            throw new ArgumentException("A ring has at least one stage.", nameof(stageSingleTokenMs));
        }
        ParallelStages = Math.Max(1, parallelStages);
        singleTokenMs = stageSingleTokenMs.Select(ms => double.IsFinite(ms) && ms > 0 ? ms : 1.0).ToArray();
        perTokenMs = singleTokenMs.Select(ms => ms * BatchedTokenRatio).ToArray();
    }

    public int ParallelStages { get; }

    /// <summary>The link's current overhead per hop, in milliseconds.</summary>
    public double HopMs
    {
        get
        {
            lock (sync)
            {
                return hopMs;
            }
        }
    }

    /// <summary>The micro-batch for a prompt of <paramref name="tokens"/> on this ring (see <see cref="PrefillPlanner"/>).</summary>
    public int MicroBatch(int tokens, int max)
    {
        var (hop, fixedMs, perToken) = Slowest();
        return PrefillPlanner.MicroBatch(tokens, ParallelStages, hop, fixedMs, perToken, max);
    }

    /// <summary>The link and the slowest stage: (o, a, b) of the planner's formula.</summary>
    public (double HopMs, double StageFixedMs, double StagePerTokenMs) Slowest()
    {
        lock (sync)
        {
            double fixedMs = 0, perToken = 0;
            for (int i = 0; i < singleTokenMs.Length; i++)
            {
                fixedMs = Math.Max(fixedMs, Math.Max(0, singleTokenMs[i] - perTokenMs[i]));
                perToken = Math.Max(perToken, perTokenMs[i]);
            }
            return (hopMs, fixedMs, perToken);
        }
    }

    /// <summary>
    /// Learns from one step of <paramref name="tokens"/> tokens: its stage timings in ring order and, for a step
    /// that had the ring to itself (not a pipelined micro-batch), its wall time over <paramref name="hops"/> hops.
    /// </summary>
    public void Observe(IReadOnlyList<StageTiming> stages, int tokens, double? wallMs, int hops)
    {
        ArgumentNullException.ThrowIfNull(stages);
        if (tokens < 1)
        {
            return;
        }
        lock (sync)
        {
            double computeMs = 0;
            for (int i = 0; i < stages.Count && i < singleTokenMs.Length; i++)
            {
                double ms = stages[i].ComputeMicroseconds / 1000.0;
                computeMs += ms;
                if (tokens == 1)
                {
                    singleTokenMs[i] = Average(singleTokenMs[i], ms);
                }
                else
                {
                    perTokenMs[i] = Average(perTokenMs[i], Math.Max(0, ms - singleTokenMs[i]) / (tokens - 1));
                }
            }
            if (tokens == 1 && wallMs is { } wall && hops > 0 && stages.Count > 0)
            {
                hopMs = Average(hopMs, Math.Max(0, wall - computeMs) / hops);
            }
        }
    }

    private static double Average(double current, double observed) =>
        double.IsFinite(observed) ? current + Weight * (observed - current) : current;
}
