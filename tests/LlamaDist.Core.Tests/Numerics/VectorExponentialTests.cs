using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using LlamaDist.Core.Numerics;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Tests.Numerics;

/// <summary>
/// Each width of <see cref="VectorExponential"/> against a scalar reference of ggml's arithmetic for that width
/// (bit for bit), and against exp in double (within ggml's stated 1.5 ulp), on every width this CPU runs.
/// </summary>
public sealed class VectorExponentialTests
{
    /// <summary>Inputs across the whole range: the polynomial's interior, the split-scale range (|n| &gt; 126), beyond saturation, and special values.</summary>
    private static float[] Inputs()
    {
        var values = new List<float> { 0f, -0f, 1f, -1f, 1e-30f, -1e-30f, 88.3f, 88.5f, 89f, -87.3f, -87.4f, -95f, -103.9f, -104.1f, -120f, -140f,
            140f, 200f, -200f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, float.MaxValue, float.MinValue };
        var random = new Random(7);
        for (int i = 0; i < 20000; i++)
        {
            values.Add((float)(random.NextDouble() * 220 - 120));
        }
        for (int i = 0; i < 4000; i++)
        {
            values.Add((float)(random.NextDouble() * 40 - 30)); // where softmax and SiLU inputs live
        }
        while (values.Count % 16 != 0)
        {
            values.Add(0.5f);
        }
        return [.. values];
    }

    // ggml's 128- and 256-bit form, one lane: k + k * p, with k = 2^n from the shifter's bits; split scales past |n| = 126.
    private static float ReferenceFusedForm(float x, bool fused)
    {
        float Mad(float a, float b, float c) => fused ? MathF.FusedMultiplyAdd(a, b, c) : a * b + c;
        float Nmad(float a, float b, float c) => fused ? MathF.FusedMultiplyAdd(-a, b, c) : c - a * b;
        float shifter = BitConverter.UInt32BitsToSingle(0x4B400000);
        float z = Mad(x, BitConverter.UInt32BitsToSingle(0x3FB8AA3B), shifter);
        float n = z - shifter;
        float b = Nmad(n, BitConverter.UInt32BitsToSingle(0x35BFBE8E), Nmad(n, BitConverter.UInt32BitsToSingle(0x3F317200), x));
        int e = BitConverter.SingleToInt32Bits(z) << 23;
        float k = BitConverter.Int32BitsToSingle(e + BitConverter.SingleToInt32Bits(1f));
        float u = b * b;
        float j = Mad(Mad(Mad(BitConverter.UInt32BitsToSingle(0x3C072010), b, BitConverter.UInt32BitsToSingle(0x3D2B9F17)), u,
                Mad(BitConverter.UInt32BitsToSingle(0x3E2AAF33), b, BitConverter.UInt32BitsToSingle(0x3EFFFEDB))),
            u, BitConverter.UInt32BitsToSingle(0x3F7FFFF6) * b);
        if (!(MathF.Abs(n) > 126f))
        {
            return Mad(j, k, k);
        }
        int g = n <= 0f ? unchecked((int)0x82000000) : 0;
        float s1 = BitConverter.Int32BitsToSingle(g + 0x7F000000);
        float s2 = BitConverter.Int32BitsToSingle(e - g);
        return MathF.Abs(n) > 192f ? s1 * s1 : Mad(s2, j, s2) * s1;
    }

