using ILGPU;
using ILGPU.Runtime;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Gpu;

/// <summary>A weight matrix on the device: <see cref="Rows"/> rows of <see cref="Columns"/> elements in ggml's block layout of <see cref="Type"/>.</summary>
internal sealed class DeviceMatrix(GgmlType type, int rows, int columns, long rowBytes, MemoryBuffer1D<byte, Stride1D.Dense> buffer) : IDisposable
{
    public GgmlType Type { get; } = type;

    public int Rows { get; } = rows;

    public int Columns { get; } = columns;

    public long RowBytes { get; } = rowBytes;

    public MemoryBuffer1D<byte, Stride1D.Dense> Buffer { get; } = buffer;

    public ArrayView<byte> View => Buffer.View;

    public void Dispose() => Buffer.Dispose();
}
