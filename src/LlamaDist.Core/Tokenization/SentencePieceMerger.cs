namespace LlamaDist.Core.Tokenization;

/// <summary>
/// One run of llama.cpp's SPM merge (llm_tokenizer_spm_session) over one piece of escaped text (spaces already "▁").
/// The text starts as one symbol per Unicode code point in a doubly linked list; a priority queue holds every adjacent
/// pair whose joined text is a vocabulary token, best score first and leftmost first on ties. Popping a pair that is still
/// current merges the right symbol into the left one and queues the two new neighbour pairs, so the whole run costs
/// O(n log n) rather than rescanning the text after every merge. Symbols are slices of the text: a merged symbol's
/// characters are contiguous because only neighbours ever merge.
/// </summary>
internal sealed class SentencePieceMerger
{
    private readonly TokenVocabulary vocabulary;
    private readonly Func<byte, int> byteToToken;
    private readonly string text;

    // Per symbol, indexed in text order: first char, length in chars (0 once merged away), linked-list neighbours (-1 = none).
    private readonly int[] symbolStart;
    private readonly int[] symbolLength;
    private readonly int[] previousSymbol;
    private readonly int[] nextSymbol;
    private readonly int symbolCount;

    private readonly PriorityQueue<Bigram, Bigram> workQueue = new(BigramOrder.Instance);

    // llama.cpp's rev_merge: the last pair of symbols queued for a given joined text. resegment consults it for a
    // symbol whose text is not a token; merged symbols always are tokens, so it only matters for exotic vocabularies.
    private readonly Dictionary<string, (int Left, int Right)> reverseMerges = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (int Left, int Right)>.AlternateLookup<ReadOnlySpan<char>> reverseMergesBySpan;

    private SentencePieceMerger(TokenVocabulary vocabulary, Func<byte, int> byteToToken, string text)
    {
        this.vocabulary = vocabulary;
        this.byteToToken = byteToToken;
        this.text = text;
        reverseMergesBySpan = reverseMerges.GetAlternateLookup<ReadOnlySpan<char>>();

        symbolStart = new int[text.Length];
        symbolLength = new int[text.Length];
        previousSymbol = new int[text.Length];
        nextSymbol = new int[text.Length];

        // One symbol per code point; the caller has replaced lone surrogates, so a high surrogate always has its pair.
        int count = 0;
        for (int offset = 0; offset < text.Length;)
        {
            int length = char.IsHighSurrogate(text[offset]) && offset + 1 < text.Length && char.IsLowSurrogate(text[offset + 1]) ? 2 : 1;
            symbolStart[count] = offset;
            symbolLength[count] = length;
            previousSymbol[count] = count - 1;
            offset += length;
            nextSymbol[count] = offset == text.Length ? -1 : count + 1;
            count++;
        }

        symbolCount = count;
    }

    /// <summary>Appends the ids for <paramref name="escapedText"/> to <paramref name="output"/>.</summary>
    /// <param name="byteToToken">The id for one UTF-8 byte, used when a code point is not in the vocabulary.</param>
    public static void Tokenize(TokenVocabulary vocabulary, Func<byte, int> byteToToken, string escapedText, List<int> output)
    {
        if (escapedText.Length == 0)
        {
            return;
        }

        new SentencePieceMerger(vocabulary, byteToToken, escapedText).Run(output);
    }

    private void Run(List<int> output)
    {
        for (int right = 1; right < symbolCount; right++)
        {
            TryAddBigram(right - 1, right);
        }

        while (workQueue.TryDequeue(out Bigram bigram, out _))
        {
            int left = bigram.Left;
            int right = bigram.Right;

            // Stale entry: one side was merged away, or the left side grew since this pair was queued.
            if (symbolLength[left] == 0 || symbolLength[right] == 0 || symbolLength[left] + symbolLength[right] != bigram.Length)
            {
                continue;
            }

            symbolLength[left] += symbolLength[right];
            symbolLength[right] = 0;
            nextSymbol[left] = nextSymbol[right];
            if (nextSymbol[right] >= 0)
            {
                previousSymbol[nextSymbol[right]] = left;
            }

            TryAddBigram(previousSymbol[left], left);
            TryAddBigram(left, nextSymbol[left]);
        }

        for (int symbol = 0; symbol != -1; symbol = nextSymbol[symbol])
        {
            Resegment(symbol, output);
        }
    }

    private void TryAddBigram(int left, int right)
    {
        if (left == -1 || right == -1)
        {
            return;
        }

        int length = symbolLength[left] + symbolLength[right];
        ReadOnlySpan<char> joined = text.AsSpan(symbolStart[left], length);
        if (!vocabulary.TryGetId(joined, out int id))
        {
            return;
        }

        var bigram = new Bigram(left, right, vocabulary.GetScore(id), length);
        workQueue.Enqueue(bigram, bigram);
        reverseMergesBySpan[joined] = (left, right);
    }

    /// <summary>Emits a final symbol: its token if the vocabulary has it, else the pair it was recorded as merged from,
    /// else one byte token per UTF-8 byte.</summary>
    private void Resegment(int symbol, List<int> output)
    {
        ReadOnlySpan<char> piece = text.AsSpan(symbolStart[symbol], symbolLength[symbol]);
        if (vocabulary.TryGetId(piece, out int id))
        {
            output.Add(id);
            return;
        }

        if (reverseMergesBySpan.TryGetValue(piece, out (int Left, int Right) parts))
        {
            Resegment(parts.Left, output);
            Resegment(parts.Right, output);
            return;
        }

        int byteCount = System.Text.Encoding.UTF8.GetByteCount(piece);
        Span<byte> bytes = byteCount <= 64 ? stackalloc byte[byteCount] : new byte[byteCount];
        System.Text.Encoding.UTF8.GetBytes(piece, bytes);
        foreach (byte value in bytes)
        {
            output.Add(byteToToken(value));
        }
    }

    /// <summary>A queued candidate merge: symbols Left and Right whose joined text (Length chars) is a token with Score.</summary>
    private readonly record struct Bigram(int Left, int Right, float Score, int Length);

    /// <summary>Queue order of llm_bigram_spm: higher score first; on equal scores the leftmost pair first.</summary>
    private sealed class BigramOrder : IComparer<Bigram>
    {
        public static readonly BigramOrder Instance = new();

        public int Compare(Bigram x, Bigram y)
        {
            if (x.Score != y.Score)
            {
                return x.Score > y.Score ? -1 : 1;
            }

            return x.Left.CompareTo(y.Left);
        }
    }
}
