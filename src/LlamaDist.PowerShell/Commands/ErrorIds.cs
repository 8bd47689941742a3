using System.Management.Automation;
using LlamaDist.Engine.Errors;

namespace LlamaDist.PowerShell.Commands;

/// <summary>Stable ErrorIds (scripts match on them) and categories for each engine error kind.</summary>
internal static class ErrorIds
{
    public static string For(LlamaErrorKind kind) => kind switch
    {
        LlamaErrorKind.ModelNotFound => "ModelNotFound",
        LlamaErrorKind.InvalidModelFile => "InvalidGguf",
        LlamaErrorKind.UnsupportedModel => "UnsupportedModel",
        LlamaErrorKind.UnsupportedWeightType => "UnsupportedWeightType",
        LlamaErrorKind.UnsupportedTokenizer => "UnsupportedTokenizer",
        LlamaErrorKind.ContextOverflow => "ContextOverflow",
        LlamaErrorKind.InvalidArgument => "InvalidArgument",
        LlamaErrorKind.FileExists => "FileExists",
        LlamaErrorKind.WorkerUnreachable => "WorkerUnreachable",
        LlamaErrorKind.WorkerProtocolMismatch => "WorkerProtocolMismatch",
        LlamaErrorKind.ModelMismatch => "ModelMismatch",
        LlamaErrorKind.WorkerOutOfMemory => "WorkerOutOfMemory",
        LlamaErrorKind.WorkerFailed => "WorkerFailed",
        LlamaErrorKind.PlanningFailed => "PlanningFailed",
        LlamaErrorKind.PortInUse => "PortInUse",
        LlamaErrorKind.InvalidAddress => "InvalidAddress",
        LlamaErrorKind.RuntimeMissing => "RuntimeMissing",
        LlamaErrorKind.WorkerAuthenticationFailed => "WorkerAuthenticationFailed",
        LlamaErrorKind.WorkerCertificateRejected => "WorkerCertificateRejected",
        LlamaErrorKind.InsecureBinding => "InsecureBinding",
        LlamaErrorKind.InvalidCertificate => "InvalidCertificate",
        LlamaErrorKind.UnsupportedChatTemplate => "UnsupportedChatTemplate",
        LlamaErrorKind.BackendUnavailable => "BackendUnavailable",
        LlamaErrorKind.DeviceOutOfMemory => "DeviceOutOfMemory",
        LlamaErrorKind.ReferenceNotFound => "LlamaCppNotFound",
        LlamaErrorKind.ReferenceFailed => "LlamaCppFailed",
        LlamaErrorKind.ReferenceTimedOut => "LlamaCppTimedOut",
        _ => "LlamaDistError",
    };

    /// <summary>A worker or cluster name that matches nothing this session started.</summary>
    public const string WorkerNotFound = "WorkerNotFound";

    public const string ClusterNotFound = "ClusterNotFound";

    public static ErrorCategory CategoryFor(LlamaErrorKind kind) => kind switch
    {
        LlamaErrorKind.ModelNotFound => ErrorCategory.ObjectNotFound,
        LlamaErrorKind.InvalidModelFile => ErrorCategory.InvalidData,
        LlamaErrorKind.UnsupportedModel => ErrorCategory.NotImplemented,
        LlamaErrorKind.UnsupportedWeightType => ErrorCategory.NotImplemented,
        LlamaErrorKind.UnsupportedTokenizer => ErrorCategory.NotImplemented,
        LlamaErrorKind.ContextOverflow => ErrorCategory.LimitsExceeded,
        LlamaErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        LlamaErrorKind.FileExists => ErrorCategory.ResourceExists,
        LlamaErrorKind.WorkerUnreachable => ErrorCategory.ConnectionError,
        LlamaErrorKind.WorkerProtocolMismatch => ErrorCategory.ProtocolError,
        LlamaErrorKind.ModelMismatch => ErrorCategory.InvalidData,
        LlamaErrorKind.WorkerOutOfMemory => ErrorCategory.LimitsExceeded,
        LlamaErrorKind.WorkerFailed => ErrorCategory.InvalidResult,
        LlamaErrorKind.PlanningFailed => ErrorCategory.InvalidArgument,
        LlamaErrorKind.PortInUse => ErrorCategory.ResourceUnavailable,
        LlamaErrorKind.InvalidAddress => ErrorCategory.InvalidArgument,
        LlamaErrorKind.RuntimeMissing => ErrorCategory.NotInstalled,
        LlamaErrorKind.BackendUnavailable => ErrorCategory.NotInstalled,
        LlamaErrorKind.DeviceOutOfMemory => ErrorCategory.LimitsExceeded,
        LlamaErrorKind.WorkerAuthenticationFailed => ErrorCategory.AuthenticationError,
        LlamaErrorKind.WorkerCertificateRejected => ErrorCategory.SecurityError,
        LlamaErrorKind.InsecureBinding => ErrorCategory.SecurityError,
        LlamaErrorKind.InvalidCertificate => ErrorCategory.InvalidData,
        LlamaErrorKind.UnsupportedChatTemplate => ErrorCategory.NotImplemented,
        LlamaErrorKind.ReferenceNotFound => ErrorCategory.ObjectNotFound,
        LlamaErrorKind.ReferenceFailed => ErrorCategory.InvalidResult,
        LlamaErrorKind.ReferenceTimedOut => ErrorCategory.OperationTimeout,
        _ => ErrorCategory.NotSpecified,
    };
}
