using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Tests.Generation;

/// <summary>The generation loop's counting and stopping rules, on the embedded model.</summary>
public sealed class GenerationLoopTests : IDisposable
{
    private const string Prompt = "Once upon a time";   // BOS + 4 tokens
    private readonly LocalModel model = LocalModel.Load(ModelPaths.DefaultModelPath(), threads: 1);

    public void Dispose() => model.Dispose();

    [Fact]
    public void CountsRunsLikeLlamaCpp()
    {
        var result = model.Generate(new GenerationRequest { Prompt = Prompt, MaxTokens = 6, Temperature = 0 });
        Assert.Equal(StopReason.MaxTokens, result.StopReason);
        Assert.Equal(6, result.TokenIds.Length);
        Assert.Equal(5, result.EvalRuns);           // the first token comes out of the prompt pass
        Assert.Equal([1, 9038, 2501, 263, 931], result.PromptTokenIds);
        Assert.True(result.PromptEvalMs > 0 && result.EvalMs > 0);
    }

    [Fact]
    public void GreedyTokensAreTheArgmaxOfAFreshEvaluation()
    {
        var result = model.Generate(new GenerationRequest { Prompt = Prompt, MaxTokens = 3, Temperature = 0 });
        var context = model.Tokenize(Prompt).ToList();
        foreach (var token in result.TokenIds)
        {
            var logits = model.EvaluateLastLogits([.. context]);
            Assert.Equal(Array.IndexOf(logits, logits.Max()), token);
            context.Add(token);
        }
    }

    [Fact]
    public void StopsWhenTheContextIsFull()
    {
        // Context 8: the prompt fills positions 0-4, three decodes fill 5-7, and the fourth token has no room.
        var result = model.Generate(new GenerationRequest { Prompt = Prompt, MaxTokens = 50, Temperature = 0, ContextSize = 8 });
        Assert.Equal(StopReason.ContextFull, result.StopReason);
        Assert.Equal(4, result.TokenIds.Length);
        Assert.Equal(3, result.EvalRuns);
    }

    [Fact]
    public void ZeroMaxTokensEvaluatesOnlyThePrompt()
    {
        var result = model.Generate(new GenerationRequest { Prompt = Prompt, MaxTokens = 0 });
        Assert.Empty(result.TokenIds);
        Assert.Equal(0, result.EvalRuns);
        Assert.Equal("", result.Text);
    }

    [Fact]
    public void SameSeedSameTokensAndTheSeedIsReported()
    {
        var request = new GenerationRequest { Prompt = Prompt, MaxTokens = 12, Temperature = 1.5f, TopK = 0, TopP = 1, MinP = 0, Seed = 77 };
        var first = model.Generate(request);
        var second = model.Generate(request);
        Assert.Equal(first.TokenIds, second.TokenIds);
        Assert.Equal(77, first.Seed);
        var unseeded = model.Generate(new GenerationRequest { Prompt = Prompt, MaxTokens = 1, Temperature = 1 });
        var replay = model.Generate(new GenerationRequest { Prompt = Prompt, MaxTokens = 1, Temperature = 1, Seed = unseeded.Seed });
        Assert.Equal(unseeded.TokenIds, replay.TokenIds);
    }

    [Fact]
    public void StreamedPiecesMakeTheText()
    {
        var pieces = new List<string>();
        var result = model.Generate(new GenerationRequest { Prompt = Prompt, MaxTokens = 10, Temperature = 0 }, pieces.Add);
        Assert.Equal(result.Text, string.Concat(pieces));
        Assert.Equal(model.Detokenize(result.TokenIds).TrimStart(), result.Text.TrimStart());
    }

    [Fact]
    public void PromptLongerThanTheContextIsRefused()
    {
        var error = Assert.Throws<LlamaDistException>(() =>
            model.Generate(new GenerationRequest { Prompt = string.Join(' ', Enumerable.Repeat("word", 40)), ContextSize = 16 }));
        Assert.Equal(LlamaErrorKind.ContextOverflow, error.Kind);
    }

    [Fact]
    public void CancellationStopsGeneration()
    {
        using var cancellation = new CancellationTokenSource();
        var produced = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => model.Generate(
            new GenerationRequest { Prompt = Prompt, MaxTokens = 1000, Temperature = 0, ContextSize = 2048 },
            _ => { if (++produced == 5) cancellation.Cancel(); },
            cancellation.Token));
        Assert.InRange(produced, 5, 6);
    }
}
