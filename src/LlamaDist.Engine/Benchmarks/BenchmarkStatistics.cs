namespace LlamaDist.Engine.Benchmarks;

/// <summary>The statistics llama-bench reports over repetitions.</summary>
internal static class BenchmarkStatistics
{
    /// <summary>Sample standard deviation (n - 1), 0 for fewer than two samples, as llama-bench computes stddev_ts.</summary>
    public static double StandardDeviation(IReadOnlyList<double> samples)
    {
        if (samples.Count < 2) return 0;
        var mean = samples.Average();
        return Math.Sqrt(samples.Sum(sample => (sample - mean) * (sample - mean)) / (samples.Count - 1));
    }
}
