namespace LlamaDist.Core.Model;

/// <summary>
/// A contiguous run of transformer blocks [Start, EndExclusive) evaluated by one node. The first range (Start 0)
/// also owns the token embedding; the range ending at the model's layer count also owns the output norm and head,
/// unless the head runs on a stage of its own: then that range is marked <see cref="OutputElsewhere"/> and the
/// last stage is <see cref="OutputHead"/>, an empty range at the end that holds only output_norm and the head
/// (how a model with fewer blocks than nodes still splits, e.g. a one-layer model over two workers).
/// A single range covering every layer is the whole model.
/// </summary>
public readonly record struct LayerRange
{
    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless 0 &lt;= start &lt; endExclusive.</summary>
    public LayerRange(int Start, int EndExclusive)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(Start);
        if (EndExclusive <= Start)
        {
            throw new ArgumentOutOfRangeException(nameof(EndExclusive), EndExclusive,
                $"A layer range must hold at least one layer: end {EndExclusive} must be greater than start {Start}.");
        }
        this.Start = Start;
        this.EndExclusive = EndExclusive;
    }

    private LayerRange(int start, int endExclusive, bool outputElsewhere)
    {
        Start = start;
        EndExclusive = endExclusive;
        OutputElsewhere = outputElsewhere;
    }

    /// <summary>True when a later stage applies the output head although this range ends at the last layer.</summary>
    public bool OutputElsewhere { get; }

    /// <summary>True for <see cref="OutputHead"/>: no blocks, only output_norm and the head.</summary>
    public bool IsOutputHeadOnly => Count == 0 && Start > 0;

    /// <summary>The same blocks, with the output head left to a later stage.</summary>
    public LayerRange WithOutputElsewhere() => new(Start, EndExclusive, outputElsewhere: true);

    /// <summary>The stage that runs only output_norm and the head of a model with <paramref name="layerCount"/> layers.</summary>
    public static LayerRange OutputHead(int layerCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layerCount);
        return new LayerRange(layerCount, layerCount, outputElsewhere: false);
    }

    /// <summary>First layer of the range.</summary>
    public int Start { get; }

    /// <summary>One past the last layer of the range.</summary>
    public int EndExclusive { get; }

    /// <summary>Number of layers in the range.</summary>
    public int Count => EndExclusive - Start;

    /// <summary>True for the first range: it turns token ids into embeddings (token_embd.weight).</summary>
    public bool IncludesEmbedding => Start == 0;

    /// <summary>
    /// True for the last range of a model with <paramref name="layerCount"/> layers: it applies output_norm and
    /// the output head to produce logits.
    /// </summary>
    public bool IncludesOutput(int layerCount) => EndExclusive == layerCount && !OutputElsewhere;

    /// <summary>True when this single range is the whole model of <paramref name="layerCount"/> layers.</summary>
    public bool IsWholeModel(int layerCount) => Start == 0 && EndExclusive == layerCount && !OutputElsewhere;

    /// <summary>True when <paramref name="layer"/> (a model-wide index) belongs to this range.</summary>
    public bool Contains(int layer) => layer >= Start && layer < EndExclusive;

    /// <summary>Every layer of a model with <paramref name="layerCount"/> layers.</summary>
    public static LayerRange All(int layerCount) => new(0, layerCount);

    /// <summary>
    /// Splits <paramref name="layerCount"/> layers into <paramref name="parts"/> contiguous ranges whose sizes
    /// differ by at most one (earlier ranges get the extra layers), in order.
    /// </summary>
    public static LayerRange[] Split(int layerCount, int parts)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(layerCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(parts);
        if (parts > layerCount)
        {
            throw new ArgumentOutOfRangeException(nameof(parts), parts,
                $"Cannot split {layerCount} layers into {parts} non-empty ranges.");
        }
        var ranges = new LayerRange[parts];
        int start = 0;
        for (int i = 0; i < parts; i++)
        {
            int size = layerCount / parts + (i < layerCount % parts ? 1 : 0);
            ranges[i] = new LayerRange(start, start + size);
            start += size;
        }
        return ranges;
    }

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> unless the range lies inside a model of
    /// <paramref name="layerCount"/> layers (a default-constructed, empty range never does).
    /// </summary>
    public void EnsureWithin(int layerCount, string parameterName)
    {
        bool headOnly = Count == 0 && Start == layerCount && layerCount > 0 && !OutputElsewhere;
        if ((Count <= 0 && !headOnly) || EndExclusive > layerCount)
        {
            throw new ArgumentOutOfRangeException(parameterName, this,
                $"Layer range {this} does not fit a model of {layerCount} layers.");
        }
    }

    /// <summary>Deconstructs like the positional record the contract describes.</summary>
    public void Deconstruct(out int start, out int endExclusive)
    {
        start = Start;
        endExclusive = EndExclusive;
    }

    public override string ToString() =>
        IsOutputHeadOnly ? "[output head]" : OutputElsewhere ? $"[{Start}, {EndExclusive}) without the head" : $"[{Start}, {EndExclusive})";
}
