using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.KernelBenchmarks;

/// <summary>
/// Decode-shaped work: one token's activations against every row of a TinyLlama q_proj-sized matrix (2048 x
/// 2048), one row dot at a time on one thread, through the type's row kernel at each level. The matrix (1.1 MB
/// at Q4_0, 8 MB at F16) is read from cache, so the figures compare the kernels' instruction streams, not memory.
/// F16 runs the decode kernels <see cref="MatrixKernels"/> uses (float activations); the others the row dots.
/// </summary>
[MinColumn]
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
        if (Type == GgmlType.F16)
        {
            // The kernels MatrixKernels decodes F16 with: float activations rounded to half values and scaled
            // by 2^112 (F16Format.DotScaled256 / DotScaled512).
            _activations = (float*)NativeMemory.AlignedAlloc((nuint)(_data.Columns * sizeof(float)), 64);
            F16Format.RoundAndScaleActivationRow(_data.FloatActivations, _activations, _data.Columns);
            _kernel = Level == SimdLevel.Vector512 ? &F16Format.DotScaled512 : &F16Format.DotScaled256;
        }
    }

    private float* _activations;

    private byte* Activations => _activations != null ? (byte*)_activations : _data.Activations;

    [GlobalCleanup]
    public void Cleanup()
    {
        _data.Dispose();
        NativeMemory.AlignedFree(_activations);
        _activations = null;
    }

    [Benchmark]
    public float DecodeMatrix()
    {
        float sum = 0;
        for (int r = 0; r < _data.Rows; r++)
        {
            sum += _kernel(_data.Weights + r * _data.RowBytes, Activations, _data.Columns);
        }
        return sum;
    }
}
