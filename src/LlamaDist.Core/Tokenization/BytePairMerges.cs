namespace LlamaDist.Core.Tokenization;

/// <summary>
/// The merge table of a byte-level BPE vocabulary (<c>tokenizer.ggml.merges</c>, "left right" per entry, rank = index)
/// and the merge loop llama.cpp runs on one word: start from one symbol per byte, repeatedly merge the adjacent pair of
/// lowest rank (leftmost first among equal ranks) until no listed pair remains.
/// </summary>
/// <remarks>
/// Ranks are keyed by the pair's two token ids, so the loop looks pairs up without building strings. A merge whose
/// halves are not both vocabulary tokens can never apply to symbols that are (and the loop only keys symbols that are),
/// except through symbols outside the vocabulary; those fall back to a text-keyed table.
/// </remarks>
internal sealed class BytePairMerges
{
    private readonly TokenVocabulary vocabulary;
    private readonly Dictionary<long, int> ranksByIdPair;
    private readonly Dictionary<string, int> ranksByText;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> ranksBySpan;

    public BytePairMerges(TokenVocabulary vocabulary, IReadOnlyList<string> merges)
    {
        this.vocabulary = vocabulary;
        ranksByIdPair = new Dictionary<long, int>(merges.Count);
        ranksByText = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            string merge = merges[rank];

            // llama.cpp splits at the first space after the first character; an entry without one is malformed.
            int space = merge.Length > 1 ? merge.IndexOf(' ', 1) : -1;
            if (space < 0)
            {
                throw new InvalidVocabularyException($"Merge {rank} ('{merge}') is not two tokens separated by a space.");
            }

            ReadOnlySpan<char> left = merge.AsSpan(0, space);
            ReadOnlySpan<char> right = merge.AsSpan(space + 1);
            if (vocabulary.TryGetId(left, out int leftId) && vocabulary.TryGetId(right, out int rightId))
            {
                ranksByIdPair.TryAdd(PairKey(leftId, rightId), rank); // the first listing of a pair wins
            }
            else
            {
                ranksByText.TryAdd(merge, rank);
            }
        }

        ranksBySpan = ranksByText.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count => ranksByIdPair.Count + ranksByText.Count;

    /// <summary>
    /// Merges one word, given in vocabulary spelling (one character per byte), and appends the ids of its final symbols;
    /// a final symbol that is no token falls back to its single-character ASCII tokens, as llama.cpp does.
    /// </summary>
    public void Encode(ReadOnlySpan<char> word, List<int> output)
    {
        int count = word.Length;
        var starts = new int[count];
        var lengths = new int[count];
        var ids = new int[count];
        var previous = new int[count];
        var next = new int[count];
        for (int index = 0; index < count; index++)
        {
            starts[index] = index;
            lengths[index] = 1;
            ids[index] = vocabulary.TryGetId(word.Slice(index, 1), out int id) ? id : -1;
            previous[index] = index - 1;
            next[index] = index + 1 < count ? index + 1 : -1;
        }

        // (rank, left index) ordered lowest rank first, then leftmost; the pair's total length detects stale entries.
        var queue = new PriorityQueue<(int Left, int Right, int Size), (int Rank, int Left)>();
        for (int index = 0; index + 1 < count; index++)
        {
            TryQueue(word, index, index + 1, starts, lengths, ids, queue);
        }

        while (queue.TryDequeue(out (int Left, int Right, int Size) pair, out _))
        {
            int left = pair.Left;
            int right = pair.Right;
            if (lengths[left] == 0 || lengths[right] == 0 || lengths[left] + lengths[right] != pair.Size
                || next[left] != right)
            {
                continue; // one side was merged away since this pair was queued
            }

            lengths[left] += lengths[right];
            lengths[right] = 0;
            ids[left] = vocabulary.TryGetId(word.Slice(starts[left], lengths[left]), out int mergedId) ? mergedId : -1;
            next[left] = next[right];
            if (next[right] >= 0)
            {
                previous[next[right]] = left;
            }

            if (previous[left] >= 0)
            {
                TryQueue(word, previous[left], left, starts, lengths, ids, queue);
            }

            if (next[left] >= 0)
            {
                TryQueue(word, left, next[left], starts, lengths, ids, queue);
            }
        }

        for (int index = 0; index >= 0 && count > 0; index = next[index])
        {
            if (ids[index] >= 0)
            {
                output.Add(ids[index]);
                continue;
            }

            foreach (char character in word.Slice(starts[index], lengths[index]))
            {
                if (character < 0x80 && vocabulary.TryGetId(new ReadOnlySpan<char>(in character), out int byteId))
                {
                    output.Add(byteId);
                }
            }
        }
    }

    private void TryQueue(ReadOnlySpan<char> word, int left, int right, int[] starts, int[] lengths, int[] ids,
        PriorityQueue<(int, int, int), (int, int)> queue)
    {
        int rank = FindRank(word, starts[left], lengths[left], starts[right], lengths[right], ids[left], ids[right]);
        if (rank >= 0)
        {
            queue.Enqueue((left, right, lengths[left] + lengths[right]), (rank, left));
        }
    }

    private int FindRank(ReadOnlySpan<char> word, int leftStart, int leftLength, int rightStart, int rightLength,
        int leftId, int rightId)
    {
        if (leftId >= 0 && rightId >= 0)
        {
            if (ranksByIdPair.TryGetValue(PairKey(leftId, rightId), out int rank))
            {
                return rank;
            }

            if (ranksByText.Count == 0)
            {
                return -1;
            }
        }

        if (ranksByText.Count == 0)
        {
            return -1;
        }

        int total = leftLength + 1 + rightLength;
        Span<char> key = total <= 256 ? stackalloc char[total] : new char[total];
        word.Slice(leftStart, leftLength).CopyTo(key);
        key[leftLength] = ' ';
        word.Slice(rightStart, rightLength).CopyTo(key[(leftLength + 1)..]);
        return ranksBySpan.TryGetValue(key, out int textRank) ? textRank : -1;
    }

    private static long PairKey(int leftId, int rightId) => ((long)leftId << 32) | (uint)rightId;
}
