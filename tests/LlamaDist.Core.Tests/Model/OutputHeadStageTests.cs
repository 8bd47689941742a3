using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;

namespace LlamaDist.Core.Tests.Model;

/// <summary>The output head as a stage of its own: how a model with fewer blocks than nodes still splits.</summary>
public sealed class OutputHeadStageTests
{
    private static readonly int[] Prompt = [1, 7, 3, 22, 5];

    [Fact]
    public void The_head_only_range_owns_the_output_and_nothing_else()
    {
        var head = LayerRange.OutputHead(3);
        Assert.Equal((3, 3, 0), (head.Start, head.EndExclusive, head.Count));
        Assert.True(head.IsOutputHeadOnly);
        Assert.True(head.IncludesOutput(3));
        Assert.False(head.IncludesEmbedding);
        head.EnsureWithin(3, "range");
        Assert.Throws<ArgumentOutOfRangeException>(() => head.EnsureWithin(4, "range"));
        Assert.Throws<ArgumentOutOfRangeException>(() => default(LayerRange).EnsureWithin(3, "range"));
        Assert.Equal("[output head]", head.ToString());
    }

    [Fact]
    public void A_range_with_its_output_elsewhere_ends_at_the_last_block_without_the_head()
    {
        var blocks = new LayerRange(0, 3).WithOutputElsewhere();
        Assert.False(blocks.IncludesOutput(3));
        Assert.False(blocks.IsWholeModel(3));
        Assert.True(blocks.IncludesEmbedding);
        Assert.NotEqual(new LayerRange(0, 3), blocks);
        Assert.Equal("[0, 3) without the head", blocks.ToString());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Blocks_then_the_head_alone_give_the_whole_models_logits(bool tiedOutput)
    {
        using var directory = new TemporaryDirectory();
        string path = new SyntheticLlama(64, 1, 96, 4, 4, 40, seed: 12, matrixType: GgmlType.F32, tiedOutput: tiedOutput)
            .Write(directory.File("m.gguf"));
        using var model = new LoadedModel(path);
        int vocabulary = model.Config.VocabularySize;
        float[] all = model.AllLogits(Prompt);

        var blocks = new LayerRange(0, 1).WithOutputElsewhere();
        var head = LayerRange.OutputHead(1);
        using LlamaSession blockSession = model.Session(blocks);
        using LlamaSession headSession = model.Session(head);
        Assert.Equal(0, headSession.KvCacheBytes);
        var hidden = new float[Prompt.Length * model.Config.EmbeddingLength];
        var logits = new float[vocabulary];
        model.Forward(blocks).EvaluateTokensToHidden(blockSession, Prompt, hidden);
        model.Forward(head).EvaluateHiddenToLogits(headSession, hidden, Prompt.Length, logits, logitsForAllTokens: false);

        Assert.Equal(all.AsSpan((Prompt.Length - 1) * vocabulary, vocabulary).ToArray(), logits);
        Assert.Throws<InvalidOperationException>(() =>
            model.Forward(blocks).EvaluateHiddenToLogits(model.Session(blocks), hidden, 1, logits, logitsForAllTokens: false));
    }
}
