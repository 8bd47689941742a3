using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Formatting;

namespace LlamaDist.Engine.Workers;

/// <summary>Asks a worker, local or remote, who it is and what it holds (handshake + status).</summary>
public static class WorkerInspector
{
    public static WorkerStatusInfo Query(string endpoint, CancellationToken cancellationToken = default) =>
        Query(endpoint, WorkerAccess.None, cancellationToken);

    /// <summary>Queries with the token, certificate pins and client certificate <paramref name="access"/> gives.</summary>
    public static WorkerStatusInfo Query(string endpoint, WorkerAccess access, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(access);
        if (!WorkerEndpoint.TryParse(endpoint, out var parsed, out var problem))
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, problem, endpoint);
        }
        var credentials = access.ToCredentials();
        return ExceptionTranslation.Run(endpoint, () =>
        {
            using var client = WorkerClient.ConnectAsync(parsed, credentials, $"status@{Environment.MachineName}", cancellationToken).GetAwaiter().GetResult();
            var status = client.GetStatusAsync(cancellationToken).GetAwaiter().GetResult();
            var handshake = client.Handshake;
            var capabilities = handshake.Capabilities;
            return new WorkerStatusInfo
            {
                Endpoint = parsed.ToString(),
                WorkerId = handshake.Worker.WorkerId,
                Name = handshake.Worker.HostName,
                SoftwareVersion = handshake.Worker.SoftwareVersion,
                ProtocolVersion = $"{handshake.Protocol.Major}.{handshake.Protocol.Minor}",
                Backend = capabilities.Backend.ToString().ToUpperInvariant(),
                DeviceName = capabilities.DeviceName,
                Threads = (int)capabilities.Threads,
                TotalMemoryBytes = (long)capabilities.TotalMemoryBytes,
                FreeMemoryBytes = (long)status.FreeMemoryBytes,
                BytesPerSecond = capabilities.BytesPerSecond,
                GigaFlops = capabilities.MatvecGflops,
                Ranges = status.Ranges.Select(range =>
                    $"{range.Model.FileName} [{range.Layers.Start}, {range.Layers.EndExclusive}) {HumanReadable.Bytes((long)range.WeightBytes)} {RangeState(range)}").ToList(),
                OpenSessions = (int)status.OpenSessions,
                ForwardMessagesReceived = (long)status.ForwardMessagesReceived,
                ForwardBytesReceived = (long)status.ForwardBytesReceived,
                ForwardMessagesSent = (long)status.ForwardMessagesSent,
                ForwardBytesSent = (long)status.ForwardBytesSent,
            };
        });
    }

    /// <summary>"loaded, resident" / "loaded, mapped" / "waiting for weights".</summary>
    private static string RangeState(LoadedRange range) =>
        range.State != RangeLoadState.Loaded ? "waiting for weights"
        : range.Resident ? "loaded, resident" : "loaded, mapped";
}
