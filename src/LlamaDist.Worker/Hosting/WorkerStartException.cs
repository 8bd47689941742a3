namespace LlamaDist.Worker.Hosting;

/// <summary>A worker could not start listening.</summary>
public sealed class WorkerStartException : Exception
{
    public WorkerStartException(WorkerStartFailure failure, string message, Exception? innerException = null)
        : base(message, innerException) => Failure = failure;

    public WorkerStartFailure Failure { get; }
}

/// <summary>Why a worker could not start.</summary>
public enum WorkerStartFailure
{
    /// <summary>Another process listens on the port.</summary>
    PortInUse,

    /// <summary>The address is not an IP address of this machine (or not an address at all).</summary>
    InvalidAddress,

    /// <summary>The ASP.NET Core runtime the worker host needs is not installed.</summary>
    RuntimeMissing,

    /// <summary>A non-loopback address without a cluster token (and without AllowInsecure).</summary>
    InsecureBinding,

    /// <summary>The TLS certificate cannot be read or has no private key.</summary>
    InvalidCertificate,
}
