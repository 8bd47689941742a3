using LlamaDist.Core.Tokenization;
using LlamaDist.Engine.Generation;
using static LlamaDist.Engine.Tests.Generation.ScriptedGenerationModel;

namespace LlamaDist.Engine.Tests.Generation;

/// <summary>Generation ends at stop strings (also split across tokens) and at each model's end-of-generation tokens.</summary>
public sealed class StopAndEndOfGenerationTests
{
    // Pieces " He", "llo", " St", "OP", " world": the text " Hello StOP world".
    private static readonly int[] Sentence = [He, Llo, St, Op, World];

    [Fact]
    public void AStopStringSplitAcrossTokensEndsTheTextBeforeIt()
    {
        var streamed = new List<string>();
        var result = Run(Sentence, ["lo St"], streamed.Add);

        Assert.Equal(StopReason.StopString, result.StopReason);
        Assert.Equal("lo St", result.StopString);
        Assert.Equal(" Hel", result.Text);
        Assert.Equal(" Hel", string.Concat(streamed));      // the held-back "lo" never reached the stream
        Assert.Equal([He, Llo, St], result.TokenIds);        // generation ended at the token that completed it
    }

    [Fact]
    public void TheEarliestOfSeveralStopStringsWins()
    {
        var result = Run(Sentence, ["world", "StO", "llo"], null);
        Assert.Equal(" He", result.Text);
        Assert.Equal("llo", result.StopString);
    }

    [Fact]
    public void APartialStopStringAtTheEndIsReleased()
    {
        var streamed = new List<string>();
        var result = Run(Sentence, ["world!"], streamed.Add);
        Assert.Equal(StopReason.MaxTokens, result.StopReason);
        Assert.Null(result.StopString);
        Assert.Equal(" Hello StOP world", result.Text);
        Assert.Equal(result.Text, string.Concat(streamed));
    }

    [Fact]
    public void AnEndOfTurnTokenRecognisedByItsTextEndsGeneration()
    {
        var result = Run([He, ImEnd, Llo], [], null);
        Assert.Equal(StopReason.EndOfSequence, result.StopReason);
        Assert.Equal([He], result.TokenIds);
        Assert.Equal(" He", result.Text);
    }

    [Fact]
    public void TheMetadataEndOfTurnIdEndsGeneration()
    {
        var options = new SentencePieceOptions { EndOfTurnId = World };
        var result = Run([He, Llo, World, St], [], null, options);
        Assert.Equal(StopReason.EndOfSequence, result.StopReason);
        Assert.Equal([He, Llo], result.TokenIds);
    }

    [Fact]
    public void EndOfSequenceAndEotIdEndGeneration()
    {
        Assert.Equal([He], Run([He, 2, Llo], [], null).TokenIds);
        Assert.Equal([He, Llo], Run([He, Llo, EotId, St], [], null).TokenIds);
    }

    [Fact]
    public void TooManyOrTooLongStopStringsAreRefused()
    {
        Assert.Throws<LlamaDist.Engine.Errors.LlamaDistException>(() => Run(Sentence, Enumerable.Repeat("x", GenerationRequest.MaxStopStrings + 1).ToArray(), null));
        Assert.Throws<LlamaDist.Engine.Errors.LlamaDistException>(() => Run(Sentence, [new string('x', GenerationRequest.MaxStopStringLength + 1)], null));
    }

    [Theory]
    [InlineData(new[] { "ab", "c" }, new[] { "xa", "bc" }, "x", "ab")]          // split over two pushes
    [InlineData(new[] { "a" }, new[] { "xy", "z" }, "xyz", null)]                // no match: everything released
    [InlineData(new[] { "yz!" }, new[] { "xy", "z" }, "x", null)]               // "yz" still held: might become "yz!"
    public void TheMatcherHoldsBackOnlyWhatCouldStartAStopString(string[] stops, string[] pushes, string shownBeforeFlush, string? matched)
    {
        var matcher = new StopStringMatcher(stops);
        string shown = string.Concat(pushes.Select(matcher.Push));
        Assert.Equal(shownBeforeFlush, shown);
        Assert.Equal(matched, matcher.Matched);
    }

    private static GenerationResult Run(int[] script, string[] stop, Action<string>? onText, SentencePieceOptions? options = null) =>
        new GenerationLoop(new ScriptedGenerationModel(script, options)).Run(
            new GenerationRequest { Prompt = "Hi", MaxTokens = script.Length, Temperature = 0, Stop = stop }, onText, CancellationToken.None);
}
