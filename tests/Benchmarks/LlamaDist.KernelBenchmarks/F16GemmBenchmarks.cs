using BenchmarkDotNet.Attributes;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.KernelBenchmarks;

/// <summary>
/// Prompt-shaped F16 work through <see cref="F16Gemm"/> on one thread, at each level (AVX2 4 x 3 tiles, AVX-512
/// 4 x 6 tiles), panel conversion included: 512 rows of a TinyLlama-shaped model's widths (2048: attention and
/// ffn_gate / ffn_up; 5632: ffn_down) against a prompt's worth of tokens (pp128 and pp512 batches).
/// </summary>
[MinColumn]
public unsafe class F16GemmBenchmarks
{
    private KernelData _data = null!;
    private float[] _output = [];

    [Params(SimdLevel.Vector256, SimdLevel.Vector512)]
    public SimdLevel Level { get; set; }

    [Params(2048, 5632)]
    public int Columns { get; set; }

    [Params(128, 512)]
    public int Tokens { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        if (!F16Gemm.Supports(Level, Columns))
        {
            throw new NotSupportedException($"This CPU does not run the F16 GEMM at {Level}.");
        }
        _data = new KernelData(GgmlType.F16, rows: 512, columns: Columns, tokens: Tokens);
        _output = new float[Tokens * _data.Rows];
    }

    [GlobalCleanup]
    public void Cleanup() => _data.Dispose();

    /// <summary>2 x rows x columns x tokens floating-point operations per call.</summary>
    [Benchmark]
    public void Gemm()
    {
        fixed (float* output = _output)
        {
            F16Gemm.Rows(Level, _data.Weights, _data.RowBytes, _data.Rows, _data.Columns, _data.FloatActivations,
                Tokens, output, 0, _data.Rows);
        }
    }
}
