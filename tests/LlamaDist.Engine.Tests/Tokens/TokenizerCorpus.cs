using System.Text;

namespace LlamaDist.Engine.Tests.Tokens;

/// <summary>
/// A deterministic corpus for tokenizer agreement: hand-picked cases (scripts, code, numbers, emoji and ZWJ
/// sequences, whitespace runs, special-token texts, contractions, leading spaces, the empty string) followed by
/// seeded random mixes of the same fragments, so boundaries between kinds of text are exercised too.
/// </summary>
internal static class TokenizerCorpus
{
    private static readonly string[] Fragments =
    [
        // scripts
        "Hello world", "The quick brown fox jumps over the lazy dog.", "naïve café déjà vu", "Ærøskøbing", "ÀÉÎÕÜ àéîõü ß ẞ",
        "日本語のテキスト", "中文字符测试", "汉字和かなとカナ", "한국어 문장입니다", "Привет, мир!", "Ёлка и ёж",
        "مرحبا بالعالم", "العربية: ١٢٣٤٥", "नमस्ते दुनिया", "हिन्दी में ४२ लिखा", "שלום עולם", "Γειά σου Κόσμε",
        "ภาษาไทย", "Tiếng Việt có dấu", "Ελληνικά ΐ ΰ", "𝓗𝓮𝓵𝓵𝓸 𝔀𝓸𝓻𝓵𝓭", "𐐀𐐨𐑅 Deseret", "𠀀𠀁 CJK Ext-B",
        // code
        "def main():\n    return 0\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }", "if x != None and y >= 3:",
        "console.log(`template ${value}`);", "SELECT * FROM users WHERE id = 42;", "#include <stdio.h>",
        "fn main() -> Result<(), Box<dyn Error>> {", "<div class=\"x\">&amp;</div>", "$ git commit -m 'fix'",
        "x+=1;y-=2;z*=3", "a->b::c", "~/.config/app.json", "C:\\Windows\\System32", "0x7FFF_FFFF", "λx.x",
        // numbers
        "1", "12", "123", "1234", "12345", "123456", "1234567", "3.14159", "-2.5e-10", "1,000,000", "2024-01-31",
        "12:34:56", "+1 (555) 010-9999", "100%", "$19.99", "€5", "½ ¾ ⅓", "²³ ⁴", "①②③", "Ⅻ ⅻ",
        // emoji and ZWJ sequences
        "🦙", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇩🇪🇯🇵", "❤️", "🧑🏿‍💻 codes", "#️⃣", "e\u0301 combining",
        // whitespace runs
        " ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\n \n", "    indented", "a  b   c    d",
        "tab\tseparated\tvalues", "trailing   ", "\u00A0nbsp\u00A0", "\u3000ideographic space", "\u2028line sep",
        // contractions and punctuation
        "I'm", "you're", "they've", "we'll", "she'd", "it's", "DON'T", "I'M", "YOU'RE", "'s", "'ll", "'", "''", "...",
        "?!", " , ", " . ", "«quoted»", "“curly”", "— dash –", "(parens) [brackets] {braces}",
        // special-token texts (Llama 3 and Qwen; plain text unless parse-special)
        "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>user<|end_header_id|>\n\n",
        "<|im_start|>system\nYou are helpful.<|im_end|>", "<|endoftext|>", "<think>reasoning</think>", "<tool_call>",
        "<|reserved_special_token_5|>", "<s>", "</s>", "<|im_end", "|>",
        // code points no Unicode version assigns (llama.cpp's hand-written splitters give each its own word)
        "x\u0378y", " \u0378\u0379!", "\U000E0080\U000E0081 z", "?\u0378?",
    ];

    private static readonly string[] Separators = ["", " ", "  ", "\n", "\t", " \n", "\n\n", ", ", ". ", "\r\n", "   "];

    /// <summary>At least <paramref name="count"/> strings (the empty string first), the same every run.</summary>
    public static IReadOnlyList<string> Build(int count)
    {
        var corpus = new List<string> { "" };
        foreach (string fragment in Fragments)
        {
            corpus.Add(fragment);
            corpus.Add(" " + fragment); // leading space
        }

        var random = new Random(20240611);
        var builder = new StringBuilder();
        while (corpus.Count < count)
        {
            builder.Clear();
            int parts = random.Next(1, 5);
            for (int part = 0; part < parts; part++)
            {
                if (part > 0 || random.Next(4) == 0)
                {
                    builder.Append(Separators[random.Next(Separators.Length)]);
                }

                builder.Append(Fragments[random.Next(Fragments.Length)]);
            }

            if (random.Next(6) == 0)
            {
                builder.Append(Separators[random.Next(Separators.Length)]);
            }

            corpus.Add(builder.ToString());
        }

        return corpus;
    }
}
