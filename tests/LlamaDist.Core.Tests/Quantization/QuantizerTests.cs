using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class QuantizerTests
{
    [Fact]
    public void SupportsExactlyTheImplementedTypes()
    {
        foreach (GgmlType type in Enum.GetValues<GgmlType>())
        {
            Assert.Equal(KernelTestData.SupportedTypes.Contains(type) || KernelTestData.KQuantWeightTypes.Contains(type),
                Quantizer.IsSupported(type));
        }
    }

    [Theory]
    [InlineData(GgmlType.F32, GgmlType.F32)]
    [InlineData(GgmlType.F16, GgmlType.F16)]
    [InlineData(GgmlType.BF16, GgmlType.BF16)]
    [InlineData(GgmlType.Q8_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_1, GgmlType.Q8_1)]
    [InlineData(GgmlType.Q5_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q5_1, GgmlType.Q8_1)]
    [InlineData(GgmlType.Q2_K, GgmlType.Q8_K)]
    [InlineData(GgmlType.Q3_K, GgmlType.Q8_K)]
    public void ActivationTypePairsLikeGgml(GgmlType weightType, GgmlType expected)
    {
        Assert.Equal(expected, Quantizer.ActivationType(weightType));
    }

    [Theory]
    [InlineData(GgmlType.IQ3_S)]
    [InlineData(GgmlType.IQ4_XS)]
    [InlineData(GgmlType.IQ2_XXS)]
    public void UnsupportedTypesThrowNotSupportedNamingTheType(GgmlType type)
    {
        string name = GgmlTypeInfo.Name(type);
        Assert.Contains(name, Assert.Throws<NotSupportedException>(() => Quantizer.ActivationType(type)).Message);
        Assert.Contains(name, Assert.Throws<NotSupportedException>(
            () => Quantizer.QuantizeRow(type, new float[256], new byte[1024])).Message);
        Assert.Contains(name, Assert.Throws<NotSupportedException>(
            () => Quantizer.DequantizeRow(type, new byte[1024], new float[256])).Message);
        Assert.Contains("id 77", Assert.Throws<NotSupportedException>(
            () => Quantizer.ActivationType((GgmlType)77)).Message);
    }

    [Theory]
    [MemberData(nameof(KernelTestData.SupportedTypeData), MemberType = typeof(KernelTestData))]
    public void QuantizeWritesExactlyRowBytesAndDispatchMatchesTheFormat(GgmlType type)
    {
        float[] values = KernelTestData.RandomFloats(64, seed: 3);
        long rowBytes = GgmlTypeInfo.RowBytes(type, 64);
        var destination = new byte[rowBytes + 8];
        destination.AsSpan().Fill(0xEE);
        Quantizer.QuantizeRow(type, values, destination);
        Assert.All(destination[(int)rowBytes..], b => Assert.Equal(0xEE, b));

        float[] back = KernelTestData.Dequantize(type, destination, 64);
        byte[] activations = KernelTestData.QuantizeActivations(type, values);
        float viaQuantizer = Quantizer.Dot(type, destination, activations, 64, SimdLevel.Scalar);
        float viaFormat = type switch
        {
            GgmlType.F32 => F32Format.Dot(destination, activations, 64, SimdLevel.Scalar),
            GgmlType.F16 => F16Format.Dot(destination, activations, 64, SimdLevel.Scalar),
            GgmlType.BF16 => BF16Format.Dot(destination, activations, 64, SimdLevel.Scalar),
            GgmlType.Q8_0 => Q8_0Format.Dot(destination, activations, 64, SimdLevel.Scalar),
            GgmlType.Q4_1 => Q4_1Format.Dot(destination, activations, 64, SimdLevel.Scalar),
            GgmlType.Q5_0 => Q5_0Format.Dot(destination, activations, 64, SimdLevel.Scalar),
            GgmlType.Q5_1 => Q5_1Format.Dot(destination, activations, 64, SimdLevel.Scalar),
            _ => Q4_0Format.Dot(destination, activations, 64, SimdLevel.Scalar),
        };
        Assert.Equal(viaFormat, viaQuantizer);
        Assert.True(back.Zip(values).All(pair => Math.Abs(pair.First - pair.Second) < 2f));
    }

    [Fact]
    public void FormatConstantsAgreeWithGgufGeometry()
    {
        Assert.Equal((GgmlTypeInfo.BlockSize(GgmlType.Q8_0), GgmlTypeInfo.BlockBytes(GgmlType.Q8_0)),
            (Q8_0Format.BlockSize, Q8_0Format.BlockBytes));
        Assert.Equal((GgmlTypeInfo.BlockSize(GgmlType.Q4_0), GgmlTypeInfo.BlockBytes(GgmlType.Q4_0)),
            (Q4_0Format.BlockSize, Q4_0Format.BlockBytes));
        Assert.Equal((34, 18), (Q8_0Format.BlockBytes, Q4_0Format.BlockBytes));
        Assert.Equal((20, 22, 24, 36), (Q4_1Format.BlockBytes, Q5_0Format.BlockBytes, Q5_1Format.BlockBytes, Q8_1Format.BlockBytes));
        foreach ((GgmlType type, int blockBytes) in new[] { (GgmlType.Q4_1, Q4_1Format.BlockBytes),
            (GgmlType.Q5_0, Q5_0Format.BlockBytes), (GgmlType.Q5_1, Q5_1Format.BlockBytes), (GgmlType.Q8_1, Q8_1Format.BlockBytes) })
        {
            Assert.Equal((32, blockBytes), (GgmlTypeInfo.BlockSize(type), GgmlTypeInfo.BlockBytes(type)));
        }
        Assert.Equal(F16Format.BlockBytes, GgmlTypeInfo.BlockBytes(GgmlType.F16));
        Assert.Equal(BF16Format.BlockBytes, GgmlTypeInfo.BlockBytes(GgmlType.BF16));
        Assert.Equal(F32Format.BlockBytes, GgmlTypeInfo.BlockBytes(GgmlType.F32));
    }

    [Fact]
    public void ScalarIsAlwaysSupportedAndBestIsSupported()
    {
        Assert.Contains(SimdLevel.Scalar, SimdCapabilities.SupportedLevels);
        Assert.True(SimdCapabilities.IsSupported(SimdCapabilities.Best));
        Assert.Equal(SimdCapabilities.SupportedLevels[^1], SimdCapabilities.Best);
        // Quantized dots stay on the 256-bit kernels (ggml's x86 q8_0/q4_0 dots are AVX2-only).
        Assert.Equal(SimdCapabilities.IsSupported(SimdLevel.Vector256) ? SimdLevel.Vector256 : SimdCapabilities.Best,
            SimdCapabilities.BestForInt8);
        Assert.Equal(SimdCapabilities.BestForInt8, Quantizer.DefaultLevel(GgmlType.Q4_0));
        Assert.Equal(SimdCapabilities.BestForInt8, Quantizer.DefaultLevel(GgmlType.Q8_0));
        Assert.Equal(SimdCapabilities.BestForInt8, Quantizer.DefaultLevel(GgmlType.Q4_1));
        Assert.Equal(SimdCapabilities.BestForInt8, Quantizer.DefaultLevel(GgmlType.Q5_1));
        Assert.Equal(SimdCapabilities.Best, Quantizer.DefaultLevel(GgmlType.F16));
    }
}
