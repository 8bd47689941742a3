using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model.Tensor;

/// <summary>
/// One tensor-parallel shard's weights, read from the shard's own copy of the GGUF: for every block the row and
/// column blocks of <see cref="TensorSlice"/> (copied out of the mapping, so the shard's process holds about
/// 1/N of the block matrices), the norms whole, the token embedding as a view of the mapping (one row read per
/// token) and its rows of the output head. <see cref="ShardConfig"/> is the model's configuration narrowed to
/// the shard's heads and hidden units, which is what the block evaluates and what its KV cache holds.
/// A shard of a hybrid split holds only the blocks of its group's <see cref="Range"/>: the embedding is read only
/// when the range starts at layer 0, the output head only when it ends at the last layer.
/// </summary>
public sealed unsafe class TensorShardWeights : IDisposable
{
    private readonly SliceMemory _memory;

    private TensorShardWeights(LlamaConfig config, LlamaConfig shardConfig, TensorSlice slice, LayerRange range, LlamaWeights full,
        LlamaLayerWeights[] layers, WeightMatrix outputSlice, SliceMemory memory)
    {
        Config = config;
        Range = range;
        ShardConfig = shardConfig;
        Slice = slice;
        Full = full;
        Layers = layers;
        _output = outputSlice;
        _memory = memory;
    }

    /// <summary>The whole model's configuration.</summary>
    public LlamaConfig Config { get; }

    /// <summary>The configuration of the shard's part of each block (its heads, KV heads and hidden units).</summary>
    public LlamaConfig ShardConfig { get; }

    public TensorSlice Slice { get; }

    /// <summary>The blocks this shard holds: every layer for -Split Tensor, its group's range in a hybrid split.</summary>
    public LayerRange Range { get; }

    /// <summary>Whether the range starts at layer 0 (the shard takes token ids).</summary>
    public bool HasTokenEmbedding => Range.IncludesEmbedding;

    /// <summary>Whether the range ends at the last layer (the shard writes logit columns).</summary>
    public bool HasOutput => Range.IncludesOutput(Config.LayerCount);

    /// <summary>Every block's slices of <see cref="Range"/>, in layer order.</summary>
    public IReadOnlyList<LlamaLayerWeights> Layers { get; }

    /// <summary>token_embd.weight [n_embd, n_vocab], a view of the mapping.</summary>
    public WeightMatrix TokenEmbedding => Full.TokenEmbedding;

    /// <summary>output_norm.weight [n_embd].</summary>
    public float[] OutputNorm => Full.OutputNorm;

    /// <summary>Rows [VocabularyStart, +VocabularyCount) of output.weight (or the tied embedding); only with <see cref="HasOutput"/>.</summary>
    public WeightMatrix Output => HasOutput ? _output
        : throw new InvalidOperationException($"Layers {Range} do not end at the output head.");

    private readonly WeightMatrix _output;

    /// <summary>Bytes of the copied slices: what this shard streams per token besides one embedding row.</summary>
    public long SliceBytes => _memory.Bytes;

    /// <summary>The model-wide RoPE factors for a session of <paramref name="contextSize"/> (see <see cref="LlamaWeights.RopeFactorsFor"/>).</summary>
    public float[]? RopeFactorsFor(int contextSize) => Full.RopeFactorsFor(contextSize);

    internal LlamaWeights Full { get; }

    /// <summary>
    /// Loads <paramref name="slice"/> of every block of <paramref name="file"/>. The file is validated as a whole
    /// model first (<see cref="UnsupportedModelException"/> as <see cref="LlamaWeights.Load"/> throws it); a slice
    /// that does not fit the file's types throws <see cref="TensorSplitException"/>. The file must stay open while
    /// the weights are used (the embedding is read from its mapping).
    /// </summary>
    public static TensorShardWeights Load(GgufFile file, LlamaConfig config, TensorSlice slice) =>
        Load(file, config, slice, LayerRange.All(config.LayerCount));

