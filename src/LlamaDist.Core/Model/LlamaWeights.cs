using System.Globalization;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model;

/// <summary>
/// The weights one <see cref="LayerRange"/> needs: its blocks, plus token_embd.weight for the first range and
/// output_norm / output for the last. Matrices are views into the memory-mapped file, or into the file's copy of
/// them in process memory (<see cref="WeightMemory.Resident"/>, Q4_0 and Q4_K regrouped there); either way the
/// <see cref="GgufFile"/> owns the bytes and must stay open while these weights are used. Norm weights are small
/// float copies.
/// </summary>
public sealed class LlamaWeights
{
    private readonly LlamaLayerWeights[] _layers;
    private readonly WeightMatrix _tokenEmbedding;
    private readonly WeightMatrix _output;
    private readonly float[]? _outputNorm;

    private LlamaWeights(GgufFile file, LlamaConfig config, LayerRange range, WeightMemory memory,
        LlamaLayerWeights[] layers, WeightMatrix tokenEmbedding, float[]? outputNorm, WeightMatrix output, bool outputTied,
        float[]? ropeFrequencyFactors, float[]? ropeFactorsLong, float[]? ropeFactorsShort)
    {
        RopeFrequencyFactors = ropeFrequencyFactors;
        RopeFactorsLong = ropeFactorsLong;
        RopeFactorsShort = ropeFactorsShort;
        File = file;
        Memory = memory;
        Config = config;
        Range = range;
        _layers = layers;
        _tokenEmbedding = tokenEmbedding;
        _outputNorm = outputNorm;
        _output = output;
        OutputIsTiedToEmbedding = outputTied;
    }

    /// <summary>The mapped file the matrices point into.</summary>
    public GgufFile File { get; }

    public LlamaConfig Config { get; }

    /// <summary>Where the matrices are read from: <see cref="WeightMemory.Mapped"/> or <see cref="WeightMemory.Resident"/>.</summary>
    public WeightMemory Memory { get; }

    /// <summary>The layers these weights cover.</summary>
    public LayerRange Range { get; }

    /// <summary>The blocks of <see cref="Range"/>, in order (element i is layer Range.Start + i).</summary>
    public IReadOnlyList<LlamaLayerWeights> Layers => _layers;

    /// <summary>True when the range starts at layer 0 and so holds the token embedding.</summary>
    public bool HasTokenEmbedding => Range.IncludesEmbedding;

    /// <summary>True when the range ends at the last layer and so holds output_norm and the output head.</summary>
    public bool HasOutput => Range.IncludesOutput(Config.LayerCount);

    /// <summary>rope_freqs.weight [n_rot / 2] (llama 3): each pair's rotation angle is divided by its factor; null when absent.</summary>
    public float[]? RopeFrequencyFactors { get; }

    /// <summary>rope_factors_long.weight / rope_factors_short.weight [n_rot / 2] (LongRoPE); null when absent.</summary>
    public float[]? RopeFactorsLong { get; }

    public float[]? RopeFactorsShort { get; }

    /// <summary>
    /// The factors that divide the RoPE angles of a session holding <paramref name="contextSize"/> tokens: llama 3's
    /// rope_freqs, or LongRoPE's long factors beyond the original context and its short ones within it (as llama.cpp
    /// chooses them by the context it was given); null: plain RoPE.
    /// </summary>
    public float[]? RopeFactorsFor(int contextSize) =>
        RopeFrequencyFactors ?? (contextSize > Config.RopeOriginalContext ? RopeFactorsLong : RopeFactorsShort);

    /// <summary>True when the file has no output.weight and the head reuses token_embd.weight (tied embeddings).</summary>
    public bool OutputIsTiedToEmbedding { get; }

    /// <summary>token_embd.weight [n_embd, n_vocab]; only the first range has it.</summary>
    public WeightMatrix TokenEmbedding => HasTokenEmbedding ? _tokenEmbedding
        : throw new InvalidOperationException($"Layer range {Range} does not start at layer 0, so it has no token embedding.");

