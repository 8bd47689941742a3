using LlamaDist.Core.Gguf;
using LlamaDist.Core.Tokenization;
using LlamaDist.Engine.Errors;

namespace LlamaDist.Engine.Tests.Errors;

/// <summary>A broken model file is InvalidModelFile (ErrorId InvalidGguf) whichever core check found the problem.</summary>
public sealed class ExceptionTranslationTests
{
    [Fact]
    public void An_invalid_vocabulary_is_an_invalid_model_file()
    {
        var error = Assert.Throws<LlamaDistException>(() =>
            ExceptionTranslation.Run<int>("model.gguf", () => throw new InvalidVocabularyException("AddBos is set but the vocabulary has no BOS token.")));
        Assert.Equal(LlamaErrorKind.InvalidModelFile, error.Kind);
        Assert.Contains("no BOS token", error.Message);
        Assert.IsType<InvalidVocabularyException>(error.InnerException);
    }

    [Fact]
    public void A_format_error_naming_a_key_is_an_invalid_model_file_that_names_it()
    {
        var error = Assert.Throws<LlamaDistException>(() => ExceptionTranslation.Run<int>("model.gguf", () =>
            throw new GgufFormatException("model.gguf", -1, "metadata key 'tokenizer.ggml.scores' has 3 entries but 'tokenizer.ggml.tokens' has 4.")));
        Assert.Equal(LlamaErrorKind.InvalidModelFile, error.Kind);
        Assert.Contains("'tokenizer.ggml.scores'", error.Message);
    }
}