    /// <summary>
    /// Loads <paramref name="slice"/> of the blocks in <paramref name="range"/> only (a stage of a hybrid split);
    /// the output rows are copied only when the range ends at the last layer.
    /// </summary>
    public static TensorShardWeights Load(GgufFile file, LlamaConfig config, TensorSlice slice, LayerRange range)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(slice);
        if (range.Count <= 0 || range.OutputElsewhere)
        {
            throw new ArgumentException($"A shard holds at least one block of the model, not {range}.", nameof(range));
        }
        range.EnsureWithin(config.LayerCount, nameof(range));
        LlamaConfig shardConfig = ShardConfigOf(config, slice);
        LlamaWeights full = LlamaWeights.Load(file, config, range, WeightMemory.Mapped);
        var memory = new SliceMemory();
        try
        {
            var layers = new LlamaLayerWeights[range.Count];
            for (int slot = 0; slot < range.Count; slot++)
            {
                layers[slot] = SliceLayer(file, config, slice, full.Layers[slot], memory);
            }
            WeightMatrix output = default;
            if (range.IncludesOutput(config.LayerCount))
            {
                string headName = full.OutputIsTiedToEmbedding ? LlamaTensorNames.TokenEmbedding : LlamaTensorNames.Output;
                WeightMatrix head = Raw(file, headName, config.EmbeddingLength, config.VocabularySize);
                output = memory.Rows(head, (slice.VocabularyStart, slice.VocabularyCount));
            }
            // Slicing read the whole matrices through the mapping; from here on only the embedding's rows are.
            file.ReleaseMappedPagesExcept(range.IncludesEmbedding ? [file.GetTensor(LlamaTensorNames.TokenEmbedding)] : []);
            return new TensorShardWeights(config, shardConfig, slice, range, full, layers, output, memory);
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <paramref name="config"/> narrowed to the heads and hidden units of <paramref name="slice"/>: the shapes
    /// the shared block code then evaluates for this shard.
    /// </summary>
    public static LlamaConfig ShardConfigOf(LlamaConfig config, TensorSlice slice)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(slice);
        if (config.Architecture == ModelArchitecture.Gemma2.Name && config.LayerCount == 46)
        {
            // Its query scale is n_embd / n_head of the whole model, which a narrowed configuration would change.
            throw new TensorSplitException(
                "Gemma 2 27B scales its queries by the whole model's n_embd / n_head; split it by layers instead.");
        }
        return new LlamaConfig(config.EmbeddingLength, config.LayerCount, slice.FeedForwardCount, slice.HeadCount,
            slice.KvHeadCount, config.RmsEpsilon, config.ContextLength, config.VocabularySize, config.HeadDimension,
            config.RopeFreqBase, config.RopeDimensionCount, config.Architecture, config.SlidingWindow,
            config.AttentionSoftCap, config.FinalSoftCap, config.RopeOriginalContext, config.RopeAttentionFactor);
    }

    public void Dispose() => _memory.Dispose();