    /// <summary>output_norm.weight [n_embd]; only the last range has it.</summary>
    public float[] OutputNorm => _outputNorm
        ?? throw new InvalidOperationException($"Layer range {Range} does not end at the last layer, so it has no output norm.");

    /// <summary>output.weight (or the tied token_embd.weight) [n_embd, n_vocab]; only the last range has it.</summary>
    public WeightMatrix Output => HasOutput ? _output
        : throw new InvalidOperationException($"Layer range {Range} does not end at the last layer, so it has no output head.");

    /// <summary>The block with model-wide index <paramref name="layer"/>, which must lie in <see cref="Range"/>.</summary>
    public LlamaLayerWeights GetLayer(int layer)
    {
        if (!Range.Contains(layer))
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"Layer {layer} is outside the range {Range}.");
        }
        return _layers[layer - Range.Start];
    }

    /// <summary>
    /// Loads the tensors of <paramref name="range"/> and checks every one: present, shaped as
    /// <paramref name="config"/> says, of a supported weight type. Anything else — including tensors the llama
    /// forward pass would silently ignore, such as biases — throws <see cref="UnsupportedModelException"/> naming
    /// the tensor. <paramref name="memory"/> says whether the matrices stay mapped or are read into process memory
    /// (Auto decides by <see cref="WeightMemoryPolicy"/>); the matrices streamed per token are what is copied, the
    /// token embedding (one row read per token) stays mapped unless it doubles as the output head. Copied Q4_0
    /// and Q4_K matrices are regrouped for the kernels (<see cref="MatrixRegrouping"/>), which changes their float
    /// rounding from the row dots' to the row groups' (<see cref="Q4_0RowGroups.Reference"/>,
    /// <see cref="Q4_KRowGroups.Reference"/>). <paramref name="weightRepacking"/> false is llama.cpp's --no-repack:
    /// nothing is regrouped and Q8_0 batches keep the row dot's rounding (<see cref="MatrixPlan.Choose"/>), for
    /// comparing with llama.cpp's plain kernels.
    /// </summary>
    public static LlamaWeights Load(GgufFile file, LlamaConfig config, LayerRange range,
        WeightMemory memory = WeightMemory.Auto, bool weightRepacking = true)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(config);
        range.EnsureWithin(config.LayerCount, nameof(range));
        RejectUnknownTensors(file, config, range);
        IReadOnlyList<GgufTensorInfo> streamed = StreamedMatrices(file, config, range);
        memory = WeightMemoryPolicy.Resolve(memory, streamed.Sum(tensor => tensor.ByteSize));
        if (memory == WeightMemory.Resident)
        {
            ReadIntoMemory(file, streamed, weightRepacking);
        }

        int embd = config.EmbeddingLength;
        var layers = new LlamaLayerWeights[range.Count];
        for (int layer = range.Start; layer < range.EndExclusive; layer++)
        {
            layers[layer - range.Start] = LoadLayer(file, config, layer, weightRepacking);
        }
        float[]? ropeFactors = OptionalVector(file, config.Traits.RopeFrequencyFactors, LlamaTensorNames.RopeFrequencies, config.RopeDimensionCount / 2);
        float[]? longFactors = OptionalVector(file, config.Traits.LongRopeFactors, LlamaTensorNames.RopeFactorsLong, config.RopeDimensionCount / 2);
        float[]? shortFactors = OptionalVector(file, config.Traits.LongRopeFactors, LlamaTensorNames.RopeFactorsShort, config.RopeDimensionCount / 2);
        if ((longFactors is null) != (shortFactors is null))
        {
            throw new UnsupportedModelException(
                $"The model has only one of '{LlamaTensorNames.RopeFactorsLong}' and '{LlamaTensorNames.RopeFactorsShort}'; LongRoPE needs both.",
                longFactors is null ? LlamaTensorNames.RopeFactorsLong : LlamaTensorNames.RopeFactorsShort);
        }

        WeightMatrix tokenEmbedding = default;
        WeightMatrix output = default;
        float[]? outputNorm = null;
        bool tied = file.FindTensor(LlamaTensorNames.Output) is null;
        if (range.IncludesEmbedding || (range.IncludesOutput(config.LayerCount) && tied))
        {
            tokenEmbedding = LlamaTensorReader.Matrix(file, LlamaTensorNames.TokenEmbedding, embd, config.VocabularySize, weightRepacking);
        }
        if (range.IncludesOutput(config.LayerCount))
        {
            outputNorm = LlamaTensorReader.Vector(file, LlamaTensorNames.OutputNorm, embd);
            output = tied ? tokenEmbedding
                : LlamaTensorReader.Matrix(file, LlamaTensorNames.Output, embd, config.VocabularySize, weightRepacking);
        }
        return new LlamaWeights(file, config, range, memory, layers, tokenEmbedding, outputNorm, output, tied, ropeFactors,
            longFactors, shortFactors);
    }

    /// <summary>A model-wide F32 vector the architecture may have, or null when it has none (or the file lacks it).</summary>
    private static float[]? OptionalVector(GgufFile file, bool architectureHasIt, string name, int length) =>
        architectureHasIt && file.FindTensor(name) is not null ? LlamaTensorReader.Vector(file, name, length) : null;

    /// <summary>
    /// Copies the streamed matrices into process memory, regrouping those the kernels read faster so unless
    /// <paramref name="repacking"/> is off.
    /// </summary>
    private static unsafe void ReadIntoMemory(GgufFile file, IReadOnlyList<GgufTensorInfo> streamed, bool repacking) =>
        file.ReadTensorsIntoMemory(streamed, repacking ? MatrixRegrouping.Regroup : null);

    /// <summary>
    /// The matrices a token streams through in <paramref name="range"/>: every block matrix, and the output head
    /// (output.weight, or token_embd.weight when tied) for the last range. Missing tensors are skipped here and
    /// reported by the checks that follow.
    /// </summary>
    private static IReadOnlyList<GgufTensorInfo> StreamedMatrices(GgufFile file, LlamaConfig config, LayerRange range)
    {
        var names = new List<string>();
        for (int layer = range.Start; layer < range.EndExclusive; layer++)
        {
            foreach (string suffix in config.Traits.MatrixSuffixes)
            {
                names.Add(LlamaTensorNames.Block(layer, suffix));
            }
        }
        if (range.IncludesOutput(config.LayerCount))
        {
            names.Add(file.FindTensor(LlamaTensorNames.Output) is null ? LlamaTensorNames.TokenEmbedding : LlamaTensorNames.Output);
        }
        var tensors = new List<GgufTensorInfo>(names.Count);
        foreach (string name in names)
        {
            if (file.FindTensor(name) is GgufTensorInfo tensor)
            {
                tensors.Add(tensor);
            }
        }
        return tensors;
    }

    private static LlamaLayerWeights LoadLayer(GgufFile file, LlamaConfig config, int layer, bool repacking)
    {
        int embd = config.EmbeddingLength;
        ModelArchitecture traits = config.Traits;
        string Name(string suffix) => LlamaTensorNames.Block(layer, suffix);
        WeightMatrix Matrix(string suffix, int columns, int rows) => LlamaTensorReader.Matrix(file, Name(suffix), columns, rows, repacking);
        bool fusedQkv = traits.FusedQueryKeyValue, fusedUp = traits.FusedGateUp;
        return new LlamaLayerWeights(
            layer,
            attentionNorm: LlamaTensorReader.Vector(file, Name(LlamaTensorNames.AttentionNormSuffix), embd),
            query: fusedQkv ? default : Matrix(LlamaTensorNames.QuerySuffix, embd, config.QueryWidth),
            key: fusedQkv ? default : Matrix(LlamaTensorNames.KeySuffix, embd, config.KvWidth),
            value: fusedQkv ? default : Matrix(LlamaTensorNames.ValueSuffix, embd, config.KvWidth),
            attentionOutput: Matrix(LlamaTensorNames.AttentionOutputSuffix, config.QueryWidth, embd),
            feedForwardNorm: LlamaTensorReader.Vector(file, Name(LlamaTensorNames.FeedForwardNormSuffix), embd),
            gate: fusedUp ? default : Matrix(LlamaTensorNames.GateSuffix, embd, config.FeedForwardLength),
            up: fusedUp ? default : Matrix(LlamaTensorNames.UpSuffix, embd, config.FeedForwardLength),
            down: Matrix(LlamaTensorNames.DownSuffix, config.FeedForwardLength, embd),
            extras: LoadExtras(file, config, Name),
            queryKeyValue: fusedQkv ? Matrix(LlamaTensorNames.QueryKeyValueSuffix, embd, config.QueryWidth + 2 * config.KvWidth) : null,
            gateUp: fusedUp ? Matrix(LlamaTensorNames.UpSuffix, embd, 2 * config.FeedForwardLength) : null,
            postAttentionNorm: traits.PostNorms ? LlamaTensorReader.Vector(file, Name(LlamaTensorNames.PostAttentionNormSuffix), embd) : null,
            postFeedForwardNorm: traits.PostNorms ? LlamaTensorReader.Vector(file, Name(LlamaTensorNames.PostFeedForwardNormSuffix), embd) : null);
    }

    /// <summary>The biases (qwen2) or per-head norms (qwen3) the architecture adds around Qcur, Kcur and Vcur.</summary>
    private static QueryKeyValueExtras LoadExtras(GgufFile file, LlamaConfig config, Func<string, string> name)
    {
        ModelArchitecture traits = config.Traits;
        return new QueryKeyValueExtras(
            traits.QueryKeyValueBiases ? LlamaTensorReader.Vector(file, name(LlamaTensorNames.QueryBiasSuffix), config.QueryWidth) : null,
            traits.QueryKeyValueBiases ? LlamaTensorReader.Vector(file, name(LlamaTensorNames.KeyBiasSuffix), config.KvWidth) : null,
            traits.QueryKeyValueBiases ? LlamaTensorReader.Vector(file, name(LlamaTensorNames.ValueBiasSuffix), config.KvWidth) : null,
            traits.QueryKeyNorms ? LlamaTensorReader.Vector(file, name(LlamaTensorNames.QueryNormSuffix), config.HeadDimension) : null,
            traits.QueryKeyNorms ? LlamaTensorReader.Vector(file, name(LlamaTensorNames.KeyNormSuffix), config.HeadDimension) : null);
    }

    /// <summary>
    /// Refuses tensors of this range's blocks (and model-wide tensors) that the architecture's graph here does not
    /// use: llama.cpp would apply them (biases, expert routers, rope factors), so ignoring them would give wrong outputs.
    /// </summary>
    private static void RejectUnknownTensors(GgufFile file, LlamaConfig config, LayerRange range)
    {
        var blockSuffixes = new HashSet<string>(config.Traits.BlockSuffixes, StringComparer.Ordinal);
        var shared = new HashSet<string>(config.Traits.SharedTensors, StringComparer.Ordinal)
        {
            LlamaTensorNames.TokenEmbedding, LlamaTensorNames.OutputNorm, LlamaTensorNames.Output,
        };
        foreach (GgufTensorInfo tensor in file.Tensors)
        {
            string name = tensor.Name;
            if (TryParseBlock(name, out int layer, out string suffix))
            {
                if (layer < config.LayerCount && range.Contains(layer) && !blockSuffixes.Contains(suffix))
                {
                    throw new UnsupportedModelException(
                        $"Tensor '{name}' is not part of the {config.Architecture} block this engine implements " +
                        "(mixture-of-experts tensors, and biases or norms the architecture does not have, are not supported).",
                        name);
                }
            }
            else if (!shared.Contains(name))
            {
                throw new UnsupportedModelException(
                    $"Tensor '{name}' is not part of the {config.Architecture} architecture this engine implements.", name);
            }
        }
    }

    private static bool TryParseBlock(string name, out int layer, out string suffix)
    {
        layer = -1;
        suffix = string.Empty;
        if (!name.StartsWith("blk.", StringComparison.Ordinal))
        {
            return false;
        }
        int dot = name.IndexOf('.', 4);
        if (dot < 0 || !int.TryParse(name.AsSpan(4, dot - 4), NumberStyles.None, CultureInfo.InvariantCulture, out layer))
        {
            return false;
        }
        suffix = name[(dot + 1)..];
        return true;
    }
}
