using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Distributed.Weights;

/// <summary>
/// The content hash that names a layer range on the wire (ModelIdentity.range_hash): lowercase hex SHA-256 over
/// the range's tensors in file order, each contributing its UTF-8 name, ggml type (uint32 LE), dimension count
/// and dimensions (uint64 LE), then its data. File names and metadata do not take part, so the same weights
/// hash alike in the original GGUF and in a worker's cache file.
/// </summary>
public static class RangeHasher
{
    public static string Hash(GgufFile file, IReadOnlyList<GgufTensorInfo> tensors, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(tensors);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (GgufTensorInfo tensor in tensors)
        {
            cancellationToken.ThrowIfCancellationRequested();
            AppendDescriptor(hash, tensor.Name, tensor.Type, tensor.Dimensions);
            ReadOnlySpan<byte> data = file.GetTensorBytes(tensor);
            // Feed in slices so a cancelled hash of a multi-gigabyte range stops within a few milliseconds.
            const int slice = 16 << 20;
            for (int offset = 0; offset < data.Length; offset += slice)
            {
                cancellationToken.ThrowIfCancellationRequested();
                hash.AppendData(data.Slice(offset, Math.Min(slice, data.Length - offset)));
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The per-tensor header bytes that precede its data in the hash.</summary>
    public static void AppendDescriptor(IncrementalHash hash, string name, GgmlType type, IReadOnlyList<long> dimensions)
    {
        ArgumentNullException.ThrowIfNull(hash);
        hash.AppendData(Encoding.UTF8.GetBytes(name));
        Span<byte> number = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(number, (uint)type);
        hash.AppendData(number[..4]);
        BinaryPrimitives.WriteUInt64LittleEndian(number, (ulong)dimensions.Count);
        hash.AppendData(number);
        foreach (long dimension in dimensions)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(number, (ulong)dimension);
            hash.AppendData(number);
        }
    }
}
