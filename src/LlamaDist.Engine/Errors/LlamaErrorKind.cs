namespace LlamaDist.Engine.Errors;

/// <summary>What went wrong, in terms a caller can act on. The cmdlets map each kind to a stable ErrorId.</summary>
public enum LlamaErrorKind
{
    Unspecified = 0,
    ModelNotFound,
    InvalidModelFile,
    UnsupportedModel,
    UnsupportedWeightType,
    UnsupportedTokenizer,
    ContextOverflow,
    InvalidArgument,
    FileExists,

    /// <summary>A worker did not answer, or its connection broke.</summary>
    WorkerUnreachable,

    /// <summary>A worker speaks another protocol major version.</summary>
    WorkerProtocolMismatch,

    /// <summary>A worker's copy of the model differs from the coordinator's (range hash mismatch).</summary>
    ModelMismatch,

    /// <summary>A worker has not enough memory for its layers or session.</summary>
    WorkerOutOfMemory,

    /// <summary>A worker refused or failed a request.</summary>
    WorkerFailed,

    /// <summary>The layers cannot be divided between the nodes as asked.</summary>
    PlanningFailed,

    /// <summary>A worker cannot listen: the port is taken.</summary>
    PortInUse,

    /// <summary>A worker cannot listen on the address given.</summary>
    InvalidAddress,

    /// <summary>The ASP.NET Core runtime the worker host needs is not installed.</summary>
    RuntimeMissing,

    /// <summary>A worker refused the cluster token, or could not prove it holds it.</summary>
    WorkerAuthenticationFailed,

    /// <summary>A worker's TLS certificate is not trusted (no pinned thumbprint matches).</summary>
    WorkerCertificateRejected,

    /// <summary>A worker would listen beyond loopback without a cluster token.</summary>
    InsecureBinding,

    /// <summary>A worker's TLS certificate cannot be used.</summary>
    InvalidCertificate,
    /// <summary>A chat template (the model's, or a name given) matches no known template family.</summary>
    UnsupportedChatTemplate,

    /// <summary>The backend asked for (-Backend Cuda / OpenCL / IlgpuCpu) cannot run here; the message names what is missing.</summary>
    BackendUnavailable,

    /// <summary>Weights or a session do not fit in the device's free memory (refused before allocating).</summary>
    DeviceOutOfMemory,

    /// <summary>The reference benchmark (llama.cpp's llama-bench) is not where it was said to be, or cannot be run.</summary>
    ReferenceNotFound,

    /// <summary>The reference benchmark exited with an error or wrote output that is not llama-bench's JSON.</summary>
    ReferenceFailed,

    /// <summary>The reference benchmark ran past its time limit and was stopped.</summary>
    ReferenceTimedOut,
}
