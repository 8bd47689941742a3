using LlamaDist.Core.Gguf;

namespace LlamaDist.Engine.Tests.TestModels;

/// <summary>
/// GGUF files the engine refuses for one reason each, made by copying a runnable synthetic llama model with one
/// thing changed: an architecture llama.cpp has but this engine does not implement (mamba, every llama.* key
/// renamed), a tokenizer model it does not implement (rwkv), or one matrix in a weight type it cannot compute
/// (IQ4_NL, stored as zero blocks).
/// </summary>
public static class RefusedModels
{
    public const string Architecture = "mamba";
    public const string Tokenizer = "rwkv";
    public const string WeightTypeTensor = "blk.0.attn_q.weight";

    public static string WithArchitecture(string source, string destination) =>
        Copy(source, destination,
            (key, value) => key == "general.architecture" ? (key, Architecture)
                : key.StartsWith("llama.", StringComparison.Ordinal) ? (Architecture + key["llama".Length..], value)
                : (key, value),
            tensorType: null);

    public static string WithTokenizer(string source, string destination) =>
        Copy(source, destination,
            (key, value) => key == "tokenizer.ggml.model" ? (key, Tokenizer) : (key, value), tensorType: null);

    public static string WithWeightType(string source, string destination) =>
        Copy(source, destination, (key, value) => (key, value), GgmlType.IQ4_NL);

    private static string Copy(string source, string destination, Func<string, object, (string, object)> rewrite,
        GgmlType? tensorType)
    {
        using var file = GgufFile.Open(source);
        var writer = new GgufWriter();
        foreach (var entry in file.MetadataEntries)
        {
            var (key, value) = rewrite(entry.Key, entry.Value);
            writer.SetMetadata(key, value);
        }
        foreach (var tensor in file.Tensors)
        {
            if (tensorType is { } type && tensor.Name == WeightTypeTensor)
            {
                long bytes = GgmlTypeInfo.RowBytes(type, tensor.Columns) * tensor.Rows;
                writer.AddTensor(tensor.Name, type, tensor.Dimensions, stream => stream.Write(new byte[bytes]));
            }
            else
            {
                var info = tensor;
                writer.AddTensor(info.Name, info.Type, info.Dimensions, stream => stream.Write(file.GetTensorBytes(info)));
            }
        }
        writer.WriteTo(destination);
        return destination;
    }
}
