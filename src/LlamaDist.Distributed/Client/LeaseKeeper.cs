namespace LlamaDist.Distributed.Client;

/// <summary>
/// Renews a coordinator's leases on its workers in the background while its cluster lives: RenewLease on every
/// client at once, then again after a third of the shortest lease a worker reported (so two renewals may be
/// lost before anything expires). A failed renewal is not an error here — the worker is down or unreachable, and
/// the ring reports that when it is used. Disposing stops renewing; the coordinator releases what it holds
/// itself, and if it dies instead, the workers free it when the lease runs out.
/// </summary>
public sealed class LeaseKeeper : IDisposable
{
    /// <summary>Shortest and longest wait between renewals, whatever the workers' leases.</summary>
    public static readonly TimeSpan MinimumPeriod = TimeSpan.FromMilliseconds(100);

    public static readonly TimeSpan MaximumPeriod = TimeSpan.FromSeconds(30);

    private readonly IReadOnlyList<WorkerClient> clients;
    private readonly CancellationTokenSource stop = new();
    private readonly Task loop;
    private long renewals;

    public LeaseKeeper(IReadOnlyList<WorkerClient> clients)
    {
        ArgumentNullException.ThrowIfNull(clients);
        this.clients = clients.ToArray();
        loop = Task.Run(RunAsync);
    }

    /// <summary>Rounds of renewal done so far (each renews every client once).</summary>
    public long Renewals => Interlocked.Read(ref renewals);

    private async Task RunAsync()
    {
        var period = MaximumPeriod;
        while (!stop.IsCancellationRequested)
        {
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop.Token))
            {
                timeout.CancelAfter(period);
                var replies = await Task.WhenAll(clients.Select(client => RenewAsync(client, timeout.Token))).ConfigureAwait(false);
                var leases = replies.Where(lease => lease > TimeSpan.Zero).ToList();
                if (leases.Count > 0)
                {
                    var third = leases.Min() / 3;
                    period = third < MinimumPeriod ? MinimumPeriod : third > MaximumPeriod ? MaximumPeriod : third;
                }
            }
            Interlocked.Increment(ref renewals);
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

    private static async Task<TimeSpan> RenewAsync(WorkerClient client, CancellationToken cancellationToken)
    {
        try
        {
            var reply = await client.RenewLeaseAsync(cancellationToken).ConfigureAwait(false);
            return TimeSpan.FromMilliseconds(reply.LeaseMilliseconds);
        }
        catch (Exception exception) when (exception is WorkerCallException or OperationCanceledException or ObjectDisposedException)
        {
            return TimeSpan.Zero;
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
            loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loop only ends by cancellation; nothing else to report.
        }
        if (loop.IsCompleted)
        {
            stop.Dispose();
        }
    }
}
