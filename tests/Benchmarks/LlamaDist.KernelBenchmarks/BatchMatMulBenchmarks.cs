using BenchmarkDotNet.Attributes;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.KernelBenchmarks;

/// <summary>
/// The engine's own matrix pass (<see cref="MatrixKernels.MatMul"/>, on one and two threads, activation conversion
/// included):
/// 512 rows of a TinyLlama-shaped model's widths against one token (decoding, from cache) and a pp128 batch, in
/// file layout and in the row-group layout the type is regrouped into at load (where this CPU has one), with the
/// pass the matrix's plan chooses on this CPU. The plan follows the process's instruction sets, so the AVX2 figure
/// comes from a second run with <c>DOTNET_EnableAVX512=0</c>.
/// </summary>
[MinColumn]
public unsafe class BatchMatMulBenchmarks
{
    private KernelData _data = null!;
    private byte* _regrouped;
    private ComputeThreads _threads = null!;
    private float[] _input = [];
    private float[] _output = [];

    [Params(GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0)]
    public GgmlType Type { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [Params(2048, 5632)]
    public int Columns { get; set; }

    [Params(1, 128)]
    public int Tokens { get; set; }

    [Params(false, true)]
    public bool Regrouped { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new KernelData(Type, rows: 512, columns: Columns, tokens: Tokens);
        _threads = new ComputeThreads(Threads);
        _input = new ReadOnlySpan<float>(_data.FloatActivations, Tokens * Columns).ToArray();
        _output = new float[Tokens * _data.Rows];
        if (Regrouped)
        {
            WeightLayout layout = RowGroupLayouts.LayoutOf(Type);
            if (layout == WeightLayout.Rows || !RowGroupLayouts.IsSupported(layout))
            {
                throw new NotSupportedException($"This CPU does not regroup {Type} matrices.");
            }
            long bytes = _data.Rows * _data.RowBytes;
            _regrouped = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)bytes, 64);
            Buffer.MemoryCopy(_data.Weights, _regrouped, bytes, bytes);
            byte* scratch = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(8 * _data.RowBytes), 64);
            bool regrouped = RowGroupLayouts.TryRegroupInPlace(Type, _regrouped, _data.Rows,
                Columns / GgmlTypeInfo.BlockSize(Type), scratch);
            System.Runtime.InteropServices.NativeMemory.AlignedFree(scratch);
            if (!regrouped)
            {
                throw new InvalidOperationException("The benchmark matrix has a non-finite scale.");
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _threads.Dispose();
        _data.Dispose();
        System.Runtime.InteropServices.NativeMemory.AlignedFree(_regrouped);
        _regrouped = null;
    }

    /// <summary>2 x rows x columns x tokens multiply-adds per call.</summary>
    [Benchmark]
    public void MatMul()
    {
        var matrix = Regrouped
            ? new WeightMatrix(_regrouped, Type, _data.Rows, Columns, RowGroupLayouts.LayoutOf(Type))
            : new WeightMatrix(_data.Weights, Type, _data.Rows, Columns);
        MatrixKernels.MatMul(_threads, matrix, _input, _output, Tokens);
    }
}
