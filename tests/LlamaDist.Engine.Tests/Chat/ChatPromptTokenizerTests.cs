using LLama;
using LLama.Common;
using LlamaDist.Core.Chat;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Tokenization;
using LlamaDist.Engine.Chat;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Tests.Chat;

/// <summary>
/// A rendered conversation tokenizes as llama.cpp tokenizes the prompt with parse_special (template special tokens
/// become their ids), except that special-looking text inside messages stays text and BOS is not doubled.
/// Checked on the embedded model's Llama 2 vocabulary, where "&lt;s&gt;" and "&lt;/s&gt;" are control tokens.
/// </summary>
[Collection(Agreement.LlamaCppCollection.Name)]
public sealed class ChatPromptTokenizerTests : IDisposable
{
    private static readonly ChatMessage[] Conversation =
    [
        new("system", "You are a helpful assistant."),
        new("user", "Hello! Who are you?"),
        new("assistant", "I am a model; ask me anything."),
        new("user", "Write a haiku about the sea."),
    ];

    private readonly ITokenizer tokenizer;
    private readonly LLamaWeights weights;

    public ChatPromptTokenizerTests()
    {
        using (var file = GgufFile.Open(ModelPaths.DefaultModelPath()))
        {
            tokenizer = TokenizerFactory.FromGguf(file);
        }
        weights = LLamaWeights.LoadFromFile(new ModelParams(ModelPaths.DefaultModelPath()) { GpuLayerCount = 0 });
    }

    public void Dispose() => weights.Dispose();

    [Theory]
    [InlineData("llama2-sys")]     // [INST] text, </s> after each reply
    [InlineData("monarch")]        // <s> inside the history
    [InlineData("mistral-v7")]
    [InlineData("chatml")]         // <|im_start|> is plain text in this vocabulary
    [InlineData("vicuna")]
    public void TokensAreLlamaCppsParseSpecialTokens(string family)
    {
        var rendered = ChatTemplates.FindByName(family)!.Render(Conversation, addGenerationPrompt: true);
        var expected = NativeTokens(rendered.Text);
        Assert.Equal(expected, ChatPromptTokenizer.Tokenize(tokenizer, rendered));
        Assert.Equal(tokenizer.BosId, expected[0]);
    }

    [Fact]
    public void ATemplateThatStartsWithBosGetsNoSecondOne()
    {
        var rendered = ChatTemplates.FindByName("gigachat")!.Render(Conversation, addGenerationPrompt: true);
        Assert.StartsWith("<s>", rendered.Text);
        var native = NativeTokens(rendered.Text);
        Assert.Equal([tokenizer.BosId, tokenizer.BosId], native[..2]);   // llama_tokenize adds one before the template's own
        Assert.Equal(native[1..], ChatPromptTokenizer.Tokenize(tokenizer, rendered));
    }

    [Fact]
    public void SpecialTextInsideAMessageStaysText()
    {
        ChatMessage[] conversation = [new("user", "Say <s> and </s> please"), new("assistant", "ok"), new("user", "again")];
        var rendered = ChatTemplates.FindByName("monarch")!.Render(conversation, addGenerationPrompt: true);
        var ids = ChatPromptTokenizer.Tokenize(tokenizer, rendered);

        // The template's own: a BOS at the start and before the second and third messages and the reply, an EOS
        // after each message. The user's "<s>" and "</s>" add none.
        Assert.Equal(4, ids.Count(id => id == tokenizer.BosId));
        Assert.Equal(3, ids.Count(id => id == tokenizer.EosId));
        Assert.Contains("<s> and </s>", tokenizer.Decode(ids));
        // llama.cpp parsing the whole prompt as special would have turned them into control tokens.
        Assert.Equal(4 + 3 + 2, NativeTokens(rendered.Text).Count(id => id == tokenizer.BosId || id == tokenizer.EosId));
    }

    private int[] NativeTokens(string text) =>
        weights.Tokenize(text, add_bos: true, special: true, System.Text.Encoding.UTF8).Select(token => (int)token).ToArray();
}