    private static LlamaLayerWeights SliceLayer(GgufFile file, LlamaConfig config, TensorSlice slice,
        LlamaLayerWeights whole, SliceMemory memory)
    {
        int layer = whole.Index;
        int embd = config.EmbeddingLength, headDimension = config.HeadDimension;
        int queryStart = slice.HeadStart * headDimension, queryCount = slice.HeadCount * headDimension;
        int kvStart = slice.KvHeadStart * headDimension, kvCount = slice.KvHeadCount * headDimension;
        int ffStart = slice.FeedForwardStart, ffCount = slice.FeedForwardCount;
        ModelArchitecture traits = config.Traits;
        WeightMatrix Matrix(string suffix, int columns, int rows) => Raw(file, LlamaTensorNames.Block(layer, suffix), columns, rows);

        WeightMatrix query = default, key = default, value = default, gate = default, up = default;
        WeightMatrix? queryKeyValue = null, gateUp = null;
        if (traits.FusedQueryKeyValue)
        {
            // attn_qkv rows: [Q of every head | K of every KV head | V of every KV head]; the shard's heads of each.
            WeightMatrix fused = Matrix(LlamaTensorNames.QueryKeyValueSuffix, embd, config.QueryWidth + 2 * config.KvWidth);
            queryKeyValue = memory.Rows(fused, (queryStart, queryCount), (config.QueryWidth + kvStart, kvCount),
                (config.QueryWidth + config.KvWidth + kvStart, kvCount));
        }
        else
        {
            query = memory.Rows(Matrix(LlamaTensorNames.QuerySuffix, embd, config.QueryWidth), (queryStart, queryCount));
            key = memory.Rows(Matrix(LlamaTensorNames.KeySuffix, embd, config.KvWidth), (kvStart, kvCount));
            value = memory.Rows(Matrix(LlamaTensorNames.ValueSuffix, embd, config.KvWidth), (kvStart, kvCount));
        }
        if (traits.FusedGateUp)
        {
            // ffn_up (phi3) rows: [gate of every hidden unit | up of every hidden unit].
            WeightMatrix fused = Matrix(LlamaTensorNames.UpSuffix, embd, 2 * config.FeedForwardLength);
            gateUp = memory.Rows(fused, (ffStart, ffCount), (config.FeedForwardLength + ffStart, ffCount));
        }
        else
        {
            gate = memory.Rows(Matrix(LlamaTensorNames.GateSuffix, embd, config.FeedForwardLength), (ffStart, ffCount));
            up = memory.Rows(Matrix(LlamaTensorNames.UpSuffix, embd, config.FeedForwardLength), (ffStart, ffCount));
        }
        WeightMatrix attentionOutput = Columns(memory, Matrix(LlamaTensorNames.AttentionOutputSuffix, config.QueryWidth, embd),
            queryStart, queryCount, layer, LlamaTensorNames.AttentionOutputSuffix);
        WeightMatrix down = Columns(memory, Matrix(LlamaTensorNames.DownSuffix, config.FeedForwardLength, embd),
            ffStart, ffCount, layer, LlamaTensorNames.DownSuffix);

        var extras = new QueryKeyValueExtras(
            whole.QueryBias?.AsSpan(queryStart, queryCount).ToArray(),
            whole.KeyBias?.AsSpan(kvStart, kvCount).ToArray(),
            whole.ValueBias?.AsSpan(kvStart, kvCount).ToArray(),
            whole.QueryNorm,
            whole.KeyNorm);
        return new LlamaLayerWeights(layer, whole.AttentionNorm, query, key, value, attentionOutput, whole.FeedForwardNorm,
            gate, up, down, extras, queryKeyValue, gateUp, whole.PostAttentionNorm, whole.PostFeedForwardNorm);
    }

    private static WeightMatrix Columns(SliceMemory memory, in WeightMatrix matrix, int start, int count, int layer, string suffix)
    {
        int blockSize = GgmlTypeInfo.BlockSize(matrix.Type);
        if (start % blockSize != 0 || count % blockSize != 0)
        {
            throw new TensorSplitException(
                $"Tensor '{LlamaTensorNames.Block(layer, suffix)}' is {GgmlTypeInfo.Name(matrix.Type)} (blocks of {blockSize}); " +
                $"columns [{start}, {start + count}) do not fall on block boundaries. Plan the slices with this tensor's type.");
        }
        return memory.Columns(matrix, start, count);
    }

    /// <summary>The file's own rows of a tensor (never a regrouped copy), shape-checked by the whole-model load before.</summary>
    private static WeightMatrix Raw(GgufFile file, string name, int columns, int rows)
    {
        GgufTensorInfo tensor = LlamaTensorReader.Require(file, name);
        return new WeightMatrix(file.GetTensorPointer(tensor), tensor.Type, rows, columns);
    }
}