    // ggml's 512-bit form, one lane: 1 + p rounded, then scaled by 2^n (vscalefps); saturated past |n| = 192.
    private static float ReferenceScaledForm(float x)
    {
        float shifter = BitConverter.UInt32BitsToSingle(0x4B400000);
        float z = MathF.FusedMultiplyAdd(x, BitConverter.UInt32BitsToSingle(0x3FB8AA3B), shifter);
        float n = z - shifter;
        float b = MathF.FusedMultiplyAdd(-n, BitConverter.UInt32BitsToSingle(0x35BFBE8E),
            MathF.FusedMultiplyAdd(-n, BitConverter.UInt32BitsToSingle(0x3F317200), x));
        float u = b * b;
        float j = MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(BitConverter.UInt32BitsToSingle(0x3C072010), b, BitConverter.UInt32BitsToSingle(0x3D2B9F17)), u,
                MathF.FusedMultiplyAdd(BitConverter.UInt32BitsToSingle(0x3E2AAF33), b, BitConverter.UInt32BitsToSingle(0x3EFFFEDB))),
            u, MathF.FusedMultiplyAdd(BitConverter.UInt32BitsToSingle(0x3F7FFFF6), b, 1f));
        if (MathF.Abs(n) > 192f)
        {
            return n <= 0f ? 0f : float.PositiveInfinity;
        }
        if (float.IsNaN(n))
        {
            return float.NaN;
        }
        return MathF.ScaleB(j, (int)n);
    }

    private static void AssertSameBits(float[] inputs, float[] actual, Func<float, float> reference, string form)
    {
        for (int i = 0; i < inputs.Length; i++)
        {
            float expected = reference(inputs[i]);
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual[i]) || (float.IsNaN(expected) && float.IsNaN(actual[i])),
                $"{form} exp({inputs[i]:R}) = {actual[i]:R}, the reference gives {expected:R}");
        }
    }

    /// <summary>Within 2.5 ulp of exp in double wherever the result is a normal float (ggml states at most 1.45 ulp plus 0.5 for the final rounding).</summary>
    private static void AssertAccurate(float[] inputs, float[] actual, string form)
    {
        for (int i = 0; i < inputs.Length; i++)
        {
            float x = inputs[i];
            if (float.IsNaN(x) || x < -87f || x > 88f)
            {
                continue;
            }
            double exact = Math.Exp(x);
            double ulp = MathF.BitIncrement((float)exact) - (float)exact;
            Assert.True(Math.Abs(actual[i] - exact) <= 2.5 * ulp, $"{form} exp({x:R}) = {actual[i]:R}, exp in double {exact:R}");
        }
    }

    /// <summary>Runs <paramref name="exp"/> (inputs, offset, outputs) over the inputs a vector of <paramref name="width"/> at a time and checks each lane.</summary>
    private static void CheckForm(int width, Action<float[], int, float[]> exp, Func<float, float> reference, string form)
    {
        float[] inputs = Inputs();
        float[] actual = new float[inputs.Length];
        for (int i = 0; i < inputs.Length; i += width)
        {
            exp(inputs, i, actual);
        }
        AssertSameBits(inputs, actual, reference, form);
        AssertAccurate(inputs, actual, form);
    }

    [SkippableFact]
    public void The512BitFormIsGgmlsScaledForm()
    {
        Skip.IfNot(Avx512F.IsSupported && Avx512DQ.IsSupported, "This CPU (or the runtime's settings) has no AVX-512F/DQ, which ggml's 512-bit form needs.");
        CheckForm(16, (x, i, y) => VectorExponential.Exp(Vector512.Create(x.AsSpan(i, 16))).CopyTo(y, i), ReferenceScaledForm, "512-bit");
    }

    [SkippableFact]
    public void The256BitFormIsGgmlsFusedForm()
    {
        Skip.IfNot(Avx2.IsSupported && Fma.IsSupported, "This CPU (or the runtime's settings) has no AVX2 with FMA, which ggml's 256-bit form needs.");
        CheckForm(8, (x, i, y) => VectorExponential.Exp(Vector256.Create(x.AsSpan(i, 8))).CopyTo(y, i), x => ReferenceFusedForm(x, fused: true), "256-bit");
    }

    [SkippableFact]
    public void The128BitFormIsGgmlsFusedFormWithThisCpusMultiplyAdd()
    {
        Skip.IfNot(Vector128.IsHardwareAccelerated, "This CPU runs no 128-bit vectors.");
        bool fused = Fma.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported;
        CheckForm(4, (x, i, y) => VectorExponential.Exp(Vector128.Create(x.AsSpan(i, 4))).CopyTo(y, i), x => ReferenceFusedForm(x, fused), "128-bit");
    }

    [Fact]
    public void TheWidthFollowsTheEngine()
    {
        SimdLevel expected = SimdCapabilities.Best == SimdLevel.Vector512 && Avx512DQ.IsSupported ? SimdLevel.Vector512
            : SimdCapabilities.IsSupported(SimdLevel.Vector256) ? SimdLevel.Vector256
            : SimdCapabilities.IsSupported(SimdLevel.Vector128) ? SimdLevel.Vector128 : SimdLevel.Scalar;
        Assert.Equal(expected, VectorExponential.Level);
    }

    /// <summary>The 512- and 256-bit forms do differ in the last bit (the reason the width must follow llama.cpp's build).</summary>
    [Fact]
    public void TheScaledAndFusedFormsDifferSomewhere()
    {
        float[] inputs = Inputs();
        int differing = inputs.Count(x => !float.IsNaN(x) &&
            BitConverter.SingleToInt32Bits(ReferenceScaledForm(x)) != BitConverter.SingleToInt32Bits(ReferenceFusedForm(x, fused: true)));
        Assert.InRange(differing, 1, inputs.Length / 4);
    }

    /// <summary>Softmax takes a row as llama.cpp's padded KV row: the same values as the row padded with masked entries.</summary>
    [Fact]
    public void SoftmaxOfARowEqualsSoftmaxOfItPaddedWithMaskedEntries()
    {
        var random = new Random(11);
        foreach (int length in new[] { 1, 3, 7, 8, 13, 16, 21, 33 })
        {
            float[] row = Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 16 - 8)).ToArray();
            float[] padded = [.. row, .. Enumerable.Repeat(float.NegativeInfinity, 32 - length % 32)];
            VectorMath.Softmax(row);
            VectorMath.Softmax(padded);
            Assert.Equal(padded[..length], row);
            Assert.All(padded[length..], value => Assert.Equal(0f, value));
        }
    }

    /// <summary>SiLU: whole vectors through the vector exp at the engine's width, the remainder through expf.</summary>
    [Fact]
    public void SiluTakesWholeVectorsThroughTheVectorExpAndTheRestThroughExpf()
    {
        int width = VectorExponential.Level switch { SimdLevel.Vector512 => 16, SimdLevel.Vector256 => 8, SimdLevel.Vector128 => 4, _ => 1 };
        Func<float, float> exp = VectorExponential.Level switch
        {
            SimdLevel.Vector512 => ReferenceScaledForm,
            SimdLevel.Vector256 => x => ReferenceFusedForm(x, fused: true),
            SimdLevel.Vector128 => x => ReferenceFusedForm(x, Fma.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported),
            _ => MathF.Exp,
        };
        var random = new Random(3);
        float[] values = Enumerable.Range(0, 3 * width + width / 2 + 1).Select(_ => (float)(random.NextDouble() * 24 - 12)).ToArray();
        float[] silu = [.. values];
        VectorMath.Silu(silu);
        int whole = values.Length / width * width;
        for (int i = 0; i < values.Length; i++)
        {
            float expected = i < whole ? values[i] / (1f + exp(0f - values[i])) : VectorMath.Silu(values[i]);
            Assert.Equal(expected, silu[i]);
        }
    }
}
