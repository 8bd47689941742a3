using System.Runtime.InteropServices;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;

namespace LlamaDist.Engine.Tests.Agreement;

/// <summary>
/// Turns a synthetic llama GGUF into another architecture's file, as llama.cpp's converter lays it out: the
/// hyperparameters under "&lt;arch&gt;." keys, the same matrices, plus what the architecture adds, with
/// deterministic values:
/// <code>
/// qwen2  : blk.N.attn_q.bias [n_q], attn_k.bias / attn_v.bias [n_kv]            U(-0.5, 0.5)
/// qwen3  : blk.N.attn_q_norm.weight / attn_k_norm.weight [head_dim], key_length  0.75 .. 1.25
/// llama3 : rope_freqs.weight [n_rot / 2] (1 for high frequencies rising to 8 for low ones, as llama 3's
///          long-context scaling shapes them), no output.weight (the head is tied to token_embd), base 500000
/// </code>
/// </summary>
public static class ArchitectureVariants
{
    public static readonly string[] Names = ["qwen2", "qwen3", "llama3"];

    public static string Write(string sourcePath, string destinationPath, string variant, int seed)
    {
        using var source = GgufFile.Open(sourcePath);
        var config = LlamaConfig.FromGguf(source);
        string architecture = variant == "llama3" ? "llama" : variant;
        var writer = new GgufWriter();
        foreach (var (key, value) in source.MetadataEntries)
        {
            if (key == "general.alignment")
            {
                continue;
            }
            var renamed = key.StartsWith("llama.", StringComparison.Ordinal) ? architecture + key["llama".Length..] : key;
            writer.SetMetadata(renamed, key == "general.architecture" ? architecture : value);
        }
        if (variant == "qwen3")
        {
            writer.SetMetadata("qwen3.attention.key_length", (uint)config.HeadDimension);
            writer.SetMetadata("qwen3.attention.value_length", (uint)config.HeadDimension);
        }
        if (variant == "llama3")
        {
            writer.SetMetadata("llama.rope.freq_base", 500000f);
        }

        var random = new Random(seed);
        foreach (var tensor in source.Tensors)
        {
            if (variant == "llama3" && tensor.Name == LlamaTensorNames.Output)
            {
                continue;
            }
            var bytes = source.GetTensorBytes(tensor).ToArray();
            writer.AddTensor(tensor.Name, tensor.Type, tensor.Dimensions, stream => stream.Write(bytes));
            if (tensor.Name.StartsWith("blk.", StringComparison.Ordinal) && tensor.Name.EndsWith(LlamaTensorNames.AttentionNormSuffix, StringComparison.Ordinal))
            {
                string prefix = tensor.Name[..^LlamaTensorNames.AttentionNormSuffix.Length];
                if (variant == "qwen2")
                {
                    AddVector(writer, prefix + LlamaTensorNames.QueryBiasSuffix, Uniform(random, config.QueryWidth, 0.5f));
                    AddVector(writer, prefix + LlamaTensorNames.KeyBiasSuffix, Uniform(random, config.KvWidth, 0.5f));
                    AddVector(writer, prefix + LlamaTensorNames.ValueBiasSuffix, Uniform(random, config.KvWidth, 0.5f));
                }
                if (variant == "qwen3")
                {
                    AddVector(writer, prefix + LlamaTensorNames.QueryNormSuffix, NearOne(random, config.HeadDimension));
                    AddVector(writer, prefix + LlamaTensorNames.KeyNormSuffix, NearOne(random, config.HeadDimension));
                }
            }
        }
        if (variant == "llama3")
        {
            int pairs = config.RopeDimensionCount / 2;
            var factors = Enumerable.Range(0, pairs).Select(i => 1f + 7f * i / Math.Max(1, pairs - 1)).ToArray();
            AddVector(writer, LlamaTensorNames.RopeFrequencies, factors);
        }
        writer.WriteTo(destinationPath);
        return destinationPath;
    }

    private static void AddVector(GgufWriter writer, string name, float[] values) =>
        writer.AddTensor(name, GgmlType.F32, [values.Length], stream => stream.Write(MemoryMarshal.AsBytes(values.AsSpan())));

    private static float[] Uniform(Random random, int count, float scale) =>
        Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();

    private static float[] NearOne(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => 0.75f + (float)random.NextDouble() * 0.5f).ToArray();
}
