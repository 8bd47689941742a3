using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// Golden values for Q4_1, Q5_0 and Q5_1 produced by ggml itself: the libggml-base / libggml-cpu (AVX2 build)
/// shipped in LLamaSharp.Backend.Cpu 0.30.0, called directly (quantize_row_q4_1_ref / q5_0_ref / q5_1_ref for
/// the weights, quantize_row_q8_1 / q8_0 for the activations, ggml_vec_dot_q4_1_q8_1 / q5_0_q8_0 / q5_1_q8_1
/// for the dot) on the inputs built below. Byte streams are compared by FNV-1a 64 hash; the dot bit for bit at
/// Vector256, the level that mirrors ggml's AVX2 kernel.
/// </summary>
public class LegacyQuantParityTests
{
    /// <summary>Weights: a repeating ramp of 2001 steps times 1..5, block 1 constant 0.375, block 2 all zero.</summary>
    internal static float[] Weights(int length)
    {
        var w = new float[length];
        for (int i = 0; i < length; i++)
        {
            w[i] = (float)(((i * 7919L + 12345) % 2001 - 1000) / 3000.0 * (1 + i % 5));
        }
        if (length >= 96)
        {
            Array.Fill(w, 0.375f, 32, 32); // constant block: Q4_1 / Q5_1 get d = 0
            Array.Fill(w, 0f, 64, 32);
        }
        return w;
    }

    internal static float[] Activations(int length)
    {
        var x = new float[length];
        for (int i = 0; i < length; i++)
        {
            x[i] = (float)(((i * 104729L + 17) % 4001 - 2000) / 700.0);
        }
        return x;
    }

    internal static ulong Fnv1a(ReadOnlySpan<byte> bytes)
    {
        ulong hash = 0xCBF29CE484222325UL;
        foreach (byte b in bytes)
        {
            hash = (hash ^ b) * 0x100000001B3UL;
        }
        return hash;
    }

    [Theory]
    [InlineData(96, 0xE9382B8916DC6657UL, 0xEDC2D4DA6DE1F0C7UL)]
    [InlineData(4096, 0x94E1D453647C2CEEUL, 0x6A9A0988BD2AC0D0UL)]
    [InlineData(4128, 0x4A0604652572A2F5UL, 0x0508DFC5FC58BB35UL)]
    public void ActivationQuantizersMatchGgml(int length, ulong q8_1Hash, ulong q8_0Hash)
    {
        float[] x = Activations(length);
        Assert.Equal(q8_1Hash, Fnv1a(KernelTestData.QuantizeActivations(GgmlType.Q4_1, x)));
        Assert.Equal(q8_1Hash, Fnv1a(KernelTestData.Quantize(GgmlType.Q8_1, x))); // ref and x86 agree on these
        Assert.Equal(q8_0Hash, Fnv1a(KernelTestData.QuantizeActivations(GgmlType.Q5_0, x)));
    }

    [SkippableTheory]
    [InlineData(GgmlType.Q4_1, 96, 0x7BEA96A11069FD73UL, 0x406484ACu)]
    [InlineData(GgmlType.Q5_0, 96, 0xA351B5484C0AB7D5UL, 0x405A32DAu)]
    [InlineData(GgmlType.Q5_1, 96, 0xFB778C62861B894FUL, 0x40471CD6u)]
    [InlineData(GgmlType.Q4_1, 4096, 0xFC6D80E60CFBFF29UL, 0x3F156A78u)]
    [InlineData(GgmlType.Q5_0, 4096, 0x363142B07BD6BD5EUL, 0x40FA71A8u)]
    [InlineData(GgmlType.Q5_1, 4096, 0x8B4FCD15BA299FDCUL, 0x3FDC8B2Cu)]
    [InlineData(GgmlType.Q4_1, 4128, 0xADE3FEE0BAA00ECDUL, 0x41127842u)]
    [InlineData(GgmlType.Q5_0, 4128, 0x2148801A6FC4EF29UL, 0x418378D3u)]
    [InlineData(GgmlType.Q5_1, 4128, 0xCACB4AE70CD747DDUL, 0x412C3DBCu)]
    public void QuantizerIsBitExactAndVector256DotIsBitIdenticalToGgml(GgmlType type, int length, ulong weightHash,
        uint dotBits)
    {
        byte[] weights = KernelTestData.Quantize(type, Weights(length));
        Assert.Equal($"0x{weightHash:X16}", $"0x{Fnv1a(weights):X16}");
        Skip.IfNot(SimdCapabilities.IsSupported(SimdLevel.Vector256), "The golden dots are for ggml's AVX2 code path, which this CPU cannot run (the quantizer hash above was checked).");
        byte[] activations = KernelTestData.QuantizeActivations(type, Activations(length));
        float dot = Quantizer.Dot(type, weights, activations, length, SimdLevel.Vector256);
        Assert.Equal($"0x{dotBits:X8}", $"0x{BitConverter.SingleToUInt32Bits(dot):X8}");
    }
}
