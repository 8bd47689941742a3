using ILGPU;
using ILGPU.Runtime;
using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Gpu;

/// <summary>One block's tensors on the device (null where the architecture has none).</summary>
internal sealed class DeviceLayer
{
    public required int Index { get; init; }
    public required ArrayView<float> AttentionNorm { get; init; }
    public DeviceMatrix? Query { get; init; }
    public DeviceMatrix? Key { get; init; }
    public DeviceMatrix? Value { get; init; }
    public DeviceMatrix? QueryKeyValue { get; init; }
    public required DeviceMatrix AttentionOutput { get; init; }
    public required ArrayView<float> FeedForwardNorm { get; init; }
    public DeviceMatrix? Gate { get; init; }
    public DeviceMatrix? Up { get; init; }
    public DeviceMatrix? GateUp { get; init; }
    public required DeviceMatrix Down { get; init; }
    public ArrayView<float>? QueryBias { get; init; }
    public ArrayView<float>? KeyBias { get; init; }
    public ArrayView<float>? ValueBias { get; init; }
    public ArrayView<float>? QueryNorm { get; init; }
    public ArrayView<float>? KeyNorm { get; init; }
    public ArrayView<float>? PostAttentionNorm { get; init; }
    public ArrayView<float>? PostFeedForwardNorm { get; init; }
}

/// <summary>
/// A layer range's weights uploaded once: matrices of the types the kernels read natively stay in their block
/// format byte for byte; any other type is converted to F16 here (<see cref="ConvertedTypes"/> says which, for the
/// warning). The tied output head shares the embedding's buffer. Everything is freed by <see cref="Dispose"/>.
/// </summary>
internal sealed unsafe class DeviceWeights : IDisposable
{
    /// <summary>Bytes copied per transfer: spans are int-sized, and a bounded chunk keeps the pinned window small.</summary>
    private const int UploadChunk = 256 << 20;

    private readonly List<MemoryBuffer> buffers = [];
    private readonly HashSet<GgmlType> converted = [];

    public DeviceWeights(Accelerator accelerator, AcceleratorStream stream, LlamaConfig config, LlamaWeights weights)
    {
        Range = weights.Range;
        var layers = new List<DeviceLayer>();
        foreach (var layer in weights.Layers)
        {
            layers.Add(new DeviceLayer
            {
                Index = layer.Index,
                AttentionNorm = Vector(accelerator, stream, layer.AttentionNorm),
                QueryKeyValue = layer.QueryKeyValue is { } fused ? Matrix(accelerator, stream, fused) : null,
                Query = layer.QueryKeyValue is null ? Matrix(accelerator, stream, layer.Query) : null,
                Key = layer.QueryKeyValue is null ? Matrix(accelerator, stream, layer.Key) : null,
                Value = layer.QueryKeyValue is null ? Matrix(accelerator, stream, layer.Value) : null,
                AttentionOutput = Matrix(accelerator, stream, layer.AttentionOutput),
                FeedForwardNorm = Vector(accelerator, stream, layer.FeedForwardNorm),
                GateUp = layer.GateUp is { } gateUp ? Matrix(accelerator, stream, gateUp) : null,
                Gate = layer.GateUp is null ? Matrix(accelerator, stream, layer.Gate) : null,
                Up = layer.GateUp is null ? Matrix(accelerator, stream, layer.Up) : null,
                Down = Matrix(accelerator, stream, layer.Down),
                QueryBias = OptionalVector(accelerator, stream, layer.QueryBias),
                KeyBias = OptionalVector(accelerator, stream, layer.KeyBias),
                ValueBias = OptionalVector(accelerator, stream, layer.ValueBias),
                QueryNorm = OptionalVector(accelerator, stream, layer.QueryNorm),
                KeyNorm = OptionalVector(accelerator, stream, layer.KeyNorm),
                PostAttentionNorm = OptionalVector(accelerator, stream, layer.PostAttentionNorm),
                PostFeedForwardNorm = OptionalVector(accelerator, stream, layer.PostFeedForwardNorm),
            });
        }
        Layers = layers;
        if (weights.HasTokenEmbedding)
        {
            TokenEmbedding = Matrix(accelerator, stream, weights.TokenEmbedding);
        }
        if (weights.HasOutput)
        {
            OutputNorm = Vector(accelerator, stream, weights.OutputNorm);
            Output = weights.OutputIsTiedToEmbedding && TokenEmbedding is not null
                ? TokenEmbedding
                : Matrix(accelerator, stream, weights.Output);
        }
        stream.Synchronize();
    }

    public LayerRange Range { get; }

    public IReadOnlyList<DeviceLayer> Layers { get; }

    public DeviceMatrix? TokenEmbedding { get; }

    public ArrayView<float> OutputNorm { get; }

    public DeviceMatrix? Output { get; }

