namespace LlamaDist.Core.Chat;

/// <summary>
/// The chat-template families llama.cpp renders without a Jinja engine (llama_chat_apply_template), as one table in
/// llama.cpp's detection order: a model's tokenizer.chat_template is either a family name or a Jinja source that the
/// first family whose marker test passes claims. Renderings match llama.cpp byte for byte, including its quirks
/// (which families trim contents, merge the system prompt into the first user turn or have no generation prompt).
/// </summary>
public static class ChatTemplates
{
    /// <summary>The GGUF key holding a model's template.</summary>
    public const string MetadataKey = "tokenizer.chat_template";

    /// <summary>Every family, in detection order (first match wins).</summary>
    public static IReadOnlyList<ChatTemplateFamily> Families { get; } = CreateFamilies();

    /// <summary>Every family name, sorted (llama_chat_builtin_templates).</summary>
    public static IReadOnlyList<string> Names { get; } = Families.Select(family => family.Name).Order(StringComparer.Ordinal).ToArray();

    /// <summary>The family named <paramref name="name"/> (exact, as llama.cpp spells it), or null.</summary>
    public static ChatTemplateFamily? FindByName(string name) =>
        Families.FirstOrDefault(family => string.Equals(family.Name, name, StringComparison.Ordinal));

    /// <summary>
    /// The family of <paramref name="template"/> as llama_chat_apply_template detects it: an exact family name first,
    /// then marker strings in the template source. Throws <see cref="UnsupportedChatTemplateException"/> when none match.
    /// </summary>
    public static ChatTemplateFamily Detect(string template)
    {
        ArgumentNullException.ThrowIfNull(template);
        return FindByName(template)
            ?? Families.FirstOrDefault(family => family.Recognises(template))
            ?? throw new UnsupportedChatTemplateException(
                $"The chat template was not recognised as any known family ({Describe(template)}); " +
                $"name one with -ChatTemplate: {string.Join(", ", Names)}.");
    }

    // The start of the template, on one line and bounded, so an error names what was seen without echoing kilobytes.
    private static string Describe(string template)
    {
        const int Shown = 60;
        string flat = template.ReplaceLineEndings(" ");
        return flat.Length <= Shown ? $"\"{flat}\"" : $"\"{flat[..Shown]}...\", {template.Length} characters";
    }

    private static bool Has(string template, string marker) => template.Contains(marker, StringComparison.Ordinal);

    // llama.cpp sends everything that names mistral or holds [INST] down the mistral / llama2 branch.
    private static bool MistralOrLlama2(string template) =>
        template.StartsWith("mistral", StringComparison.Ordinal) || Has(template, "[INST]");

    // Mistral's official v1 / v3 / v3-tekken templates (their system-message wording or tool section).
    private static bool OfficialMistral(string template) =>
        MistralOrLlama2(template) && (Has(template, "' [INST] ' + system_message") || Has(template, "[AVAILABLE_TOOLS]"));

