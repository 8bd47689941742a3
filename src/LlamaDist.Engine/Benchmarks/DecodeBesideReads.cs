using System.Diagnostics;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Benchmarks;

/// <summary>
/// Decode steps alternated one by one with plain reads of the same weights by the same number of threads: how
/// close decoding comes to the rate its weights can be read at, both measured in the same seconds.
/// <para>Why alternate: on the VM these figures come from, the same pages read at 25 to over 100 GB/s from one
/// pass to the next (seconds apart), so a read rate taken before or after a decode run, or the fastest of a few
/// passes, can sit anywhere in that spread and the fraction with it. A read pass before every step puts both
/// rates in the same moments, as the llama.cpp comparison alternates its rounds.</para>
/// <para>Shape: <see cref="Steps"/> greedy steps of one sequence from an empty cache (pseudo-random token ids, as
/// a tg test's), each right after one read pass of <see cref="BytesPerStep"/> bytes, every step and every pass
/// timed on its own. Both rates are bytes over the summed seconds of their own parts. A step starts with caches the read pass filled
/// with weights, and the compute threads may have gone to sleep during it: both cost the step, not the read.</para>
/// </summary>
public sealed record DecodeBesideReads(int Steps, long BytesPerStep, double DecodeSeconds, double ReadSeconds)
{
    /// <summary>Bytes of weights per second while decoding (bytes per token x steps / their seconds).</summary>
    public double DecodeBytesPerSecond => BytesPerStep * (double)Steps / DecodeSeconds;

    /// <summary>Bytes per second of the read passes between the steps.</summary>
    public double ReadBytesPerSecond => BytesPerStep * (double)Steps / ReadSeconds;

    /// <summary>Decoding's rate over the reads' rate: 1 would be decoding as fast as its weights can be read.</summary>
    public double Fraction => DecodeBytesPerSecond / ReadBytesPerSecond;

    /// <summary>The largest number of steps one measurement takes.</summary>
    public const int MaximumSteps = 4096;

    /// <summary>
    /// Alternates <paramref name="steps"/> read passes of <paramref name="reads"/> with decode steps of a fresh
    /// sequence of <paramref name="model"/>, after one of each to warm up. <paramref name="reads"/> must cover the
    /// bytes a step reads (<paramref name="reads"/>.Bytes is taken as the bytes per step).
    /// </summary>
    internal static DecodeBesideReads Measure(IGenerationModel model, ReadBandwidthProbe.RangeReads reads, int steps,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(reads);
        if (steps < 1 || steps > MaximumSteps)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Steps must be 1 to {MaximumSteps}, not {steps}.", nameof(steps));
        }
        var tokens = BenchmarkRunner.RandomTokens(steps + 1, model.Config.VocabularySize);
        using var sequence = model.Open(contextSize: steps + 1, batchSize: 1);
        reads.TimePass();
        sequence.EvaluateGreedy(tokens.AsSpan(0, 1));
        double decodeSeconds = 0, readSeconds = 0;
        for (var step = 1; step <= steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            readSeconds += reads.TimePass();
            var clock = Stopwatch.StartNew();
            sequence.EvaluateGreedy(tokens.AsSpan(step, 1));
            decodeSeconds += clock.Elapsed.TotalSeconds;
        }
        return new DecodeBesideReads(steps, reads.Bytes, decodeSeconds, readSeconds);
    }
}
