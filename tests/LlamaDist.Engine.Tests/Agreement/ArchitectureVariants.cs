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
/// phi3   : blk.N.attn_qkv.weight = rows of attn_q, attn_k, attn_v; blk.N.ffn_up.weight = rows of ffn_gate then
///          ffn_up (no ffn_gate); a sliding window of 8 positions, which llama.cpp (and so this engine) ignores
/// gemma2 : blk.N.post_attention_norm / post_ffw_norm [n_embd] 0.75 .. 1.25, no output.weight (tied), attention
///          and final logit soft-caps 50 and 30, a sliding window of 8 (so the even layers' window is crossed),
///          key/value lengths
/// </code>
/// </summary>
public static class ArchitectureVariants
{
    public static readonly string[] Names = ["qwen2", "qwen3", "llama3", "phi3", "gemma2"];

    /// <summary>The sliding window the phi3 variant declares.</summary>
    public const uint Phi3Window = 8;

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
        if (variant == "phi3")
        {
            writer.SetMetadata("phi3.attention.sliding_window", Phi3Window);
        }
        if (variant == "gemma2")
        {
            writer.SetMetadata("gemma2.attention.sliding_window", Phi3Window);
            writer.SetMetadata("gemma2.attn_logit_softcapping", 50f);
            writer.SetMetadata("gemma2.final_logit_softcapping", 30f);
            writer.SetMetadata("gemma2.attention.key_length", (uint)config.HeadDimension);
            writer.SetMetadata("gemma2.attention.value_length", (uint)config.HeadDimension);
        }

        var random = new Random(seed);
        foreach (var tensor in source.Tensors)
        {
            if (variant is "llama3" or "gemma2" && tensor.Name == LlamaTensorNames.Output)
            {
                continue;
            }
            if (variant == "phi3" && Fuse(source, writer, tensor))
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
                if (variant == "gemma2")
                {
                    AddVector(writer, prefix + LlamaTensorNames.PostAttentionNormSuffix, NearOne(random, config.EmbeddingLength));
                    AddVector(writer, prefix + LlamaTensorNames.PostFeedForwardNormSuffix, NearOne(random, config.EmbeddingLength));
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

    /// <summary>
    /// phi3's fused matrices: at attn_q the rows of q, k and v as attn_qkv, at ffn_gate the rows of gate and up as
    /// ffn_up (rows of a matrix are whole blocks, so their bytes concatenate); the parts themselves are dropped.
    /// </summary>
    private static bool Fuse(GgufFile source, GgufWriter writer, GgufTensorInfo tensor)
    {
        static bool Is(GgufTensorInfo t, string suffix) => t.Name.StartsWith("blk.", StringComparison.Ordinal) && t.Name.EndsWith(suffix, StringComparison.Ordinal);
        string Sibling(string suffix, string ownSuffix) => tensor.Name[..^ownSuffix.Length] + suffix;
        if (Is(tensor, LlamaTensorNames.QuerySuffix))
        {
            var parts = new[] { tensor, source.GetTensor(Sibling(LlamaTensorNames.KeySuffix, LlamaTensorNames.QuerySuffix)), source.GetTensor(Sibling(LlamaTensorNames.ValueSuffix, LlamaTensorNames.QuerySuffix)) };
            WriteRows(source, writer, Sibling(LlamaTensorNames.QueryKeyValueSuffix, LlamaTensorNames.QuerySuffix), parts);
            return true;
        }
        if (Is(tensor, LlamaTensorNames.GateSuffix))
        {
            var parts = new[] { tensor, source.GetTensor(Sibling(LlamaTensorNames.UpSuffix, LlamaTensorNames.GateSuffix)) };
            WriteRows(source, writer, Sibling(LlamaTensorNames.UpSuffix, LlamaTensorNames.GateSuffix), parts);
            return true;
        }
        return Is(tensor, LlamaTensorNames.KeySuffix) || Is(tensor, LlamaTensorNames.ValueSuffix) || Is(tensor, LlamaTensorNames.UpSuffix);
    }

    private static void WriteRows(GgufFile source, GgufWriter writer, string name, GgufTensorInfo[] parts)
    {
        if (parts.Any(part => part.Type != parts[0].Type))
        {
            throw new InvalidOperationException($"{name}: the parts have different types; fuse only uniformly typed models.");
        }
        var bytes = parts.SelectMany(part => source.GetTensorBytes(part).ToArray()).ToArray();
        long rows = parts.Sum(part => part.Dimensions[1]);
        writer.AddTensor(name, parts[0].Type, [parts[0].Dimensions[0], rows], stream => stream.Write(bytes));
    }

    private static void AddVector(GgufWriter writer, string name, float[] values) =>
        writer.AddTensor(name, GgmlType.F32, [values.Length], stream => stream.Write(MemoryMarshal.AsBytes(values.AsSpan())));

    private static float[] Uniform(Random random, int count, float scale) =>
        Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();

    private static float[] NearOne(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => 0.75f + (float)random.NextDouble() * 0.5f).ToArray();
}