    private static ChatTemplateFamily[] CreateFamilies() =>
    [
        new("phi4", t => Has(t, "<|im_start|>") && Has(t, "<|im_sep|>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
                b.Template("<|im_start|>").Content(m.Role).Template("<|im_sep|>").Content(m.Content).Template("<|im_end|>");
            if (addAssistant) b.Template("<|im_start|>assistant<|im_sep|>");
        }),
        new("smolvlm", t => Has(t, "<|im_start|>") && Has(t, "<end_of_utterance>"), (b, chat, addAssistant) =>
        {
            // <|im_start|> is SmolVLM's BOS here, not a chatml turn.
            b.Template("<|im_start|>");
            foreach (var m in chat)
            {
                if (m.Role == ChatMessage.SystemRole) b.Content(m.Content).Template("\n\n");
                else if (m.Role == ChatMessage.UserRole) b.Template("User: ").Content(m.Content).Template("<end_of_utterance>\n");
                else b.Template("Assistant: ").Content(m.Content).Template("<end_of_utterance>\n");
            }
            if (addAssistant) b.Template("Assistant:");
        }),
        new("chatml", t => Has(t, "<|im_start|>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
                b.Template("<|im_start|>").Content(m.Role).Template("\n").Content(m.Content).Template("<|im_end|>\n");
            if (addAssistant) b.Template("<|im_start|>assistant\n");
        }),
        new("mistral-v7", t => MistralOrLlama2(t) && Has(t, "[SYSTEM_PROMPT]"), (b, chat, _) => RenderMistralV7(b, chat, " ")),
        new("mistral-v7-tekken", _ => false, (b, chat, _) => RenderMistralV7(b, chat, "")),
        new("mistral-v1", t => OfficialMistral(t) && Has(t, " [INST]"), (b, chat, _) => RenderMistral(b, chat, " ", " ", trimAssistant: false)),
        new("mistral-v3-tekken", t => OfficialMistral(t) && Has(t, "\"[INST]\""), (b, chat, _) => RenderMistral(b, chat, "", "", trimAssistant: false)),
        new("mistral-v3", OfficialMistral, (b, chat, _) => RenderMistral(b, chat, "", " ", trimAssistant: true)),
        new("llama2-sys-strip", t => MistralOrLlama2(t) && Has(t, "content.strip()"),
            (b, chat, _) => RenderLlama2(b, chat, systemMessage: true, bosInsideHistory: false, strip: true)),
        new("llama2-sys-bos", t => MistralOrLlama2(t) && Has(t, "bos_token + '[INST]"),
            (b, chat, _) => RenderLlama2(b, chat, systemMessage: true, bosInsideHistory: true, strip: false)),
        new("llama2-sys", t => MistralOrLlama2(t) && Has(t, "<<SYS>>"),
            (b, chat, _) => RenderLlama2(b, chat, systemMessage: true, bosInsideHistory: false, strip: false)),
        new("llama2", MistralOrLlama2,
            (b, chat, _) => RenderLlama2(b, chat, systemMessage: false, bosInsideHistory: false, strip: false)),
        new("phi3", t => Has(t, "<|assistant|>") && Has(t, "<|end|>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
                b.Template("<|").Content(m.Role).Template("|>\n").Content(m.Content).Template("<|end|>\n");
            if (addAssistant) b.Template("<|assistant|>\n");
        }),
        new("chatglm4", t => Has(t, "[gMASK]<sop>"), (b, chat, addAssistant) =>
        {
            b.Template("[gMASK]<sop>");
            foreach (var m in chat)
                b.Template("<|").Content(m.Role).Template("|>\n").Content(m.Content);
            if (addAssistant) b.Template("<|assistant|>\n");
        }),
        new("falcon3", t => Has(t, "<|assistant|>") && Has(t, "<|user|>") && Has(t, "</s>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
                b.Template("<|").Content(m.Role).Template("|>\n").Content(m.Content).Template("\n");
            if (addAssistant) b.Template("<|assistant|>\n");
        }),
        new("glmedge", t => (Has(t, "<|assistant|>") && Has(t, "<|user|>")) || (Has(t, "<|{{ item['role'] }}|>") && Has(t, "<|begin_of_image|>")), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
                b.Template("<|").Content(m.Role).Template("|>\n").Content(m.Content);
            if (addAssistant) b.Template("<|assistant|>");
        }),
        new("zephyr", t => Has(t, "<|user|>") && Has(t, "<|endoftext|>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
                b.Template("<|").Content(m.Role).Template("|>\n").Content(m.Content).Template("<|endoftext|>\n");
            if (addAssistant) b.Template("<|assistant|>\n");
        }),
        new("monarch", t => Has(t, "bos_token + message['role']"), (b, chat, addAssistant) =>
        {
            // The first message goes without the <s> every later one is given (the prompt's own BOS stands for it).
            for (int i = 0; i < chat.Count; i++)
                b.Template(i == 0 ? "" : "<s>").Content(chat[i].Role).Template("\n").Content(chat[i].Content).Template("</s>\n");
            if (addAssistant) b.Template("<s>assistant\n");
        }),
        new("gemma", t => Has(t, "<start_of_turn>"), RenderGemma),
        new("orion", t => Has(t, "'\\n\\nAssistant: ' + eos_token"), (b, chat, _) =>
        {
            string system = "";
            foreach (var m in chat)
            {
                if (m.Role == ChatMessage.SystemRole)
                {
                    system += m.Content;
                    continue;
                }
                if (m.Role == ChatMessage.UserRole)
                {
                    b.Template("Human: ");
                    if (system.Length > 0)
                    {
                        b.Content(system).Template("\n\n");
                        system = "";
                    }
                    b.Content(m.Content).Template("\n\nAssistant: </s>");
                }
                else b.Content(m.Content).Template("</s>");
            }
        }),
        new("openchat", t => Has(t, "GPT4 Correct "), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
            {
                if (m.Role == ChatMessage.SystemRole) b.Content(m.Content).Template("<|end_of_turn|>");
                else b.Template("GPT4 Correct ").Content(CapitaliseFirstByte(m.Role)).Template(": ").Content(m.Content).Template("<|end_of_turn|>");
            }
            if (addAssistant) b.Template("GPT4 Correct Assistant:");
        }),
        new("vicuna-orca", t => Has(t, "USER: ") && Has(t, "ASSISTANT: ") && Has(t, "SYSTEM: "), (b, chat, addAssistant) => RenderVicuna(b, chat, addAssistant, orca: true)),
        new("vicuna", t => Has(t, "USER: ") && Has(t, "ASSISTANT: "), (b, chat, addAssistant) => RenderVicuna(b, chat, addAssistant, orca: false)),
        new("deepseek", t => Has(t, "### Instruction:") && Has(t, "<|EOT|>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
            {
                if (m.Role == ChatMessage.SystemRole) b.Content(m.Content);
                else if (m.Role == ChatMessage.UserRole) b.Template("### Instruction:\n").Content(m.Content).Template("\n");
                else if (m.Role == ChatMessage.AssistantRole) b.Template("### Response:\n").Content(m.Content).Template("\n<|EOT|>\n");
            }
            if (addAssistant) b.Template("### Response:\n");
        }),
        new("command-r", t => Has(t, "<|START_OF_TURN_TOKEN|>") && Has(t, "<|USER_TOKEN|>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
            {
                string? opening = m.Role switch
                {
                    ChatMessage.SystemRole => "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>",
                    ChatMessage.UserRole => "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>",
                    ChatMessage.AssistantRole => "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
                    _ => null,
                };
                if (opening is not null) b.Template(opening).Content(Trim(m.Content)).Template("<|END_OF_TURN_TOKEN|>");
            }
            if (addAssistant) b.Template("<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
        }),
        new("llama3", t => Has(t, "<|start_header_id|>") && Has(t, "<|end_header_id|>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
                b.Template("<|start_header_id|>").Content(m.Role).Template("<|end_header_id|>\n\n").Content(Trim(m.Content)).Template("<|eot_id|>");
            if (addAssistant) b.Template("<|start_header_id|>assistant<|end_header_id|>\n\n");
        }),
        new("chatglm3", t => Has(t, "[gMASK]sop"), (b, chat, addAssistant) =>
        {
            b.Template("[gMASK]sop");
            foreach (var m in chat)
                b.Template("<|").Content(m.Role).Template("|>\n ").Content(m.Content);
            if (addAssistant) b.Template("<|assistant|>");
        }),
        new("minicpm", t => Has(t, "<用户>"), (b, chat, _) =>
        {
            foreach (var m in chat)
            {
                if (m.Role == ChatMessage.UserRole) b.Template("<用户>").Content(Trim(m.Content)).Template("<AI>");
                else b.Content(Trim(m.Content));
            }
        }),
        new("deepseek2", t => Has(t, "'Assistant: ' + message['content'] + eos_token"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
            {
                if (m.Role == ChatMessage.SystemRole) b.Content(m.Content).Template("\n\n");
                else if (m.Role == ChatMessage.UserRole) b.Template("User: ").Content(m.Content).Template("\n\n");
                else if (m.Role == ChatMessage.AssistantRole) b.Template("Assistant: ").Content(m.Content).Template("<｜end▁of▁sentence｜>");
            }
            if (addAssistant) b.Template("Assistant:");
        }),
        new("deepseek3", t => Has(t, "<｜Assistant｜>") && Has(t, "<｜User｜>") && Has(t, "<｜end▁of▁sentence｜>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
            {
                if (m.Role == ChatMessage.SystemRole) b.Content(m.Content).Template("\n\n");
                else if (m.Role == ChatMessage.UserRole) b.Template("<｜User｜>").Content(m.Content);
                else if (m.Role == ChatMessage.AssistantRole) b.Template("<｜Assistant｜>").Content(m.Content).Template("<｜end▁of▁sentence｜>");
            }
            if (addAssistant) b.Template("<｜Assistant｜>");
        }),
        new("exaone4", t => Has(t, "[|system|]") && Has(t, "[|assistant|]") && Has(t, "[|endofturn|]") && Has(t, "[|tool|]"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
            {
                if (m.Role == ChatMessage.SystemRole) b.Template("[|system|]").Content(Trim(m.Content)).Template("[|endofturn|]\n");
                else if (m.Role == ChatMessage.UserRole) b.Template("[|user|]").Content(Trim(m.Content)).Template("\n");
                else if (m.Role == ChatMessage.AssistantRole) b.Template("[|assistant|]").Content(Trim(m.Content)).Template("[|endofturn|]\n");
                else if (m.Role == "tool") b.Template("[|tool|]").Content(Trim(m.Content)).Template("[|endofturn|]\n");
            }
            if (addAssistant) b.Template("[|assistant|]");
        }),
        new("exaone3", t => Has(t, "[|system|]") && Has(t, "[|assistant|]") && Has(t, "[|endofturn|]"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
            {
                if (m.Role == ChatMessage.SystemRole) b.Template("[|system|]").Content(Trim(m.Content)).Template("[|endofturn|]\n");
                else if (m.Role == ChatMessage.UserRole) b.Template("[|user|]").Content(Trim(m.Content)).Template("\n");
                else if (m.Role == ChatMessage.AssistantRole) b.Template("[|assistant|]").Content(Trim(m.Content)).Template("[|endofturn|]\n");
            }
            if (addAssistant) b.Template("[|assistant|]");
        }),
        new("rwkv-world", t => Has(t, "rwkv-world") || Has(t, "{{- 'User: ' + message['content']|trim + '\\n\\n' -}}"), (b, chat, _) =>
        {
            // Needs a model whose end of turn is "\n\n"; a conversation ending with a user turn opens the reply whatever
            // add_ass says.
            for (int i = 0; i < chat.Count; i++)
            {
                var m = chat[i];
                if (m.Role == ChatMessage.SystemRole) b.Template("System: ").Content(Trim(m.Content)).Template("\n\n");
                else if (m.Role == ChatMessage.UserRole)
                {
                    b.Template("User: ").Content(Trim(m.Content)).Template("\n\n");
                    if (i == chat.Count - 1) b.Template("Assistant:");
                }
                else if (m.Role == ChatMessage.AssistantRole) b.Template("Assistant: ").Content(Trim(m.Content)).Template("\n\n");
            }
        }),
        new("granite", t => Has(t, "<|start_of_role|>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
            {
                b.Template("<|start_of_role|>").Content(m.Role).Template("<|end_of_role|>");
                if (m.Role == "assistant_tool_call") b.Template("<|tool_call|>");
                b.Content(m.Content).Template("<|end_of_text|>\n");
            }
            if (addAssistant) b.Template("<|start_of_role|>assistant<|end_of_role|>");
        }),
        new("gigachat", t => Has(t, "message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1]"),
            (b, chat, addAssistant) =>
        {
            bool hasSystem = chat.Count > 0 && chat[0].Role == ChatMessage.SystemRole;
            b.Template("<s>");
            if (hasSystem) b.Content(chat[0].Content).Template("<|message_sep|>");
            for (int i = hasSystem ? 1 : 0; i < chat.Count; i++)
            {
                if (chat[i].Role == ChatMessage.UserRole)
                    b.Template("user<|role_sep|>").Content(chat[i].Content).Template("<|message_sep|>available functions<|role_sep|>[]<|message_sep|>");
                else if (chat[i].Role == ChatMessage.AssistantRole)
                    b.Template("assistant<|role_sep|>").Content(chat[i].Content).Template("<|message_sep|>");
            }
            if (addAssistant) b.Template("assistant<|role_sep|>");
        }),
        new("megrez", t => Has(t, "<|role_start|>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
                b.Template("<|role_start|>").Content(m.Role).Template("<|role_end|>").Content(m.Content).Template("<|turn_end|>");
            if (addAssistant) b.Template("<|role_start|>assistant<|role_end|>");
        }),
        new("yandex", t => Has(t, " Ассистент:"), (b, chat, addAssistant) =>
        {
            // "\n\n" is this model's end of turn.
            foreach (var m in chat)
            {
                if (m.Role == ChatMessage.UserRole) b.Template(" Пользователь: ").Content(m.Content).Template("\n\n");
                else if (m.Role == ChatMessage.AssistantRole) b.Template(" Ассистент: ").Content(m.Content).Template("\n\n");
            }
            if (addAssistant) b.Template(" Ассистент:[SEP]");
        }),
        new("bailing", t => Has(t, "<role>ASSISTANT</role>") && Has(t, "'HUMAN'"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
                b.Template("<role>").Content(m.Role == ChatMessage.UserRole ? "HUMAN" : UpperAscii(m.Role)).Template("</role>").Content(m.Content);
            if (addAssistant) b.Template("<role>ASSISTANT</role>");
        }),
        new("llama4", t => Has(t, "<|header_start|>") && Has(t, "<|header_end|>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
                b.Template("<|header_start|>").Content(m.Role).Template("<|header_end|>\n\n").Content(Trim(m.Content)).Template("<|eot|>");
            if (addAssistant) b.Template("<|header_start|>assistant<|header_end|>\n\n");
        }),
        new("hunyuan-moe", t => Has(t, "<|extra_0|>") && Has(t, "<|extra_4|>"), (b, chat, _) =>
        {
            foreach (var m in chat)
            {
                if (m.Role == ChatMessage.SystemRole) b.Template("<|startoftext|>").Content(m.Content).Template("<|extra_4|>");
                else if (m.Role == ChatMessage.AssistantRole) b.Content(m.Content).Template("<|eos|>");
                else b.Template("<|startoftext|>").Content(m.Content).Template("<|extra_0|>");
            }
        }),
        new("gpt-oss", t => Has(t, "<|start|>") && Has(t, "<|channel|>"), (b, chat, addAssistant) =>
        {
            // OpenAI's Harmony format.
            foreach (var m in chat)
                b.Template("<|start|>").Content(m.Role).Template("<|message|>").Content(m.Content)
                    .Template(m.Role == ChatMessage.AssistantRole ? "<|return|>" : "<|end|>");
            if (addAssistant) b.Template("<|start|>assistant");
        }),
        new("hunyuan-dense", t => Has(t, "<｜hy_Assistant｜>") && Has(t, "<｜hy_place▁holder▁no▁3｜>"), (b, chat, _) =>
        {
            for (int i = 0; i < chat.Count; i++)
            {
                var m = chat[i];
                if (i == 0 && m.Role == ChatMessage.SystemRole) b.Content(m.Content).Template("<｜hy_place▁holder▁no▁3｜>");
                if (m.Role == ChatMessage.AssistantRole) b.Template("<｜hy_Assistant｜>").Content(m.Content).Template("<｜hy_place▁holder▁no▁2｜>");
                else if (m.Role == ChatMessage.UserRole) b.Template("<｜hy_User｜>").Content(m.Content).Template("<｜hy_Assistant｜>");
            }
        }),
        new("kimi-k2", t => Has(t, "<|im_assistant|>assistant<|im_middle|>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
            {
                string opening = m.Role switch
                {
                    ChatMessage.SystemRole => "<|im_system|>system<|im_middle|>",
                    ChatMessage.UserRole => "<|im_user|>user<|im_middle|>",
                    ChatMessage.AssistantRole => "<|im_assistant|>assistant<|im_middle|>",
                    "tool" => "<|im_system|>tool<|im_middle|>",
                    _ => "",
                };
                b.Template(opening).Content(m.Content).Template("<|im_end|>");
            }
            if (addAssistant) b.Template("<|im_assistant|>assistant<|im_middle|>");
        }),
        new("seed_oss", t => Has(t, "<seed:bos>"), (b, chat, addAssistant) =>
        {
            foreach (var m in chat)
                b.Template("<seed:bos>").Content(m.Role).Template("\n")
                    .Content(m.Role == ChatMessage.AssistantRole ? Trim(m.Content) : m.Content).Template("<seed:eos>");
            if (addAssistant) b.Template("<seed:bos>assistant\n");
        }),
    ];

    // Mistral v7 and v7-tekken (which llama.cpp picks only by name): system, user and assistant each in their own markers.
    private static void RenderMistralV7(ChatPromptBuilder b, IReadOnlyList<ChatMessage> chat, string trailingSpace)
    {
        foreach (var m in chat)
        {
            if (m.Role == ChatMessage.SystemRole) b.Template("[SYSTEM_PROMPT]" + trailingSpace).Content(m.Content).Template("[/SYSTEM_PROMPT]");
            else if (m.Role == ChatMessage.UserRole) b.Template("[INST]" + trailingSpace).Content(m.Content).Template("[/INST]");
            else b.Template(trailingSpace).Content(m.Content).Template("</s>");
        }
    }

    // Mistral v1 / v3 / v3-tekken: one [INST] opens a turn that a system and a user message share; no generation prompt.
    private static void RenderMistral(ChatPromptBuilder b, IReadOnlyList<ChatMessage> chat, string leadingSpace, string trailingSpace, bool trimAssistant)
    {
        bool insideTurn = false;
        foreach (var m in chat)
        {
            if (!insideTurn)
            {
                b.Template(leadingSpace + "[INST]" + trailingSpace);
                insideTurn = true;
            }
            if (m.Role == ChatMessage.SystemRole) b.Content(m.Content).Template("\n\n");
            else if (m.Role == ChatMessage.UserRole) b.Content(m.Content).Template(leadingSpace + "[/INST]");
            else
            {
                b.Template(trailingSpace).Content(trimAssistant ? Trim(m.Content) : m.Content).Template("</s>");
                insideTurn = false;
            }
        }
    }

    // Llama 2 and its variants: the prompt opens inside the first [INST] (its BOS is the tokenizer's); no generation prompt.
    private static void RenderLlama2(ChatPromptBuilder b, IReadOnlyList<ChatMessage> chat, bool systemMessage, bool bosInsideHistory, bool strip)
    {
        bool insideTurn = true;
        b.Template("[INST] ");
        foreach (var m in chat)
        {
            string content = strip ? Trim(m.Content) : m.Content;
            if (!insideTurn)
            {
                insideTurn = true;
                b.Template(bosInsideHistory ? "<s>[INST] " : "[INST] ");
            }
            if (m.Role == ChatMessage.SystemRole)
            {
                if (systemMessage) b.Template("<<SYS>>\n").Content(content).Template("\n<</SYS>>\n\n");
                else b.Content(content).Template("\n");
            }
            else if (m.Role == ChatMessage.UserRole) b.Content(content).Template(" [/INST]");
            else
            {
                b.Content(content).Template("</s>");
                insideTurn = false;
            }
        }
    }

    // Gemma has no system turn: the (trimmed) system prompt opens the next user turn; "assistant" is called "model".
    private static void RenderGemma(ChatPromptBuilder b, IReadOnlyList<ChatMessage> chat, bool addAssistant)
    {
        string system = "";
        foreach (var m in chat)
        {
            if (m.Role == ChatMessage.SystemRole)
            {
                system += Trim(m.Content);
                continue;
            }
            bool isModel = m.Role == ChatMessage.AssistantRole;
            b.Template("<start_of_turn>");
            if (isModel) b.Template("model");
            else b.Content(m.Role);
            b.Template("\n");
            if (system.Length > 0 && !isModel && m.Role != "model")
            {
                b.Content(system).Template("\n\n");
                system = "";
            }
            b.Content(Trim(m.Content)).Template("<end_of_turn>\n");
        }
        if (addAssistant) b.Template("<start_of_turn>model\n");
    }

    private static void RenderVicuna(ChatPromptBuilder b, IReadOnlyList<ChatMessage> chat, bool addAssistant, bool orca)
    {
        foreach (var m in chat)
        {
            if (m.Role == ChatMessage.SystemRole)
            {
                if (orca) b.Template("SYSTEM: ").Content(m.Content).Template("\n");
                else b.Content(m.Content).Template("\n\n");
            }
            else if (m.Role == ChatMessage.UserRole) b.Template("USER: ").Content(m.Content).Template("\n");
            else if (m.Role == ChatMessage.AssistantRole) b.Template("ASSISTANT: ").Content(m.Content).Template("</s>\n");
        }
        if (addAssistant) b.Template("ASSISTANT:");
    }

    // C's isspace in the "C" locale, which llama.cpp's trim uses: only these six ASCII characters.
    private static readonly char[] CWhitespace = [' ', '\t', '\n', '\v', '\f', '\r'];

    internal static string Trim(string text) => text.Trim(CWhitespace);

    // std::toupper per byte: ASCII letters only.
    private static string UpperAscii(string text) => string.Create(text.Length, text, static (span, source) =>
    {
        for (int i = 0; i < source.Length; i++) span[i] = source[i] is >= 'a' and <= 'z' ? (char)(source[i] - 32) : source[i];
    });

    // llama.cpp upper-cases the role's first byte with toupper: ASCII letters only.
    private static string CapitaliseFirstByte(string role) =>
        role.Length > 0 && role[0] is >= 'a' and <= 'z' ? char.ToUpperInvariant(role[0]) + role[1..] : role;
}
