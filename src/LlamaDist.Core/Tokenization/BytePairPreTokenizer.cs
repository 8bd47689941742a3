using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace LlamaDist.Core.Tokenization;

/// <summary>
/// The word splitting that runs before byte-level BPE merges, chosen by <c>tokenizer.ggml.pre</c> the way llama.cpp's
/// vocabulary loader chooses it. A pre-tokenizer is an ordered list of regular expressions: each one re-splits every
/// piece the previous ones left, into its matches and the unmatched gaps between them (both stay words), so a later
/// expression only ever refines earlier boundaries.
/// </summary>
/// <remarks>
/// .NET regular expressions see UTF-16 code units, so a letter outside the Basic Multilingual Plane would fail
/// \p{L}. Text holding surrogate pairs is therefore matched through a stand-in string with one character per code
/// point: each supplementary code point becomes a BMP character of the same class (letter, number, punctuation, other)
/// that no literal range in these expressions names, or one inside the DeepSeek letter ranges where it falls in them.
/// </remarks>
public sealed class BytePairPreTokenizer
{
    // The GPT-2 word expression several pre-tokenizers end with.
    private const string Gpt2Words = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

    // Llama 3's expression with its case-insensitive contractions spelled as ASCII pairs ((?i) would also fold 'ſ'
    // and the Kelvin sign into s and k, which llama.cpp does not).
    private const string Llama3Words =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}" +
        @"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // Qwen 2's: the same, with one digit per word.
    private const string Qwen2Words =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}" +
        @"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // Mistral's Tekken: upper-then-lower and lower letter runs, written with look-aheads as llama.cpp adapts them.
    private const string TekkenWords =
        @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*" +
        @"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // DeepSeek LLM's letter ranges (the BMP part; the supplementary ranges are handled by the stand-in string), as
    // escapes: several of these code points (U+1FBE, U+2126, U+212A ...) have canonical equivalents that editors and
    // normalising tools silently substitute, which would change the class.
    private const string DeepSeekLetters =
        "\u0041-\u005A\u0061-\u007A\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293" +
        "\u0295-\u02AF\u0370-\u0373\u0376-\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1" +
        "\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD" +
        "\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D" +
        "\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC" +
        "\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC" +
        "\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139" +
        "\u213C-\u213F\u2145-\u2149\u214E\u2183-\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2-\u2CF3" +
        "\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06" +
        "\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A";

    // Supplementary code-point ranges DeepSeek LLM's letter class also names (Deseret, Osage, Old Hungarian, Warang
    // Citi, Adlam).
    private static readonly (int First, int Last)[] DeepSeekSupplementaryLetters =
    [
        (0x10400, 0x1044F), (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10C80, 0x10CB2), (0x10CC0, 0x10CF2),
        (0x118A0, 0x118DF), (0x1E900, 0x1E943),
    ];

    private const string CjkRuns = "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+";

    // Stand-ins for supplementary code points (see remarks): outside every literal range used here.
    private const char LetterStandIn = 'ª';          // Lo
    private const char DeepSeekLetterStandIn = 'À';  // Lu, inside DeepSeek's letter class
    private const char NumberStandIn = '²';          // No
    private const char PunctuationStandIn = '¡';     // Po
    private const char OtherStandIn = '¦';           // So

    private static readonly Dictionary<string, BytePairPreTokenizer> ByName = BuildTable();

    // Built on first use: compiling every table entry up front would cost each process for pre-tokenizers it never uses.
    private readonly Lazy<Regex[]> expressions;

    private BytePairPreTokenizer(string name, string[] patterns, bool ignoreMerges = false, bool cleanSpaces = true,
        bool addBos = false)
    {
        Name = name;
        expressions = new Lazy<Regex[]>(() => patterns
            .Select(pattern => new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled))
            .ToArray());
        IgnoreMerges = ignoreMerges;
        CleanSpaces = cleanSpaces;
        AddBos = addBos;
    }

    /// <summary>The name the pre-tokenizer is known by (the canonical one of its tokenizer.ggml.pre spellings).</summary>
    public string Name { get; }

    /// <summary>A word that is a whole vocabulary token is emitted as it is, without merging (Llama 3, Tekken).</summary>
    public bool IgnoreMerges { get; }

    /// <summary>Decoding removes spaces before "?!.," and some contractions, as llama.cpp's clean_spaces does.</summary>
    public bool CleanSpaces { get; }

    /// <summary>Whether this pre-tokenizer turns on add_bos before the GGUF's own add_bos_token is read.</summary>
    public bool AddBos { get; }

    /// <summary>Every tokenizer.ggml.pre value this engine understands.</summary>
    public static IReadOnlyCollection<string> KnownNames => ByName.Keys;

    /// <summary>
    /// The pre-tokenizer for a <c>tokenizer.ggml.pre</c> value; null or empty means "default".
    /// An unknown name throws <see cref="UnsupportedTokenizerException"/> naming it.
    /// </summary>
    public static BytePairPreTokenizer FromName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return ByName["default"];
        }

        return ByName.TryGetValue(name, out BytePairPreTokenizer? preTokenizer)
            ? preTokenizer
            : throw UnsupportedTokenizerException.ForPreTokenizer(name, KnownNames);
    }

    /// <summary>Splits <paramref name="text"/>[offset..offset+length] into words, appended as (start, length) in UTF-16 units.</summary>
    public void Split(string text, int offset, int length, List<(int Start, int Length)> words)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(words);
        if (length == 0)
        {
            return;
        }

        ReadOnlySpan<char> fragment = text.AsSpan(offset, length);
        bool hasSurrogates = fragment.IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;
        int[]? offsets = null;
        string subject = hasSurrogates ? BuildStandIn(fragment, out offsets) : fragment.ToString();

        var pieces = new List<(int Start, int Length)> { (0, subject.Length) };
        var next = new List<(int Start, int Length)>();
        foreach (Regex expression in expressions.Value)
        {
            next.Clear();
            foreach ((int start, int pieceLength) in pieces)
            {
                SplitPiece(expression, subject, start, pieceLength, next);
            }

            (pieces, next) = (next, pieces);
        }

        foreach ((int start, int pieceLength) in pieces)
        {
            if (offsets is null)
            {
                words.Add((offset + start, pieceLength));
            }
            else
            {
                int first = offsets[start];
                words.Add((offset + first, offsets[start + pieceLength] - first));
            }
        }
    }

    private static void SplitPiece(Regex expression, string subject, int start, int length, List<(int, int)> output)
    {
        int position = start;
        int end = start + length;
        for (Match match = expression.Match(subject, start, length); match.Success; match = match.NextMatch())
        {
            if (match.Length == 0)
            {
                continue;
            }

            if (match.Index > position)
            {
                output.Add((position, match.Index - position));
            }

            output.Add((match.Index, match.Length));
            position = match.Index + match.Length;
        }

        if (position < end)
        {
            output.Add((position, end - position));
        }
    }

    /// <summary>One character per code point (see remarks), with the UTF-16 offset of each code point (+ the end).</summary>
    private static string BuildStandIn(ReadOnlySpan<char> fragment, out int[] unitOffsets)
    {
        var builder = new StringBuilder(fragment.Length);
        var offsets = new List<int>(fragment.Length + 1);
        int index = 0;
        while (index < fragment.Length)
        {
            offsets.Add(index);
            Rune.DecodeFromUtf16(fragment[index..], out Rune rune, out int consumed);
            builder.Append(rune.IsBmp ? (char)rune.Value : StandInFor(rune));
            index += consumed;
        }

        offsets.Add(index);
        unitOffsets = offsets.ToArray();
        return builder.ToString();
    }

    private static char StandInFor(Rune rune)
    {
        UnicodeCategory category = Rune.GetUnicodeCategory(rune);
        switch (category)
        {
            case UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter:
                foreach ((int first, int last) in DeepSeekSupplementaryLetters)
                {
                    if (rune.Value >= first && rune.Value <= last)
                    {
                        return DeepSeekLetterStandIn;
                    }
                }

                return LetterStandIn;
            case UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber:
                return NumberStandIn;
            case UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation:
                return PunctuationStandIn;
            default:
                return OtherStandIn;
        }
    }

    private static Dictionary<string, BytePairPreTokenizer> BuildTable()
    {
        var table = new Dictionary<string, BytePairPreTokenizer>(StringComparer.Ordinal);

        void Add(BytePairPreTokenizer preTokenizer, params string[] aliases)
        {
            table[preTokenizer.Name] = preTokenizer;
            foreach (string alias in aliases)
            {
                table[alias] = preTokenizer;
            }
        }

        string[] starCoder = [@"\p{N}", Gpt2Words];
        Add(new BytePairPreTokenizer("default",
            [@"[\p{P}\$\+<=>\^~\|]+", Gpt2Words, @"\p{N}+", "[0-9][0-9][0-9]"]));
        Add(new BytePairPreTokenizer("llama-bpe", [Llama3Words], ignoreMerges: true, addBos: true), "llama3", "llama-v3");
        Add(new BytePairPreTokenizer("dbrx", [Llama3Words]), "smaug-bpe");
        Add(new BytePairPreTokenizer("qwen2", [Qwen2Words], cleanSpaces: false), "deepseek-r1-qwen");
        Add(new BytePairPreTokenizer("stablelm2", [Qwen2Words]));
        Add(new BytePairPreTokenizer("deepseek-llm",
            ["[\r\n]", @"\s?[" + DeepSeekLetters + "]+", @"\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+", @"\s+\z", CjkRuns, @"\p{N}+"],
            cleanSpaces: false));
        Add(new BytePairPreTokenizer("deepseek-coder",
            ["[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", CjkRuns, @"\p{N}"], cleanSpaces: false));
        Add(new BytePairPreTokenizer("falcon", [@"[\p{P}\$\+<=>\^~\|`]+", Gpt2Words, "[0-9][0-9][0-9]"]));
        Add(new BytePairPreTokenizer("gpt-2", [Gpt2Words]), "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de");
        Add(new BytePairPreTokenizer("mpt", [Gpt2Words]));
        Add(new BytePairPreTokenizer("olmo", [Gpt2Words]));
        Add(new BytePairPreTokenizer("starcoder", starCoder));
        Add(new BytePairPreTokenizer("refact", starCoder));
        Add(new BytePairPreTokenizer("command-r", starCoder, cleanSpaces: false));
        Add(new BytePairPreTokenizer("smollm", starCoder, cleanSpaces: false));
        Add(new BytePairPreTokenizer("tekken", [TekkenWords], ignoreMerges: true, cleanSpaces: false, addBos: true));
        return table;
    }
}
