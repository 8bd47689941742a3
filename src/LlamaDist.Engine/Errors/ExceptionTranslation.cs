using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Tokenization;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Cluster;
using LlamaDist.Distributed.Ring;
using LlamaDist.Worker.Hosting;

namespace LlamaDist.Engine.Errors;

/// <summary>Runs engine work and turns the core's typed exceptions into <see cref="LlamaDistException"/>.</summary>
internal static class ExceptionTranslation
{
    public static T Run<T>(string modelPath, Func<T> work)
    {
        try
        {
            return work();
        }
        catch (Exception exception) when (Translate(modelPath, exception) is { } translated)
        {
            throw translated;
        }
    }

    private static LlamaDistException? Translate(string modelPath, Exception exception) => exception switch
    {
        LlamaDistException => null,
        GgufFormatException gguf => new LlamaDistException(LlamaErrorKind.InvalidModelFile, gguf.Message, gguf.FilePath, gguf),
        // The vocabulary a file carries cannot work (say, no byte tokens and no unknown token): the file is at fault.
        InvalidVocabularyException vocabulary => new LlamaDistException(LlamaErrorKind.InvalidModelFile,
            $"The model's vocabulary is invalid: {vocabulary.Message}", modelPath, vocabulary),
        UnsupportedTokenizerException tokenizer => new LlamaDistException(LlamaErrorKind.UnsupportedTokenizer, tokenizer.Message, modelPath, tokenizer),
        UnsupportedModelException model => new LlamaDistException(
            model.TensorType is null ? LlamaErrorKind.UnsupportedModel : LlamaErrorKind.UnsupportedWeightType,
            model.Message, modelPath, model),
        FileNotFoundException notFound => new LlamaDistException(LlamaErrorKind.ModelNotFound, $"Model file not found: {notFound.FileName ?? modelPath}", notFound.FileName ?? modelPath, notFound),
        DirectoryNotFoundException notFound => new LlamaDistException(LlamaErrorKind.ModelNotFound, $"Model file not found: {modelPath}", modelPath, notFound),
        WorkerCallException worker => new LlamaDistException(worker.Failure switch
        {
            WorkerFailure.Unreachable => LlamaErrorKind.WorkerUnreachable,
            WorkerFailure.ProtocolMismatch => LlamaErrorKind.WorkerProtocolMismatch,
            WorkerFailure.ModelMismatch => LlamaErrorKind.ModelMismatch,
            WorkerFailure.OutOfMemory => LlamaErrorKind.WorkerOutOfMemory,
            WorkerFailure.AuthenticationFailed => LlamaErrorKind.WorkerAuthenticationFailed,
            WorkerFailure.CertificateRejected => LlamaErrorKind.WorkerCertificateRejected,
            _ => LlamaErrorKind.WorkerFailed,
        }, worker.Message, worker.Endpoint, worker),
        BackendUnavailableException backend => new LlamaDistException(LlamaErrorKind.BackendUnavailable, backend.Message, modelPath, backend),
        DeviceMemoryException memory => new LlamaDistException(LlamaErrorKind.DeviceOutOfMemory, memory.Message, modelPath, memory),
        Cluster.FailoverExhaustedException exhausted => new LlamaDistException(LlamaErrorKind.WorkerUnreachable, exhausted.Message, exhausted.Endpoint, exhausted),
        RingBrokenException ring => new LlamaDistException(LlamaErrorKind.WorkerFailed, ring.Message, modelPath, ring),
        PlanningException planning => new LlamaDistException(LlamaErrorKind.PlanningFailed, planning.Message, planning.Endpoint ?? modelPath, planning),
        WorkerStartException start => new LlamaDistException(start.Failure switch
        {
            WorkerStartFailure.PortInUse => LlamaErrorKind.PortInUse,
            WorkerStartFailure.RuntimeMissing => LlamaErrorKind.RuntimeMissing,
            WorkerStartFailure.InsecureBinding => LlamaErrorKind.InsecureBinding,
            WorkerStartFailure.InvalidCertificate => LlamaErrorKind.InvalidCertificate,
            _ => LlamaErrorKind.InvalidAddress,
        }, start.Message, modelPath, start),
        _ => null,
    };
}
