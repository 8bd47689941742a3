using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;

namespace LlamaDist.Distributed.Weights;

/// <summary>
/// The tensors a worker needs to run one layer range, in GGUF file order: every "blk.{i}.*" of the range, the
/// token embedding for the first range, the output norm and head for the last range (the head being the
/// embedding itself when the model ties them), and the architecture's model-wide tensors every range reads
/// (llama 3's rope_freqs). Exactly these are hashed, streamed and cached.
/// </summary>
public static class RangeTensors
{
    public static IReadOnlyList<GgufTensorInfo> Select(GgufFile file, LlamaConfig config, LayerRange range)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(config);
        range.EnsureWithin(config.LayerCount, nameof(range));
        bool includesOutput = range.IncludesOutput(config.LayerCount);
        bool tied = file.FindTensor(LlamaTensorNames.Output) is null;
        var shared = config.Traits.SharedTensors;

        var selected = new List<GgufTensorInfo>();
        foreach (GgufTensorInfo tensor in file.Tensors)
        {
            if (Belongs(tensor.Name, range, includesOutput, tied) || shared.Contains(tensor.Name))
            {
                selected.Add(tensor);
            }
        }
        return selected;
    }

    /// <summary>Data bytes of the tensors <see cref="Select"/> returns.</summary>
    public static long ByteCount(IReadOnlyList<GgufTensorInfo> tensors) => tensors.Sum(tensor => tensor.ByteSize);

    private static bool Belongs(string name, LayerRange range, bool includesOutput, bool tied)
    {
        if (name == LlamaTensorNames.TokenEmbedding)
        {
            return range.IncludesEmbedding || (includesOutput && tied);
        }
        if (name is LlamaTensorNames.OutputNorm or LlamaTensorNames.Output)
        {
            return includesOutput;
        }
        for (int layer = range.Start; layer < range.EndExclusive; layer++)
        {
            if (name.StartsWith(LlamaTensorNames.BlockPrefix(layer), StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }
}
