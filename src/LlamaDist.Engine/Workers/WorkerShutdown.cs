using LlamaDist.Distributed.Client;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Workers;

/// <summary>How <see cref="WorkerShutdown.Request"/> ended.</summary>
/// <param name="ProcessId">The worker's process id, as it reported it.</param>
/// <param name="OpenSessions">Sessions the worker was serving when it agreed to stop.</param>
/// <param name="Exited">True when the worker runs on this machine and its process was seen to exit; false when
/// it is elsewhere (its exit cannot be watched from here) or did not exit within the grace period.</param>
public sealed record WorkerShutdownResult(int ProcessId, int OpenSessions, bool Exited);

/// <summary>Asks a worker anywhere to shut down gracefully (the Shutdown call, authenticated like any other).</summary>
public static class WorkerShutdown
{
    public static WorkerShutdownResult Request(string endpoint, WorkerAccess access, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (!WorkerEndpoint.TryParse(endpoint, out var parsed, out var problem))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, problem, endpoint);
        }
        var credentials = access.ToCredentials();
        var reply = ExceptionTranslation.Run(endpoint, () =>
        {
            using var client = WorkerClient.ConnectAsync(parsed, credentials, $"stop@{Environment.MachineName}", cancellationToken).GetAwaiter().GetResult();
            return client.ShutdownAsync($"Stop-LlamaWorker from {Environment.UserName}@{Environment.MachineName}", cancellationToken).GetAwaiter().GetResult();
        });
        var processId = (int)reply.ProcessId;
        // A worker of this machine (its state entry has that process id and this endpoint) is watched until it exits.
        var local = LocalWorkers.List().FirstOrDefault(worker => worker.ProcessId == processId
            && (SameEndpoint(worker.Endpoint, parsed) || SameEndpoint(worker.LocalEndpoint, parsed)));
        var exited = local is not null && DetachedWorkerStopper.WaitForExit(local.ProcessId, local.ProcessStartTime, DetachedWorkerStopper.GracePeriod);
        return new WorkerShutdownResult(processId, (int)reply.OpenSessions, exited);
    }

    private static bool SameEndpoint(string text, WorkerEndpoint endpoint) =>
        WorkerEndpoint.TryParse(text, out var other, out _) && other.Port == endpoint.Port
        && (other.Host.Equals(endpoint.Host, StringComparison.OrdinalIgnoreCase) || (other.IsLoopback && endpoint.IsLoopback));
}
