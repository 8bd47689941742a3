using LlamaDist.Core.Chat;

namespace LlamaDist.Core.Tests.Chat;

/// <summary>Detection order, content ranges and errors of the template table (renderings are checked against llama.cpp in the engine tests).</summary>
public sealed class ChatTemplatesTests
{
    [Theory]
    [InlineData("{{ '<|im_start|>' + role + '<|im_sep|>' }}", "phi4")]          // phi4 before chatml
    [InlineData("{{ '<|im_start|>' }}<end_of_utterance>", "smolvlm")]          // <|im_start|> as SmolVLM's BOS
    [InlineData("{{ '<|im_start|>' + role }}", "chatml")]
    [InlineData("mistral", "llama2")]                                           // a template starting "mistral"
    [InlineData("{{ '[INST] ' + content.strip() + ' [/INST]' }}<<SYS>>", "llama2-sys-strip")]
    [InlineData("{{ bos_token + '[INST] ' }}<<SYS>>", "llama2-sys-bos")]
    [InlineData("[INST] <<SYS>>", "llama2-sys")]
    [InlineData("[SYSTEM_PROMPT] [INST]", "mistral-v7")]
    [InlineData("[AVAILABLE_TOOLS] [INST]", "mistral-v1")]
    [InlineData("[AVAILABLE_TOOLS]\"[INST]\"", "mistral-v3-tekken")]
    [InlineData("[AVAILABLE_TOOLS][INST]", "mistral-v3")]
    [InlineData("<|user|><|assistant|><|end|>", "phi3")]
    [InlineData("[gMASK]<sop><|user|><|assistant|>", "chatglm4")]              // chatglm4 before glmedge
    [InlineData("<|user|><|assistant|></s>", "falcon3")]
    [InlineData("<start_of_turn>", "gemma")]
    [InlineData("<|start_header_id|><|end_header_id|>", "llama3")]
    [InlineData("[|system|][|assistant|][|endofturn|][|tool|]", "exaone4")]
    [InlineData("gemma", "gemma")]                                              // a family name is taken as is
    public void TheFirstMatchingFamilyInLlamaCppsOrderWins(string template, string family) =>
        Assert.Equal(family, ChatTemplates.Detect(template).Name);

    [Fact]
    public void ContentRangesCoverExactlyTheMessageTexts()
    {
        ChatMessage[] chat = [new("system", "S!"), new("user", "U?")];
        var rendered = ChatTemplates.FindByName("chatml")!.Render(chat, addGenerationPrompt: true);
        Assert.Equal("<|im_start|>system\nS!<|im_end|>\n<|im_start|>user\nU?<|im_end|>\n<|im_start|>assistant\n", rendered.Text);
        // Roles are content too: they come from the caller, so they are never parsed as special tokens.
        Assert.Equal(["system", "S!", "user", "U?"], rendered.ContentRanges.Select(range => rendered.Text[range]));
    }

    [Fact]
    public void AnUnknownTemplateIsNamedBoundedInTheError()
    {
        var template = "{% for m in messages %}" + new string('x', 10_000) + "{% endfor %}";
        var error = Assert.Throws<UnsupportedChatTemplateException>(() => ChatTemplates.Detect(template));
        Assert.Contains("not recognised", error.Message);
        Assert.Contains($"{template.Length} characters", error.Message);
        Assert.True(error.Message.Length < 1000, error.Message);
    }

    [Fact]
    public void NamesAreSortedAndUnique()
    {
        Assert.Equal(ChatTemplates.Names.Order(StringComparer.Ordinal), ChatTemplates.Names);
        Assert.Equal(ChatTemplates.Names.Count, ChatTemplates.Names.Distinct().Count());
        Assert.Null(ChatTemplates.FindByName("Chatml"));   // names are exact, as in llama.cpp
    }
}
