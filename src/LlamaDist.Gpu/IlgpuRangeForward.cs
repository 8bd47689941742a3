using ILGPU;
using ILGPU.Runtime;
using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Numerics;
using LlamaDist.Gpu.Kernels;

namespace LlamaDist.Gpu;

/// <summary>
/// The forward pass of one layer range on an ILGPU accelerator, step for step as <see cref="LlamaForward"/>
/// (llm_build_llama and the variants of <see cref="ModelArchitecture"/>): the residual stream, attention and the
/// feed-forward stay on the device; tokens or hidden states go up at the start of a micro-batch, hidden states or
/// logits come back at its end, nothing else crosses the bus (apart from the micro-batch's RoPE cos/sin rows,
/// computed by the CPU engine's own code so both backends rotate by the same angles).
/// </summary>
public sealed class IlgpuRangeForward : IRangeForward
{
    private readonly DeviceWeights weights;
    private readonly IlgpuKernels kernels;
    private readonly float[]? ropeFactorsLong;
    private readonly float[]? ropeFactorsShort;
    private readonly float[]? ropeFrequencyFactors;

    internal IlgpuRangeForward(IlgpuBackend backend, LlamaConfig config, LlamaWeights hostWeights)
    {
        if (config.Traits.GeluFeedForward)
        {
            throw new UnsupportedModelException(
                $"The {config.Architecture} architecture's GELU feed-forward is not available on the ILGPU backend; use -Backend Cpu.");
        }
        Backend = backend;
        Config = config;
        Range = hostWeights.Range;
        kernels = backend.Kernels;
        ropeFrequencyFactors = hostWeights.RopeFrequencyFactors;
        ropeFactorsLong = hostWeights.RopeFactorsLong;
        ropeFactorsShort = hostWeights.RopeFactorsShort;
        backend.RequireFree(DeviceWeights.DeviceBytes(hostWeights), $"The weights of layers {Range}");
        using var stream = backend.Accelerator.CreateStream();
        weights = new DeviceWeights(backend.Accelerator, stream, config, hostWeights);
        ConvertedTypes = weights.ConvertedTypes;
    }

    internal IlgpuBackend Backend { get; }

    public LlamaConfig Config { get; }

    public LayerRange Range { get; }

    public ComputeDeviceInfo Device => Backend.Device;

    /// <summary>Weight types converted to F16 at upload (no kernel reads them in their own format).</summary>
    public IReadOnlyCollection<GgmlType> ConvertedTypes { get; }

    public IForwardSession CreateSession(int contextSize, int maxBatch) =>
        new IlgpuSession(this, Backend.Accelerator, Config, contextSize, maxBatch);

    public void EvaluateTokens(IForwardSession session, ReadOnlySpan<int> tokens, Span<float> logits, bool logitsForAllTokens)
    {
        if (!Range.IsWholeModel(Config.LayerCount))
        {
            throw new InvalidOperationException($"EvaluateTokens runs the whole model, but this forward pass holds layers {Range} of {Config.LayerCount}.");
        }
        Evaluate(Own(session), tokens, ReadOnlySpan<float>.Empty, tokens.Length, fromTokens: true, logits, logitsForAllTokens ? Output.AllLogits : Output.LastLogits);
    }

    public void EvaluateTokensToHidden(IForwardSession session, ReadOnlySpan<int> tokens, Span<float> hiddenOut) =>
        Evaluate(Own(session), tokens, ReadOnlySpan<float>.Empty, tokens.Length, fromTokens: true, hiddenOut, Output.Hidden);

    public void EvaluateHidden(IForwardSession session, ReadOnlySpan<float> hiddenIn, int n, Span<float> hiddenOut) =>
        Evaluate(Own(session), ReadOnlySpan<int>.Empty, hiddenIn, n, fromTokens: false, hiddenOut, Output.Hidden);

    public void EvaluateHiddenToLogits(IForwardSession session, ReadOnlySpan<float> hiddenIn, int n, Span<float> logits, bool logitsForAllTokens)
    {
        if (!Range.IncludesOutput(Config.LayerCount))
        {
            throw new InvalidOperationException($"Layer range {Range} does not end at layer {Config.LayerCount}, so it has no output head; use EvaluateHidden.");
        }
        Evaluate(Own(session), ReadOnlySpan<int>.Empty, hiddenIn, n, fromTokens: false, logits, logitsForAllTokens ? Output.AllLogits : Output.LastLogits);
    }

