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
}
