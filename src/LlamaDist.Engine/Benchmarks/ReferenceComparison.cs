using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Benchmarks;

/// <summary>
/// Measures LlamaDist and a reference engine in alternating rounds: each round runs every test once with ours, then
/// once with the reference, so drift on a shared machine (other load, clock changes, thermal limits) falls on both
/// alike. Ours warms up in the first round only (the model stays loaded); llama-bench warms up in every run of its
/// own, as it always does. Rows combine the rounds' samples; ratios compare the means.
/// </summary>
internal static class ReferenceComparison
{
    public static BenchmarkComparison Run(
        Func<BenchmarkRequest, CancellationToken, IReadOnlyList<BenchmarkRow>> ours,
        Func<BenchmarkRequest, CancellationToken, IReadOnlyList<LlamaBenchRecord>> reference,
        BenchmarkRequest request, IProgress<double>? progress, CancellationToken cancellationToken, string referenceProgram = "llama-bench")
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Repetitions < 1)
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Repetitions must be at least 1, not {request.Repetitions}.", nameof(request.Repetitions));

        var ourRounds = new List<BenchmarkRow>();
        var referenceRounds = new List<LlamaBenchRecord>();
        for (var round = 0; round < request.Repetitions; round++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var oneRun = new BenchmarkRequest
            {
                PromptTokens = request.PromptTokens,
                GenerationTokens = request.GenerationTokens,
                BatchSize = request.BatchSize,
                Repetitions = 1,
                WarmUp = round == 0 && request.WarmUp,
            };
            ourRounds.AddRange(ours(oneRun, cancellationToken));
            progress?.Report((2.0 * round + 1) / (2.0 * request.Repetitions));
            referenceRounds.AddRange(reference(oneRun, cancellationToken));
            progress?.Report((2.0 * round + 2) / (2.0 * request.Repetitions));
        }

        var ourRows = CombineByTest(ourRounds);
        var referenceRows = CombineByTest(referenceRounds.Select(ToRow).ToList());
        foreach (var row in ourRows.Where(row => referenceRows.All(other => other.Test != row.Test)))
        {
            throw new LlamaDistException(LlamaErrorKind.ReferenceFailed,
                $"llama-bench reported no {row.Test} result (it reported {string.Join(", ", referenceRows.Select(other => other.Test))}).", referenceProgram);
        }
        return new BenchmarkComparison
        {
            Ours = ourRows,
            Reference = referenceRows,
            Ratios = BenchmarkRatio.Between(ourRows, referenceRows),
            ReferenceDescription = referenceRounds[0],
            ReferenceProgram = referenceProgram,
        };
    }

    internal static BenchmarkRow ToRow(LlamaBenchRecord record) => new()
    {
        Test = record.Test,
        PromptTokens = record.PromptTokens,
        GenerationTokens = record.GenerationTokens,
        Threads = record.Threads,
        AverageTokensPerSecond = record.AverageTokensPerSecond,
        StandardDeviationTokensPerSecond = record.StandardDeviationTokensPerSecond,
        AverageMs = record.AverageMs,
        Samples = record.Samples,
    };

    /// <summary>One row per test, in the order the tests first appear.</summary>
    private static List<BenchmarkRow> CombineByTest(List<BenchmarkRow> rows) =>
        rows.GroupBy(row => row.Test).Select(group => BenchmarkRow.Combine(group.ToList())).ToList();
}
