using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Tokenization;

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
        UnsupportedTokenizerException tokenizer => new LlamaDistException(LlamaErrorKind.UnsupportedTokenizer, tokenizer.Message, modelPath, tokenizer),
        UnsupportedModelException model => new LlamaDistException(
            model.TensorType is null ? LlamaErrorKind.UnsupportedModel : LlamaErrorKind.UnsupportedWeightType,
            model.Message, modelPath, model),
        FileNotFoundException notFound => new LlamaDistException(LlamaErrorKind.ModelNotFound, $"Model file not found: {notFound.FileName ?? modelPath}", notFound.FileName ?? modelPath, notFound),
        DirectoryNotFoundException notFound => new LlamaDistException(LlamaErrorKind.ModelNotFound, $"Model file not found: {modelPath}", modelPath, notFound),
        _ => null,
    };
}
