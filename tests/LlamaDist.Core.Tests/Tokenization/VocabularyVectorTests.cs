using LlamaDist.Core.Tokenization;
using Xunit;

namespace LlamaDist.Core.Tests.Tokenization;

/// <summary>
/// Every llama.cpp tokenizer test vector for the byte-level BPE vocabularies (gpt-2, deepseek-llm, falcon, starcoder,
/// each with its own pre-tokenizer) and phi-3's SentencePiece vocabulary must come out id for id.
/// </summary>
public sealed class VocabularyVectorTests
{
    private static readonly string[] Names = ["gpt-2", "deepseek-llm", "falcon", "starcoder", "phi-3"];

    public static TheoryData<string, int> Cases() => CasesOf(Names);

    public static TheoryData<string, int> BytePairCases() => CasesOf(Names.Where(name => name != "phi-3"));

    private static TheoryData<string, int> CasesOf(IEnumerable<string> names)
    {
        var data = new TheoryData<string, int>();
        foreach (string name in names)
        {
            for (int index = 0; index < VocabularyTestVectors.Cases(name).Length; index++)
            {
                data.Add(name, index);
            }
        }

        return data;
    }

    [Theory]
    [InlineData("gpt-2", typeof(BytePairTokenizer), "gpt-2")]
    [InlineData("deepseek-llm", typeof(BytePairTokenizer), "deepseek-llm")]
    [InlineData("falcon", typeof(BytePairTokenizer), "falcon")]
    [InlineData("starcoder", typeof(BytePairTokenizer), "starcoder")]
    [InlineData("phi-3", typeof(SentencePieceTokenizer), null)]
    public void EachVocabularyLoadsAsItsTokenizerWithAllFortySixCases(string name, Type kind, string? preTokenizer)
    {
        ITokenizer tokenizer = VocabularyTestVectors.Tokenizer(name);

        Assert.IsType(kind, tokenizer);
        Assert.Equal(46, VocabularyTestVectors.Cases(name).Length);
        if (tokenizer is BytePairTokenizer bytePair)
        {
            Assert.Equal(preTokenizer, bytePair.PreTokenizer.Name);
            Assert.True(bytePair.MergeCount > 10_000);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EncodesLikeLlamaCpp(string name, int index)
    {
        (string input, int[] expected) = VocabularyTestVectors.Cases(name)[index];

        int[] actual = VocabularyTestVectors.Tokenizer(name).Encode(input, addSpecial: false);

        Assert.Equal(expected, actual);
    }

    [Theory]
    [MemberData(nameof(BytePairCases))]
    public void BytePairDecodingGivesTheInputBack(string name, int index)
    {
        // Byte-level BPE spells every byte, so the ids decode to the exact input (clean_spaces aside: it removes the
        // space in " ," and " 's", which some vectors hold, so those compare against the cleaned input).
        var bytePair = Assert.IsType<BytePairTokenizer>(VocabularyTestVectors.Tokenizer(name));
        (string input, int[] expected) = VocabularyTestVectors.Cases(name)[index];
        string decoded = bytePair.Decode(expected);

        if (!bytePair.PreTokenizer.CleanSpaces)
        {
            Assert.Equal(input, decoded);
        }
        else
        {
            Assert.Equal(input.Replace(" ?", "?").Replace(" !", "!").Replace(" .", ".").Replace(" ,", ",")
                .Replace(" 's", "'s").Replace(" 'm", "'m").Replace(" 're", "'re").Replace(" 've", "'ve"), decoded);
        }
    }

    [Fact]
    public void PhiThreeSpecialTokensSwallowTheWhitespaceAfterThem()
    {
        // llama.cpp marks Phi-3's special tokens right-strip (by general.name): the newline after "<|user|>" goes.
        ITokenizer phi3 = VocabularyTestVectors.Tokenizer("phi-3");
        Assert.True(((SentencePieceTokenizer)phi3).Vocabulary.TryGetId("<|user|>", out int user));

        int[] ids = phi3.Encode("<|user|>\nHello", addSpecial: false, parseSpecial: true);

        Assert.Equal(user, ids[0]);
        Assert.Equal(phi3.Encode("Hello", addSpecial: false), ids[1..]);
    }
}