    /// <summary>
    /// Whole model, greedy: evaluates <paramref name="tokens"/> and returns the argmax of the last token's logits,
    /// picked on the device (only the token id comes back).
    /// </summary>
    public int EvaluateGreedy(IForwardSession session, ReadOnlySpan<int> tokens)
    {
        if (!Range.IsWholeModel(Config.LayerCount))
        {
            throw new InvalidOperationException($"EvaluateGreedy runs the whole model, but this forward pass holds layers {Range}.");
        }
        var own = Own(session);
        Evaluate(own, tokens, ReadOnlySpan<float>.Empty, tokens.Length, fromTokens: true, Span<float>.Empty, Output.Greedy);
        int[] result = new int[1];
        own.Greedy.AsDense().CopyToCPU(own.Stream, result.AsSpan());
        own.Stream.Synchronize();
        return result[0];
    }

    /// <summary>Most extra ids (the repeat penalty's recent tokens) <see cref="EvaluateTopCandidates"/> takes.</summary>
    public const int MaxExtraCandidates = 1024;

    /// <summary>
    /// Whole model, for a top-k sampler: evaluates <paramref name="tokens"/>, then selects on the device every
    /// last-token logit at least as large as the <paramref name="wanted"/>-th largest (all ties at that value
    /// included), followed by the logits of <paramref name="extraIds"/>, and copies only those (id, logit) pairs
    /// back into <paramref name="ids"/> and <paramref name="logits"/> (unordered; an extra id may repeat one
    /// selected before it). Returns the pairs written: at least wanted + extraIds.Length, more on ties, at most
    /// the vocabulary plus the extra ids, which is the room the spans need in the worst case.
    /// </summary>
    public int EvaluateTopCandidates(IForwardSession session, ReadOnlySpan<int> tokens, int wanted, ReadOnlySpan<int> extraIds,
        Span<int> ids, Span<float> logits)
    {
        if (!Range.IsWholeModel(Config.LayerCount))
        {
            throw new InvalidOperationException($"EvaluateTopCandidates runs the whole model, but this forward pass holds layers {Range}.");
        }
        int vocabulary = Config.VocabularySize;
        ArgumentOutOfRangeException.ThrowIfLessThan(wanted, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(wanted, vocabulary);
        if (extraIds.Length > MaxExtraCandidates)
        {
            throw new ArgumentException($"At most {MaxExtraCandidates} extra ids can be selected, not {extraIds.Length}.", nameof(extraIds));
        }
        foreach (int id in extraIds)
        {
            if ((uint)id >= (uint)vocabulary)
            {
                throw new ArgumentOutOfRangeException(nameof(extraIds), id, $"Extra id {id} is outside the vocabulary [0, {vocabulary}).");
            }
        }
        int room = vocabulary + extraIds.Length;
        if (ids.Length < room || logits.Length < room)
        {
            throw new ArgumentException($"The candidate buffers hold {Math.Min(ids.Length, logits.Length)} pairs but a selection can need {room}.");
        }
        var own = Own(session);
        Evaluate(own, tokens, ReadOnlySpan<float>.Empty, tokens.Length, fromTokens: true, Span<float>.Empty, Output.DeviceLogits);
        var stream = own.Stream;
        if (!extraIds.IsEmpty)
        {
            own.ExtraIds.SubView(0, extraIds.Length).AsDense().CopyFromCPU(stream, extraIds);
        }
        kernels.TopCandidates(stream, own.Logits, vocabulary, wanted, own.ExtraIds, extraIds.Length, own.CandidateIds, own.CandidateLogits, own.Greedy);
        int[] count = new int[1];
        own.Greedy.AsDense().CopyToCPU(stream, count.AsSpan());
        stream.Synchronize();
        int written = count[0];
        own.CandidateIds.SubView(0, written).AsDense().CopyToCPU(stream, ids[..written]);
        own.CandidateLogits.SubView(0, written).AsDense().CopyToCPU(stream, logits[..written]);
        stream.Synchronize();
        return written;
    }

    public void Dispose() => weights.Dispose();

    private enum Output
    {
        Hidden,
        LastLogits,
        AllLogits,
        Greedy,

        /// <summary>The last token's logits, left on the device (in Logits) for a selection there.</summary>
        DeviceLogits,
    }

    private IlgpuSession Own(IForwardSession session) =>
        session is IlgpuSession own && ReferenceEquals(own.Owner, this)
            ? own
            : throw new ArgumentException("An ILGPU forward pass needs a session it created.", nameof(session));

    private void Evaluate(IlgpuSession session, ReadOnlySpan<int> tokens, ReadOnlySpan<float> hiddenIn, int n, bool fromTokens,
        Span<float> output, Output kind)
    {
        Validate(session, tokens, hiddenIn, n, fromTokens, output, kind);
        var stream = session.Stream;
        int embd = Config.EmbeddingLength;
        int vocabulary = Config.VocabularySize;
        for (int done = 0; done < n; done += session.MicroBatch)
        {
            int count = Math.Min(session.MicroBatch, n - done);
            int position = session.Position;
            var residual = session.Residual.SubView(0, (long)count * embd);
            if (fromTokens)
            {
                session.Tokens.SubView(0, count).AsDense().CopyFromCPU(stream, tokens.Slice(done, count));
                kernels.GetRows(stream, weights.TokenEmbedding!, session.Tokens, session.Residual, count);
                if (Config.Traits.ScalesEmbedding)
                {
                    kernels.Scale(stream, count * embd, residual, MathF.Sqrt(embd));
                }
            }
            else
            {
                residual.AsDense().CopyFromCPU(stream, hiddenIn.Slice(done * embd, count * embd));
            }
            UploadRope(session, position, count);

            // A block may leave its l_out = ffn_out + ffn_inp add to the next block's attn_norm launch.
            bool addPending = false;
            for (int slot = 0; slot < Range.Count; slot++)
            {
                addPending = RunBlock(session, weights.Layers[slot], slot, count, position, addPending, slot + 1 < Range.Count);
            }
            if (addPending)
            {
                kernels.Add(stream, count * embd, session.Residual, session.Projection);
            }
            session.Advance(count);

            switch (kind)
            {
                case Output.Hidden:
                    residual.AsDense().CopyToCPU(stream, output.Slice(done * embd, count * embd));
                    break;
                case Output.AllLogits:
                    WriteLogits(session, 0, count);
                    session.Logits.SubView(0, (long)count * vocabulary).AsDense().CopyToCPU(stream, output.Slice(done * vocabulary, count * vocabulary));
                    break;
                case Output.LastLogits when done + count == n:
                    WriteLogits(session, count - 1, 1);
                    session.Logits.SubView(0, vocabulary).AsDense().CopyToCPU(stream, output[..vocabulary]);
                    break;
                case Output.Greedy when done + count == n:
                    WriteLogits(session, count - 1, 1);
                    kernels.ArgMax(stream, session.Logits, vocabulary, session.Greedy);
                    break;
                case Output.DeviceLogits when done + count == n:
                    WriteLogits(session, count - 1, 1);
                    break;
            }
            stream.Synchronize();
        }
    }

    /// <summary>The micro-batch's cos/sin rows [count, n_rot / 2], from the CPU engine's RoPE cache code.</summary>
    private void UploadRope(IlgpuSession session, int position, int count)
    {
        int pairs = Config.RopeDimensionCount / 2;
        float[]? factors = ropeFrequencyFactors ?? (session.ContextSize > Config.RopeOriginalContext ? ropeFactorsLong : ropeFactorsShort);
        float magnitude = Config.RopeAttentionFactor;
        for (int t = 0; t < count; t++)
        {
            var cosines = session.HostCosines.AsSpan(t * pairs, pairs);
            var sines = session.HostSines.AsSpan(t * pairs, pairs);
            Rope.FillCache(position + t, Config.RopeDimensionCount, Config.RopeFreqBase, factors, cosines, sines);
            if (magnitude != 1f)
            {
                for (int i = 0; i < pairs; i++)
                {
                    cosines[i] *= magnitude;
                    sines[i] *= magnitude;
                }
            }
        }
        session.Cosines.SubView(0, count * pairs).AsDense().CopyFromCPU(session.Stream, session.HostCosines.AsSpan(0, count * pairs));
        session.Sines.SubView(0, count * pairs).AsDense().CopyFromCPU(session.Stream, session.HostSines.AsSpan(0, count * pairs));
    }

    /// <summary>
    /// One block for the micro-batch. <paramref name="addPending"/>: the previous block's FFN output still waits in
    /// Projection to be added to Residual (done here with attn_norm). Returns whether this block left its own final
    /// add pending, which it does only when <paramref name="nextBlockFollows"/>.
    /// </summary>
    private bool RunBlock(IlgpuSession session, DeviceLayer layer, int slot, int count, int position, bool addPending, bool nextBlockFollows)
    {
        var stream = session.Stream;
        var config = Config;
        int embd = config.EmbeddingLength;
        int queryWidth = config.QueryWidth;
        int kvWidth = config.KvWidth;
        float epsilon = config.RmsEpsilon;

        // attn_norm, then Qcur / Kcur / Vcur (phi3: one fused product split into its column blocks; one token: the
        // three share one launch when their layouts match). When every product reading attn_norm is F16, the norm
        // itself rounds to half (ggml's F16 × F16 input), with the previous block's pending residual add.
        bool attentionInputHalf = AllHalf(layer.QueryKeyValue, layer.Query, layer.Key, layer.Value);
        if (addPending)
        {
            kernels.AddRmsNorm(stream, session.Residual, session.Projection, layer.AttentionNorm, session.Normalized, count, embd, epsilon,
                attentionInputHalf);
        }
        else
        {
            kernels.RmsNorm(stream, session.Residual, layer.AttentionNorm, session.Normalized, count, embd, epsilon, attentionInputHalf);
        }
        var attentionInput = new ProductInput(session.Normalized, count * embd, attentionInputHalf);
        if (layer.QueryKeyValue is { } fused)
        {
            int width = queryWidth + 2 * kvWidth;
            Product(session, fused, ref attentionInput, session.Fused, count);
            kernels.CopyColumns(stream, count * queryWidth, session.Fused, width, 0, session.Query, queryWidth);
            kernels.CopyColumns(stream, count * kvWidth, session.Fused, width, queryWidth, session.Key, kvWidth);
            kernels.CopyColumns(stream, count * kvWidth, session.Fused, width, queryWidth + kvWidth, session.Value, kvWidth);
        }
        else if (count == 1 && IlgpuKernels.SharesLayout(layer.Query!, layer.Key!) && IlgpuKernels.SharesLayout(layer.Query!, layer.Value!))
        {
            kernels.MatVec(stream, ProductValues(session, layer.Query!, ref attentionInput), layer.Query!, session.Query,
                layer.Key!, session.Key, layer.Value!, session.Value);
        }
        else
        {
            Product(session, layer.Query!, ref attentionInput, session.Query, count);
            Product(session, layer.Key!, ref attentionInput, session.Key, count);
            Product(session, layer.Value!, ref attentionInput, session.Value, count);
        }
        if (layer.QueryBias is { } queryBias)
        {
            kernels.AddBias(stream, count * queryWidth, session.Query, queryBias, queryWidth);
            kernels.AddBias(stream, count * kvWidth, session.Key, layer.KeyBias!.Value, kvWidth);
            kernels.AddBias(stream, count * kvWidth, session.Value, layer.ValueBias!.Value, kvWidth);
        }
        if (layer.QueryNorm is { } queryNorm)
        {
            kernels.RmsNorm(stream, session.Query, queryNorm, session.Query, count * config.HeadCount, config.HeadDimension, epsilon);
            kernels.RmsNorm(stream, session.Key, layer.KeyNorm!.Value, session.Key, count * config.KvHeadCount, config.HeadDimension, epsilon);
        }

        // RoPE, Q's scale and its rounding to half (as the F16 kq product sees it), and the pass's keys and values
        // into the F16 cache, in one launch; attention reads the keys and values back from the cache.
        var ropeStore = new RopeStoreShape
        {
            Tokens = count,
            QueryHeads = config.HeadCount,
            KvHeads = config.KvHeadCount,
            HeadDimension = config.HeadDimension,
            Pairs = config.RopeDimensionCount / 2,
            Neox = config.Traits.Rope == RopeStyle.NeoX ? 1 : 0,
            KvWidth = kvWidth,
            Position = position,
            QueryScale = config.Traits.ScalesQuery ? config.QueryScale : 1f,
        };
        kernels.RopeStore(stream, session.Query, session.Key, session.Value, session.Cosines, session.Sines, session.Keys[slot],
            session.Values[slot], ropeStore);
        bool outputInputHalf = layer.AttentionOutput.Type == GgmlType.F16;
        for (int first = 0; first < count; first += session.AttentionTokens)
        {
            var shape = new AttentionShape
            {
                FirstToken = first,
                Tokens = Math.Min(session.AttentionTokens, count - first),
                Position = position,
                HeadCount = config.HeadCount,
                HeadDimension = config.HeadDimension,
                HeadsPerKvHead = config.HeadsPerKvHead,
                QueryWidth = queryWidth,
                KvWidth = kvWidth,
                ContextSize = session.ContextSize,
                Scale = config.Traits.ScalesQuery ? 1f : 1f / MathF.Sqrt(config.HeadDimension),
                SoftCap = config.AttentionSoftCap,
                Window = config.UsesSlidingWindow(layer.Index) ? config.SlidingWindow : 0,
                RoundOutput = outputInputHalf ? 1 : 0,
            };
            kernels.Attention(stream, session.Query, session.Keys[slot], session.Values[slot], session.AttentionOutput, session.Scores, shape);
        }

        // attn_out = Wo · kqv_out (gemma2: post-norm); ffn_inp = attn_out + inpL, added in the ffn_norm launch.
        var outputInput = new ProductInput(session.AttentionOutput, count * queryWidth, outputInputHalf);
        Product(session, layer.AttentionOutput, ref outputInput, session.Projection, count);
        if (layer.PostAttentionNorm is { } postAttentionNorm)
        {
            kernels.RmsNorm(stream, session.Projection, postAttentionNorm, session.Projection, count, embd, epsilon);
        }

        // ffn_norm, SwiGLU feed-forward (phi3: fused gate/up), l_out = ffn_out + ffn_inp.
        bool feedForwardInputHalf = AllHalf(layer.GateUp, layer.Gate, layer.Up);
        kernels.AddRmsNorm(stream, session.Residual, session.Projection, layer.FeedForwardNorm, session.Normalized, count, embd, epsilon,
            feedForwardInputHalf);
        var feedForwardInput = new ProductInput(session.Normalized, count * embd, feedForwardInputHalf);
        int feedForward = config.FeedForwardLength;
        // An F16 down projection reads SwiGLU's output rounded to half: rounded where it is written.
        bool downInputHalf = layer.Down.Type == GgmlType.F16;
        if (layer.GateUp is { } gateUp)
        {
            Product(session, gateUp, ref feedForwardInput, session.Fused, count);
            kernels.CopyColumns(stream, count * feedForward, session.Fused, 2 * feedForward, 0, session.Gate, feedForward);
            kernels.CopyColumns(stream, count * feedForward, session.Fused, 2 * feedForward, feedForward, session.Up, feedForward);
            kernels.SwiGlu(stream, count * feedForward, session.Gate, session.Up, downInputHalf ? 1 : 0);
        }
        else if (count == 1 && kernels.TryMatVecSwiGlu(stream, ProductValues(session, layer.Gate!, ref feedForwardInput), layer.Gate!, layer.Up!,
            session.Gate, downInputHalf))
        {
            // One token: gate, up and SwiGLU in one launch.
        }
        else
        {
            Product(session, layer.Gate!, ref feedForwardInput, session.Gate, count);
            Product(session, layer.Up!, ref feedForwardInput, session.Up, count);
            kernels.SwiGlu(stream, count * feedForward, session.Gate, session.Up, downInputHalf ? 1 : 0);
        }
        var downInput = new ProductInput(session.Gate, count * feedForward, downInputHalf);
        Product(session, layer.Down, ref downInput, session.Projection, count);
        if (layer.PostFeedForwardNorm is { } postFeedForwardNorm)
        {
            kernels.RmsNorm(stream, session.Projection, postFeedForwardNorm, session.Projection, count, embd, epsilon);
        }
        if (nextBlockFollows)
        {
            return true;
        }
        kernels.Add(stream, count * embd, session.Residual, session.Projection);
        return false;
    }

    /// <summary>
    /// Whether every present matrix is F16 (and at least one is present): their shared input can be rounded once
    /// where it is made. Plain parameters rather than a params array: this runs per block per token.
    /// </summary>
    private static bool AllHalf(DeviceMatrix? first, DeviceMatrix? second, DeviceMatrix? third = null, DeviceMatrix? fourth = null)
    {
        bool any = false;
        foreach (var matrix in (ReadOnlySpan<DeviceMatrix?>)[first, second, third, fourth])
        {
            if (matrix is null)
            {
                continue;
            }
            if (matrix.Type != GgmlType.F16)
            {
                return false;
            }
            any = true;
        }
        return any;
    }

    /// <summary>result_norm and result_output for residual rows [firstRow, firstRow + rows), into Logits rows [0, rows).</summary>
    private void WriteLogits(IlgpuSession session, int firstRow, int rows)
    {
        int embd = Config.EmbeddingLength;
        var residual = session.Residual.SubView((long)firstRow * embd, (long)rows * embd);
        kernels.RmsNorm(session.Stream, residual, weights.OutputNorm, session.Normalized, rows, embd, Config.RmsEpsilon);
        Product(session, weights.Output!, session.Normalized, session.Logits, rows);
        if (Config.FinalSoftCap > 0f)
        {
            kernels.SoftCap(session.Stream, rows * Config.VocabularySize, session.Logits, Config.FinalSoftCap);
        }
    }

    /// <summary>y = W · x for <paramref name="tokens"/> rows; F16 weights see x rounded to half (ggml's F16 × F16 product).</summary>
    private void Product(IlgpuSession session, DeviceMatrix matrix, ArrayView<float> x, ArrayView<float> y, int tokens)
    {
        var input = new ProductInput(x, tokens * matrix.Columns);
        Product(session, matrix, ref input, y, tokens);
    }

    /// <summary>As above, for an input several products share: it is rounded to half at most once.</summary>
    private void Product(IlgpuSession session, DeviceMatrix matrix, ref ProductInput input, ArrayView<float> y, int tokens) =>
        kernels.MatMul(session.Stream, matrix, ProductValues(session, matrix, ref input), y, tokens);

    /// <summary>The activations <paramref name="matrix"/> multiplies: for F16 weights the half-rounded copy (made on first use).</summary>
    private ArrayView<float> ProductValues(IlgpuSession session, DeviceMatrix matrix, ref ProductInput input)
    {
        if (input.AllHalf)
        {
            // Rounded where they were written; only F16 products read them.
            return input.Values;
        }
        if (matrix.Type != GgmlType.F16)
        {
            return input.Values;
        }
        if (!input.Rounded)
        {
            kernels.RoundToHalf(session.Stream, input.Elements, input.Values, session.Rounded);
            input.Rounded = true;
        }
        return session.Rounded;
    }

    /// <summary>
    /// Activations [tokens, columns] about to enter products, and whether Rounded holds their half-rounded copy.
    /// AllHalf: the values were rounded to half where they were written, because only F16 products read them.
    /// </summary>
    private struct ProductInput(ArrayView<float> values, int elements, bool allHalf = false)
    {
        public ArrayView<float> Values = values;
        public int Elements = elements;
        public bool AllHalf = allHalf;
        public bool Rounded;
    }

    private void Validate(IlgpuSession session, ReadOnlySpan<int> tokens, ReadOnlySpan<float> hiddenIn, int n, bool fromTokens,
        Span<float> output, Output kind)
    {
        if (n <= 0)
        {
            throw new ArgumentException("At least one token must be evaluated.", fromTokens ? nameof(tokens) : nameof(n));
        }
        int embd = Config.EmbeddingLength;
        if (fromTokens)
        {
            if (!Range.IncludesEmbedding)
            {
                throw new InvalidOperationException($"Layer range {Range} does not start at layer 0, so it takes hidden states, not tokens.");
            }
            for (int i = 0; i < tokens.Length; i++)
            {
                if ((uint)tokens[i] >= (uint)Config.VocabularySize)
                {
                    throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i],
                        $"Token {i} has id {tokens[i]}, outside the vocabulary [0, {Config.VocabularySize}).");
                }
            }
        }
        else if (hiddenIn.Length < (long)n * embd)
        {
            throw new ArgumentException($"{n} hidden states need {(long)n * embd} values ({n} x {embd}) but {hiddenIn.Length} were given.", nameof(hiddenIn));
        }
        long required = kind switch
        {
            Output.Hidden => (long)n * embd,
            Output.AllLogits => (long)n * Config.VocabularySize,
            Output.Greedy or Output.DeviceLogits => 0,
            _ => Config.VocabularySize,
        };
        if (output.Length < required)
        {
            throw new ArgumentException($"The output buffer holds {output.Length} values but {required} are needed.", nameof(output));
        }
        session.EnsureCapacity(n);
    }
}
