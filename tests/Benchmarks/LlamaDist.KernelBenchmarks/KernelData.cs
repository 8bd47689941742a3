using System.Runtime.InteropServices;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.KernelBenchmarks;

/// <summary>
/// A random weight matrix of one type in native (64-byte aligned) memory and one activation row per token,
/// both as floats and converted to the type's partner, seeded so every run and level sees the same bytes.
/// </summary>
internal sealed unsafe class KernelData : IDisposable
{
    public byte* Weights { get; }
    public long RowBytes { get; }
    public byte* Activations { get; }
    public int ActivationRowBytes { get; }
    public float* FloatActivations { get; }
    public int Rows { get; }
    public int Columns { get; }

    public KernelData(GgmlType type, int rows, int columns, int tokens)
    {
        Rows = rows;
        Columns = columns;
        RowBytes = GgmlTypeInfo.RowBytes(type, columns);
        var random = new Random(1234);
        Weights = (byte*)NativeMemory.AlignedAlloc((nuint)(rows * RowBytes), 64);
        var row = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < columns; i++)
            {
                row[i] = (float)(random.NextDouble() * 2 - 1) * 0.05f;
            }
            Quantizer.QuantizeRow(type, row, new Span<byte>(Weights + r * RowBytes, checked((int)RowBytes)));
        }
        ActivationRowBytes = checked((int)GgmlTypeInfo.RowBytes(Quantizer.ActivationType(type), columns));
        Activations = (byte*)NativeMemory.AlignedAlloc((nuint)(tokens * ActivationRowBytes), 64);
        FloatActivations = (float*)NativeMemory.AlignedAlloc((nuint)(tokens * columns * sizeof(float)), 64);
        for (int t = 0; t < tokens; t++)
        {
            for (int i = 0; i < columns; i++)
            {
                // Rounded to half values: what the F16 kernels are given.
                FloatActivations[(long)t * columns + i] = (float)(Half)(float)(random.NextDouble() * 2 - 1);
            }
            Quantizer.QuantizeActivationRow(type, new ReadOnlySpan<float>(FloatActivations + (long)t * columns, columns),
                new Span<byte>(Activations + (long)t * ActivationRowBytes, ActivationRowBytes));
        }
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(Weights);
        NativeMemory.AlignedFree(Activations);
        NativeMemory.AlignedFree(FloatActivations);
    }
}
