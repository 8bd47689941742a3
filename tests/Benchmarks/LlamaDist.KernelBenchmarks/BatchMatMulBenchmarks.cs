using BenchmarkDotNet.Attributes;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.KernelBenchmarks;

/// <summary>
/// Prompt-shaped work through the engine's own matrix pass (<see cref="MatrixKernels.MatMul"/>, one thread,
/// activation conversion included): 512 rows of a TinyLlama-shaped model's widths against a pp128 batch, with the
/// pass the matrix's plan chooses on this CPU. The plan follows the process's instruction sets, so the AVX2 figure
/// comes from a second run with <c>DOTNET_EnableAVX512=0</c>.
/// </summary>
[MinColumn]
public unsafe class BatchMatMulBenchmarks
{
    private const int Tokens = 128;
    private KernelData _data = null!;
    private ComputeThreads _threads = null!;
    private float[] _input = [];
    private float[] _output = [];

    [Params(GgmlType.Q8_0, GgmlType.Q4_0)]
    public GgmlType Type { get; set; }

    [Params(2048, 5632)]
    public int Columns { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new KernelData(Type, rows: 512, columns: Columns, tokens: Tokens);
        _threads = new ComputeThreads(1);
        _input = new ReadOnlySpan<float>(_data.FloatActivations, Tokens * Columns).ToArray();
        _output = new float[Tokens * _data.Rows];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _threads.Dispose();
        _data.Dispose();
    }

    /// <summary>2 x rows x columns x tokens multiply-adds per call.</summary>
    [Benchmark]
    public void MatMul()
    {
        var matrix = new WeightMatrix(_data.Weights, Type, _data.Rows, Columns);
        MatrixKernels.MatMul(_threads, matrix, _input, _output, Tokens);
    }
}