    /// <summary>Types that were converted to F16 at upload because no kernel reads them natively.</summary>
    public IReadOnlyCollection<GgmlType> ConvertedTypes => converted;

    /// <summary>Device bytes the weights of <paramref name="weights"/> take once uploaded (F16 for converted types).</summary>
    public static long DeviceBytes(LlamaWeights weights)
    {
        long total = 0;
        foreach (var layer in weights.Layers)
        {
            total += 4L * (layer.AttentionNorm.Length + layer.FeedForwardNorm.Length);
            foreach (var matrix in new[] { layer.QueryKeyValue, layer.QueryKeyValue is null ? layer.Query : null,
                         layer.QueryKeyValue is null ? layer.Key : null, layer.QueryKeyValue is null ? layer.Value : null,
                         layer.AttentionOutput, layer.GateUp, layer.GateUp is null ? layer.Gate : null,
                         layer.GateUp is null ? layer.Up : null, layer.Down })
            {
                total += matrix is { } m ? MatrixBytes(m) : 0;
            }
        }
        if (weights.HasTokenEmbedding)
        {
            total += MatrixBytes(weights.TokenEmbedding);
        }
        if (weights.HasOutput && !(weights.OutputIsTiedToEmbedding && weights.HasTokenEmbedding))
        {
            total += MatrixBytes(weights.Output);
        }
        return total;
    }

    public void Dispose()
    {
        foreach (var buffer in buffers)
        {
            buffer.Dispose();
        }
        buffers.Clear();
    }

    private static long MatrixBytes(WeightMatrix matrix) => IlgpuKernels.NativeTypes.Contains(matrix.Type)
        ? matrix.Rows * matrix.RowBytes
        : 2L * matrix.Rows * matrix.Columns;

    private ArrayView<float> Vector(Accelerator accelerator, AcceleratorStream stream, float[] values)
    {
        var buffer = accelerator.Allocate1D<float>(values.Length);
        buffers.Add(buffer);
        buffer.View.CopyFromCPU(stream, values);
        return buffer.View;
    }

    private ArrayView<float>? OptionalVector(Accelerator accelerator, AcceleratorStream stream, float[]? values) =>
        values is null ? null : Vector(accelerator, stream, values);

    private DeviceMatrix Matrix(Accelerator accelerator, AcceleratorStream stream, WeightMatrix matrix)
    {
        if (matrix.Layout != WeightLayout.Rows)
        {
            throw new ArgumentException($"A {matrix.Type} matrix regrouped for the CPU kernels ({matrix.Layout}) cannot be uploaded; load the weights mapped.");
        }
        if (IlgpuKernels.NativeTypes.Contains(matrix.Type))
        {
            long bytes = matrix.Rows * matrix.RowBytes;
            var buffer = accelerator.Allocate1D<byte>(bytes);
            buffers.Add(buffer);
            for (long offset = 0; offset < bytes; offset += UploadChunk)
            {
                int length = (int)Math.Min(UploadChunk, bytes - offset);
                buffer.View.SubView(offset, length).CopyFromCPU(stream, new ReadOnlySpan<byte>(matrix.Data + offset, length));
                stream.Synchronize();
            }
            return new DeviceMatrix(matrix.Type, matrix.Rows, matrix.Columns, matrix.RowBytes, buffer);
        }
        return ConvertToHalf(accelerator, stream, matrix);
    }

    /// <summary>Dequantizes each row with the CPU engine's own row reader and stores it as F16.</summary>
    private DeviceMatrix ConvertToHalf(Accelerator accelerator, AcceleratorStream stream, WeightMatrix matrix)
    {
        converted.Add(matrix.Type);
        long rowBytes = 2L * matrix.Columns;
        var buffer = accelerator.Allocate1D<byte>(matrix.Rows * rowBytes);
        buffers.Add(buffer);
        int rowsPerChunk = (int)Math.Max(1, UploadChunk / rowBytes);
        var row = new float[matrix.Columns];
        var halves = new ushort[(long)Math.Min(rowsPerChunk, matrix.Rows) * matrix.Columns];
        for (int first = 0; first < matrix.Rows; first += rowsPerChunk)
        {
            int count = Math.Min(rowsPerChunk, matrix.Rows - first);
            for (int r = 0; r < count; r++)
            {
                MatrixKernels.GetRow(matrix, first + r, row);
                for (int c = 0; c < row.Length; c++)
                {
                    halves[(long)r * matrix.Columns + c] = BitConverter.HalfToUInt16Bits((System.Half)row[c]);
                }
            }
            var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(halves.AsSpan(0, count * matrix.Columns));
            ReadOnlySpan<byte> source = bytes;
            buffer.View.SubView(first * rowBytes, bytes.Length).CopyFromCPU(stream, source);
            stream.Synchronize();
        }
        return new DeviceMatrix(GgmlType.F16, matrix.Rows, matrix.Columns, rowBytes, buffer);
    }
}
