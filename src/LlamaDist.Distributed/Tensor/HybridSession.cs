namespace LlamaDist.Distributed.Tensor;

/// <summary>
/// One sequence on a hybrid split, from the coordinator's side: tensor-parallel groups (<see cref="TensorGroupSession"/>
/// each) that hold consecutive layer ranges and run as the stages of a pipeline. A step goes in pieces of at most
/// MaxBatchTokens: the first group takes the token ids, each later group the hidden state the previous group's
/// shard 0 answered with (passed on as received, in the session's activation encoding, its size checked), and
/// the last group answers with logits or its greedy token as a tensor split does. Inside a group the shards sum
/// their partials worker to worker. A failed step leaves the groups' caches apart, so the session is then
/// unusable (each group refuses further steps).
/// </summary>
public sealed class HybridSession : IDisposable
{
    private readonly TensorGroupSession[] groups;
    private readonly TensorSessionOptions options;

    private HybridSession(TensorGroupSession[] groups, TensorSessionOptions options)
    {
        this.groups = groups;
        this.options = options;
    }

    /// <summary>Tokens evaluated so far.</summary>
    public int Position => groups[^1].Position;

    public int GroupCount => groups.Length;

    /// <summary>Opens a session on every group (each verifies its own members); what opened is closed again when one fails.</summary>
    public static async Task<HybridSession> OpenAsync(IReadOnlyList<IReadOnlyList<TensorShard>> groups, TensorSessionOptions options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(options);
        if (groups.Count < 2)
        {
            throw new ArgumentException("A hybrid split has at least two groups.", nameof(groups));
        }
        if (options.EmbeddingLength <= 0)
        {
            throw new ArgumentException("The hidden states' width (EmbeddingLength) is needed between groups.", nameof(options));
        }
        var opened = new TensorGroupSession?[groups.Count];
        try
        {
            await Task.WhenAll(groups.Select(async (group, index) =>
                opened[index] = await TensorGroupSession.OpenAsync(group, options, cancellationToken).ConfigureAwait(false))).ConfigureAwait(false);
        }
        catch
        {
            foreach (var session in opened)
            {
                session?.Dispose();
            }
            throw;
        }
        return new HybridSession(opened.Select(session => session!).ToArray(), options);
    }

    /// <summary>
    /// Evaluates <paramref name="tokens"/> and writes the last token's logits [n_vocab]; returns each group's
    /// shards' figures summed over the pieces.
    /// </summary>
    public ShardStepFigures[][] Evaluate(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        var figures = NewFigures();
        var last = Through(tokens, figures);
        Add(figures[^1], groups[^1].Evaluate(last, logits));
        return figures;
    }

    /// <summary>Evaluates <paramref name="tokens"/> and returns the argmax of the last token's logits, with the figures.</summary>
    public (int Token, ShardStepFigures[][] Figures) EvaluateGreedy(ReadOnlySpan<int> tokens)
    {
        var figures = NewFigures();
        var last = Through(tokens, figures);
        var (token, lastFigures) = groups[^1].EvaluateGreedy(last);
        Add(figures[^1], lastFigures);
        return (token, figures);
    }

    /// <summary>
    /// Runs every piece but the last through all groups (the last group filling its cache with a greedy step, whose
    /// 8-byte answer is dropped) and the last piece through all but the last group; returns the last group's input.
    /// </summary>
    private TensorStepInput Through(ReadOnlySpan<int> tokens, ShardStepFigures[][] figures)
    {
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("At least one token must be evaluated.", nameof(tokens));
        }
        int piece = options.MaxBatchTokens;
        for (int done = 0; ; done += piece)
        {
            int count = Math.Min(piece, tokens.Length - done);
            var input = TensorStepInput.FromTokens(tokens.Slice(done, count));
            for (int g = 0; g < groups.Length - 1; g++)
            {
                var (hidden, stepFigures) = groups[g].EvaluateHidden(input);
                Add(figures[g], stepFigures);
                input = TensorStepInput.FromHidden(hidden, count);
            }
            if (done + count == tokens.Length)
            {
                return input;
            }
            Add(figures[^1], groups[^1].EvaluateGreedy(input).Figures);
        }
    }

    private ShardStepFigures[][] NewFigures() => groups.Select(group => new ShardStepFigures[group.ShardCount]).ToArray();

    private static void Add(ShardStepFigures[] sum, ShardStepFigures[] step)
    {
        for (int i = 0; i < sum.Length; i++)
        {
            sum[i] = new ShardStepFigures(sum[i].ComputeMs + step[i].ComputeMs, sum[i].ReduceMs + step[i].ReduceMs,
                sum[i].PartialBytesSent + step[i].PartialBytesSent, sum[i].PartialBytesReceived + step[i].PartialBytesReceived,
                sum[i].StepBytes + step[i].StepBytes, sum[i].ReplyBytes + step[i].ReplyBytes);
        }
    }

    public void Dispose()
    {
        foreach (var group in groups)
        {
            group.Dispose();
        }
    }
}
