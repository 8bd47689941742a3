using LlamaDist.Tests.Shared;
using System.Diagnostics;
using Grpc.Core;
using LlamaDist.Worker.Hosting;
using LlamaDist.Worker.State;
using Xunit.Abstractions;

namespace LlamaDist.Distributed.Tests.Worker.Fuzz;

/// <summary>
/// Thousands of malformed or out-of-order messages (fixed seed) against a live in-process worker, every RPC
/// covered (<see cref="ProtocolFuzzCases"/>). Every answer must be success or a documented status — never
/// Unknown or Internal (an exception the worker did not expect), never a hang (each call has a deadline; running
/// into it fails the case) — no message longer than the worker's bound, and afterwards the worker must still
/// serve a prompt with the local run's greedy token. Next stages route to a second in-process worker, so no
/// case reaches the network. <see cref="FuzzSettings.IterationsVariable"/> sets the count (build.ps1 -Task Fuzz).
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class ProtocolFuzzTests(WorkerModels models, ITestOutputHelper output)
{
    private const int QuickCaseCount = 3000;
    private const ulong Seed = 0x11A3_AD15_7F22;
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(15);

    /// <summary>The statuses a worker documents for bad input (and OK: some hostile-looking requests are fine).</summary>
    private static readonly HashSet<StatusCode> Documented =
    [
        StatusCode.OK, StatusCode.InvalidArgument, StatusCode.NotFound, StatusCode.FailedPrecondition, StatusCode.ResourceExhausted,
        StatusCode.Unauthenticated, StatusCode.PermissionDenied, StatusCode.OutOfRange, StatusCode.AlreadyExists, StatusCode.DataLoss,
        StatusCode.Cancelled,
    ];

    [Fact]
    [Trait("Category", FuzzSettings.Category)]
    public async Task Hostile_messages_get_documented_statuses_and_the_worker_keeps_serving()
    {
        int caseCount = FuzzSettings.Iterations(QuickCaseCount);
        // A memory limit as a deployment would set one: sessions of a million tokens are refused, not allocated.
        var options = new WorkerOptions { MaxMemoryBytes = 256L << 20 };
        await using var worker = await InProcessWorker.StartAsync("worker-a", options);
        await using var next = await InProcessWorker.StartAsync("worker-b", options);
        worker.Runtime.OpenPeerChannel = (_, _) => next.OpenChannel();
        ulong seed = FuzzSettings.Seed(Seed);
        var cases = new ProtocolFuzzCases(worker, models, seed, CallDeadline);
        await cases.LoadRangesAsync();

        var byStatus = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var failures = new List<FuzzOutcome>();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < caseCount; i++)
        {
            var outcome = await cases.RunAsync(i);
            string key = $"{outcome.Status}";
            byStatus[key] = byStatus.GetValueOrDefault(key) + 1;
            bool undocumented = !Documented.Contains(outcome.Status);  // DeadlineExceeded here is a hang
            if (undocumented || outcome.Detail.Length > WorkerErrors.MaxMessageCharacters)
            {
                failures.Add(outcome);
            }
        }
        clock.Stop();
        output.WriteLine($"Protocol fuzz: {caseCount} cases, seed 0x{seed:X}, {clock.Elapsed.TotalSeconds:F1} s: " +
            string.Join(", ", byStatus.Select(pair => $"{pair.Key} {pair.Value}")) + $"; sessions left open: {worker.Runtime.SessionCount}");

        Assert.True(failures.Count == 0, $"{failures.Count} of {caseCount} cases got an undocumented status, a hang or an overlong message; " +
            $"the first: {string.Join(" | ", failures.Take(5).Select(f => $"case {f.Case} {f.Kind}: {f.Status} '{Shorten(f.Detail)}' ({f.Detail.Length} chars)"))}");
        // The hostile values must really be refused, and some requests must really succeed, or the cases test nothing.
        Assert.InRange(byStatus.GetValueOrDefault(nameof(StatusCode.InvalidArgument)), caseCount / 5, caseCount);
        Assert.InRange(byStatus.GetValueOrDefault(nameof(StatusCode.OK)), caseCount / 20, caseCount);

        await WorkerCalls.AssertServesAsync(worker, models);
    }

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
