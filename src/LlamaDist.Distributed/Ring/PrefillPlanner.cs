namespace LlamaDist.Distributed.Ring;

/// <summary>
/// How many tokens each micro-batch of a pipelined prompt carries. A prompt of n tokens cut into micro-batches
/// of m flows through S stages that run at once, so it takes n/m + S - 1 "beats", each as long as the slowest
/// stage's time for one micro-batch: its fixed cost a (streaming its weights once, whatever m; dispatch), its
/// cost per token b, and the hop's overhead o (latency and per-message cost of the link):
/// <code>
/// T(m) = (n/m + S - 1) · (o + a + b·m)        minimal at  m* = sqrt(n · (o + a) / ((S - 1) · b))
/// </code>
/// Small m keeps every stage busy sooner but pays a and o more often; large m wastes the S - 1 beats where only
/// some stages work. The size is kept in [1, max]; with one stage (or stages sharing one machine, which cannot
/// overlap) the prompt goes as one step.
/// </summary>
public static class PrefillPlanner
{
    /// <summary>The micro-batch size for a prompt of <paramref name="tokens"/> (1 ≤ result ≤ min(tokens, max)).</summary>
    /// <param name="tokens">Prompt tokens to evaluate (n).</param>
    /// <param name="parallelStages">Stages that can compute at the same time (S): machines, not processes.</param>
    /// <param name="hopMs">Overhead of one message on one hop (o), in milliseconds.</param>
    /// <param name="stageFixedMs">The slowest stage's cost of a micro-batch beyond its tokens (a).</param>
    /// <param name="stagePerTokenMs">The slowest stage's cost per token of a micro-batch (b).</param>
    /// <param name="max">Largest step the ring takes.</param>
    public static int MicroBatch(int tokens, int parallelStages, double hopMs, double stageFixedMs, double stagePerTokenMs, int max)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(max);
        int limit = Math.Min(tokens, max);
        if (parallelStages < 2 || !(stagePerTokenMs > 0) || double.IsNaN(hopMs) || double.IsNaN(stageFixedMs))
        {
            return limit;
        }
        // T(m) counts whole micro-batches (ceil(n/m) beats), so the best size is found among all of them: the
        // continuous m* is near it, but a size that divides the prompt evenly can beat it. Ties go to the larger.
        double hop = Math.Max(0, hopMs), fixedMs = Math.Max(0, stageFixedMs);
        int best = limit;
        double bestMs = PredictedMs(tokens, limit, parallelStages, hop, fixedMs, stagePerTokenMs);
        for (int size = limit - 1; size >= 1; size--)
        {
            double ms = PredictedMs(tokens, size, parallelStages, hop, fixedMs, stagePerTokenMs);
            if (ms < bestMs * (1 - 1e-12))
            {
                best = size;
                bestMs = ms;
            }
        }
        return best;
    }

    /// <summary>T(m) above, in milliseconds: the predicted time of the pipelined prompt.</summary>
    public static double PredictedMs(int tokens, int microBatch, int parallelStages, double hopMs, double stageFixedMs, double stagePerTokenMs)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(microBatch);
        int beats = (tokens + microBatch - 1) / microBatch + Math.Max(1, parallelStages) - 1;
        return beats * (hopMs + stageFixedMs + stagePerTokenMs * Math.Min(microBatch, tokens));
    }
}
