using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace LlamaDist.Worker.Service;

/// <summary>
/// What the grpc.health.v1 service reports for this worker: SERVING while it runs (a long evaluation step does
/// not change that: the check runs on the request threads, not the compute threads), NOT_SERVING once it is
/// shutting down, so a coordinator moves its layers elsewhere instead of waiting for the port to close.
/// </summary>
internal sealed class WorkerHealthCheck(IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(lifetime.ApplicationStopping.IsCancellationRequested
            ? HealthCheckResult.Unhealthy("The worker is shutting down.")
            : HealthCheckResult.Healthy());
}
