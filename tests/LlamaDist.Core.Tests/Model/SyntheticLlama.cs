using System.Runtime.InteropServices;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Tests.Model;

/// <summary>
/// A small llama model held as plain float weights, written to GGUF with <see cref="GgufWriter"/> in any storage
/// type. Tests edit <see cref="Metadata"/> and <see cref="Tensors"/> to build broken models, and the naive
/// reference reads the same floats (exact for F32 storage).
/// </summary>
internal sealed class SyntheticLlama
{
    public SyntheticLlama(int embd, int layers, int ffn, int heads, int kvHeads, int vocabulary, int seed,
        GgmlType matrixType = GgmlType.F32, bool tiedOutput = false, float ropeBase = 10000f, int ropeDimensions = 0)
    {
        Embd = embd;
        Layers = layers;
        Ffn = ffn;
        Heads = heads;
        KvHeads = kvHeads;
        Vocabulary = vocabulary;
        HeadDim = embd / heads;
        RopeBase = ropeBase;
        RopeDimensions = ropeDimensions == 0 ? HeadDim : ropeDimensions;
        Epsilon = 1e-5f;

        Metadata["general.architecture"] = "llama";
        Metadata["general.name"] = "model test llama";
        Metadata["llama.context_length"] = 64u;
        Metadata["llama.embedding_length"] = (uint)embd;
        Metadata["llama.block_count"] = (uint)layers;
        Metadata["llama.feed_forward_length"] = (uint)ffn;
        Metadata["llama.attention.head_count"] = (uint)heads;
        Metadata["llama.attention.head_count_kv"] = (uint)kvHeads;
        Metadata["llama.attention.layer_norm_rms_epsilon"] = Epsilon;
        Metadata["llama.rope.freq_base"] = ropeBase;
        Metadata["llama.rope.dimension_count"] = (uint)RopeDimensions;

        var random = new Random(seed);
        int kvWidth = kvHeads * HeadDim;
        // Scales keep every activation O(1): matrices ~ U(-1, 1) / sqrt(columns), norms near 1.
        Add(LlamaTensorNames.TokenEmbedding, matrixType, embd, vocabulary, Uniform(random, embd * vocabulary, 1f));
        for (int layer = 0; layer < layers; layer++)
        {
            string prefix = LlamaTensorNames.BlockPrefix(layer);
            Add(prefix + "attn_norm.weight", GgmlType.F32, embd, 1, Norm(random, embd));
            Add(prefix + "attn_q.weight", matrixType, embd, embd, Uniform(random, embd * embd, 2f / MathF.Sqrt(embd)));
            Add(prefix + "attn_k.weight", matrixType, embd, kvWidth, Uniform(random, embd * kvWidth, 2f / MathF.Sqrt(embd)));
            Add(prefix + "attn_v.weight", matrixType, embd, kvWidth, Uniform(random, embd * kvWidth, 1f / MathF.Sqrt(embd)));
            Add(prefix + "attn_output.weight", matrixType, embd, embd, Uniform(random, embd * embd, 1f / MathF.Sqrt(embd)));
            Add(prefix + "ffn_norm.weight", GgmlType.F32, embd, 1, Norm(random, embd));
            Add(prefix + "ffn_gate.weight", matrixType, embd, ffn, Uniform(random, embd * ffn, 2f / MathF.Sqrt(embd)));
            Add(prefix + "ffn_up.weight", matrixType, embd, ffn, Uniform(random, embd * ffn, 1f / MathF.Sqrt(embd)));
            Add(prefix + "ffn_down.weight", matrixType, ffn, embd, Uniform(random, ffn * embd, 1f / MathF.Sqrt(ffn)));
        }
        Add(LlamaTensorNames.OutputNorm, GgmlType.F32, embd, 1, Norm(random, embd));
        if (!tiedOutput)
        {
            Add(LlamaTensorNames.Output, matrixType, embd, vocabulary, Uniform(random, embd * vocabulary, 2f / MathF.Sqrt(embd)));
        }
    }

    public int Embd { get; }
    public int Layers { get; }
    public int Ffn { get; }
    public int Heads { get; }
    public int KvHeads { get; }
    public int Vocabulary { get; }
    public int HeadDim { get; }
    public float RopeBase { get; }
    public int RopeDimensions { get; }
    public float Epsilon { get; }

    /// <summary>Metadata written in insertion order; tests remove or change entries.</summary>
    public Dictionary<string, object> Metadata { get; } = new();

    /// <summary>Tensors by name, written in insertion order.</summary>
    public Dictionary<string, SyntheticTensor> Tensors { get; } = new();

    /// <summary>The float values of a tensor (row-major [rows, columns]).</summary>
    public float[] Values(string name) => Tensors[name].Values;

    public void Add(string name, GgmlType type, int columns, int rows, float[] values) =>
        Tensors[name] = new SyntheticTensor(name, type, rows == 1 ? [columns] : [columns, rows], values);

    public string Write(string path)
    {
        var writer = new GgufWriter();
        foreach (var (key, value) in Metadata)
        {
            writer.SetMetadata(key, value);
        }
        foreach (SyntheticTensor tensor in Tensors.Values)
        {
            writer.AddTensor(tensor.Name, tensor.Type, tensor.Dimensions, tensor.WriteTo);
        }
        writer.WriteTo(path);
        return path;
    }

    private static float[] Uniform(Random random, int count, float scale)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (float)(random.NextDouble() * 2 - 1) * scale;
        }
        return values;
    }

    private static float[] Norm(Random random, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = 0.75f + (float)random.NextDouble() * 0.5f;
        }
        return values;
    }
}

/// <summary>One tensor: float values stored as <see cref="Type"/> (quantized row by row when written).</summary>
internal sealed record SyntheticTensor(string Name, GgmlType Type, long[] Dimensions, float[] Values)
{
    public void WriteTo(Stream stream)
    {
        int columns = (int)Dimensions[0];
        if (Type == GgmlType.F32 || !Quantizer.IsSupported(Type))
        {
            // Unsupported types are written as raw bytes of the right size so loaders can reject them by type.
            long bytes = GgmlTypeInfo.RowBytes(Type, columns) * (Values.Length / columns);
            byte[] raw = MemoryMarshal.AsBytes(Values.AsSpan()).ToArray();
            Array.Resize(ref raw, (int)bytes);
            stream.Write(raw);
            return;
        }
        var row = new byte[GgmlTypeInfo.RowBytes(Type, columns)];
        for (int start = 0; start < Values.Length; start += columns)
        {
            Quantizer.QuantizeRow(Type, Values.AsSpan(start, columns), row);
            stream.Write(row);
        }
    }

    /// <summary>The values as the engine sees them after storage (dequantized), row-major.</summary>
    public float[] StoredValues()
    {
        if (Type == GgmlType.F32)
        {
            return Values;
        }
        int columns = (int)Dimensions[0];
        var row = new byte[GgmlTypeInfo.RowBytes(Type, columns)];
        var result = new float[Values.Length];
        for (int start = 0; start < Values.Length; start += columns)
        {
            Quantizer.QuantizeRow(Type, Values.AsSpan(start, columns), row);
            Quantizer.DequantizeRow(Type, row, result.AsSpan(start, columns));
        }
        return result;
    }
}
