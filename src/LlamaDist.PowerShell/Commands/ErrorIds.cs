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
        _ => "LlamaDistError",
    };

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
        _ => ErrorCategory.NotSpecified,
    };
}
