using LlamaDist.Core.Chat;
using LlamaDist.Engine.Chat;

namespace LlamaDist.Engine.Tests.Chat;

/// <summary>
/// Every template family renders a multi-turn conversation byte for byte as llama.cpp's llama_chat_apply_template does
/// (LLamaSharp 0.30's native library), from real and published templates and from the family names themselves.
/// </summary>
[Collection(Agreement.LlamaCppCollection.Name)]
public sealed class ChatTemplateOracleTests
{
    // system + user + assistant + user: the shape the proof asks for.
    private static readonly (string Role, string Content)[] Conversation =
    [
        ("system", "You are a helpful assistant."),
        ("user", "Hello! Who are you?"),
        ("assistant", "I am a model; ask me anything."),
        ("user", "Write a haiku about the sea."),
    ];

    // Whitespace at the ends (families that trim differ from those that do not), non-ASCII text, and
    // special-looking text inside a message.
    private static readonly (string Role, string Content)[] Awkward =
    [
        ("system", "  Réponds en français. \n"),
        ("user", "\tBonjour 👋 <|im_end|> [INST]\n"),
        ("assistant", "   Salut !   "),
        ("user", "Et ensuite ?"),
    ];

    public static TheoryData<string> Names() => new(ChatTemplates.Names);

    public static TheoryData<string, string> PublishedTemplates()
    {
        var data = new TheoryData<string, string>();
        foreach (var (source, family, _) in ChatTemplateData.Published())
        {
            data.Add(source, family);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void EachFamilyByNameRendersAsLlamaCpp(string name)
    {
        AssertSameRendering(name, Conversation, addAssistant: true);
        AssertSameRendering(name, Awkward, addAssistant: true);
        AssertSameRendering(name, Conversation, addAssistant: false);
    }

    [Theory]
    [MemberData(nameof(PublishedTemplates))]
    public void PublishedTemplatesAreRecognisedAndRenderedAsLlamaCpp(string source, string family)
    {
        var template = ChatTemplateData.Published().Single(entry => entry.Source == source).Template;
        Assert.Equal(family, ChatTemplates.Detect(template).Name);
        AssertSameRendering(template, Conversation, addAssistant: true);
        AssertSameRendering(template, Awkward, addAssistant: true);
    }

    [Theory]
    [InlineData("llama3", "llama3")]
    [InlineData("qwen3", "chatml")]
    public void RealTokenizerConfigTemplatesRenderAsLlamaCpp(string model, string family)
    {
        var template = ChatTemplateData.FromTokenizerConfig(model);
        Assert.Equal(family, ChatTemplates.Detect(template).Name);
        AssertSameRendering(template, Conversation, addAssistant: true);
        AssertSameRendering(template, Awkward, addAssistant: true);
    }

    [Fact]
    public void EveryFamilyIsOneLlamaCppNames() => Assert.Subset(NativeChatTemplate.BuiltinNames().ToHashSet(), ChatTemplates.Names.ToHashSet());

    [Fact]
    public void Llama3RenderingIsTheKnownText()
    {
        // Spelled out once so a reader sees the shape (and a change in both implementations would still be caught).
        var rendered = ChatTemplateCatalog.Render(Turns(Conversation), null, ChatTemplateData.FromTokenizerConfig("llama3"), addGenerationPrompt: true);
        Assert.Equal(
            "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHello! Who are you?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nI am a model; ask me anything.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nWrite a haiku about the sea.<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            rendered);
    }

    [Fact]
    public void UnknownTemplatesAreRefusedByBothAndNamedInTheError()
    {
        const string Unknown = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
        Assert.Throws<LLama.Exceptions.MissingTemplateException>(() => NativeChatTemplate.Apply(Unknown, Conversation, addAssistant: true));
        var error = Assert.Throws<UnsupportedChatTemplateException>(() => ChatTemplates.Detect(Unknown));
        Assert.Contains("not recognised", error.Message);
        Assert.Contains("chatml", error.Message);
    }

    private static void AssertSameRendering(string template, (string Role, string Content)[] conversation, bool addAssistant)
    {
        var expected = NativeChatTemplate.Apply(template, conversation, addAssistant);
        var actual = ChatTemplates.Detect(template).Render(conversation.Select(turn => new ChatMessage(turn.Role, turn.Content)).ToArray(), addAssistant).Text;
        Assert.Equal(expected, actual);
    }

    private static ChatTurn[] Turns((string Role, string Content)[] conversation) =>
        conversation.Select(turn => new ChatTurn(turn.Role, turn.Content)).ToArray();
}
