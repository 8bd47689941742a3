namespace LlamaDist.Distributed.Client;

/// <summary>
/// Renews a coordinator's leases on its workers in the background while its cluster lives: RenewLease on each
/// worker at once, then again after a third of the lease that worker reported (so two renewals may be lost
/// before anything expires). Each worker has its own loop, so one that hangs or is gone delays no other's
/// renewal. A failed renewal is not an error here — the worker is down or unreachable, and the ring reports
/// that when it is used. Disposing stops renewing; the coordinator releases what it holds itself, and if it
/// dies instead, the workers free it when the lease runs out.
/// </summary>
public sealed class LeaseKeeper : IDisposable
{
    /// <summary>Shortest and longest wait between renewals, whatever the workers' leases.</summary>
    public static readonly TimeSpan MinimumPeriod = TimeSpan.FromMilliseconds(100);

    public static readonly TimeSpan MaximumPeriod = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource stop = new();
    private readonly Task[] loops;
    private long renewals;

    public LeaseKeeper(IReadOnlyList<WorkerClient> clients)
    {
        ArgumentNullException.ThrowIfNull(clients);
        loops = clients.Select(client => Task.Run(() => RenewAsync(client))).ToArray();
    }

    /// <summary>Renewals the workers confirmed so far, all workers together.</summary>
    public long Renewals => Interlocked.Read(ref renewals);

    private async Task RenewAsync(WorkerClient client)
    {
        var period = MaximumPeriod;
        while (!stop.IsCancellationRequested)
        {
            // A renewal may take up to the last lease the worker reported (30 s before the first answer).
            var lease = period * 3;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop.Token))
            {
                timeout.CancelAfter(lease > MaximumPeriod ? MaximumPeriod : lease);
                try
                {
                    var reply = await client.RenewLeaseAsync(timeout.Token).ConfigureAwait(false);
                    var third = TimeSpan.FromMilliseconds(reply.LeaseMilliseconds) / 3;
                    period = third < MinimumPeriod ? MinimumPeriod : third > MaximumPeriod ? MaximumPeriod : third;
                    Interlocked.Increment(ref renewals);
                }
                catch (Exception exception) when (exception is WorkerCallException or OperationCanceledException or ObjectDisposedException)
                {
                    // Unreachable or gone for now: try again after the period.
                }
            }
            try
            {
                await Task.Delay(period, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public void Dispose()
    {
        if (stop.IsCancellationRequested)
        {
            return;
        }
        stop.Cancel();
        try
        {
            Task.WaitAll(loops, TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loops only end by cancellation; nothing else to report.
        }
        if (loops.All(loop => loop.IsCompleted))
        {
            stop.Dispose();
        }
    }
}
