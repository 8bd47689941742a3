using BenchmarkDotNet.Attributes;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.KernelBenchmarks;

/// <summary>
/// Decode-shaped work: one token's activations against every row of a TinyLlama q_proj-sized matrix (2048 x
/// 2048), one row dot at a time on one thread, through the type's row kernel at each level. The matrix (1.1 MB
/// at Q4_0, 8 MB at F16) is read from cache, so the figures compare the kernels' instruction streams, not memory.
/// </summary>
public unsafe class RowDotBenchmarks
{
    private KernelData _data = null!;
    private delegate*<byte*, byte*, int, float> _kernel;

    [Params(GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K)]
    public GgmlType Type { get; set; }

    [Params(SimdLevel.Vector256, SimdLevel.Vector512)]
    public SimdLevel Level { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        if (!SimdCapabilities.IsSupported(Level))
        {
            throw new NotSupportedException($"This CPU does not run {Level}.");
        }
        _data = new KernelData(Type, rows: 2048, columns: 2048, tokens: 1);
        _kernel = Quantizer.DotKernel(Type, Level);
    }

    [GlobalCleanup]
    public void Cleanup() => _data.Dispose();

    [Benchmark]
    public float DecodeMatrix()
    {
        float sum = 0;
        for (int r = 0; r < _data.Rows; r++)
        {
            sum += _kernel(_data.Weights + r * _data.RowBytes, _data.Activations, _data.Columns);
        }
        return sum;
    }
}
