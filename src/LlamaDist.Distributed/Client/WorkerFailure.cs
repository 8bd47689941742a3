namespace LlamaDist.Distributed.Client;

/// <summary>Why a call to a worker failed, in terms a caller can act on.</summary>
public enum WorkerFailure
{
    /// <summary>Nothing answered at the endpoint, or the connection broke.</summary>
    Unreachable,

    /// <summary>The worker speaks another protocol major.</summary>
    ProtocolMismatch,

    /// <summary>The worker's copy of the weights does not hash to the range the coordinator asked for.</summary>
    ModelMismatch,

    /// <summary>The worker has not enough memory for the range or the session.</summary>
    OutOfMemory,

    /// <summary>The worker refused the request as malformed or out of order.</summary>
    Rejected,

    /// <summary>The worker refused the cluster token (missing or wrong), or could not prove it holds it.</summary>
    AuthenticationFailed,

    /// <summary>The worker's TLS certificate matched no pinned thumbprint (or the system's CAs refused it).</summary>
    CertificateRejected,

    /// <summary>Anything else the worker reported.</summary>
    Failed,
}
