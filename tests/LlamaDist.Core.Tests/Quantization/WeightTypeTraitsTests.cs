using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

public class WeightTypeTraitsTests
{
    public static IEnumerable<object[]> AllTableTypes() =>
        KernelTestData.SupportedTypes.Append(GgmlType.Q8_1).Append(GgmlType.Q8_K).Select(type => new object[] { type });

    [Theory]
    [MemberData(nameof(AllTableTypes))]
    public void Each_row_agrees_with_the_gguf_block_table(GgmlType type)
    {
        WeightTypeTraits traits = WeightTypeTraits.For(type);
        Assert.Equal(type, traits.Type);
        Assert.Equal(GgmlTypeInfo.BlockSize(type), traits.BlockSize);
        Assert.Equal(GgmlTypeInfo.BlockBytes(type), traits.BlockBytes);
        Assert.Equal(type is not (GgmlType.Q8_1 or GgmlType.Q8_K), traits.IsWeightType);
        Assert.Equal(traits.IsWeightType, Quantizer.IsSupported(type));
    }

    [Theory]
    [InlineData(GgmlType.F32, GgmlType.F32)]
    [InlineData(GgmlType.F16, GgmlType.F16)]
    [InlineData(GgmlType.BF16, GgmlType.BF16)]
    [InlineData(GgmlType.Q8_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q5_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_1, GgmlType.Q8_1)]
    [InlineData(GgmlType.Q5_1, GgmlType.Q8_1)]
    [InlineData(GgmlType.Q2_K, GgmlType.Q8_K)]
    [InlineData(GgmlType.Q3_K, GgmlType.Q8_K)]
    [InlineData(GgmlType.Q4_K, GgmlType.Q8_K)]
    [InlineData(GgmlType.Q5_K, GgmlType.Q8_K)]
    [InlineData(GgmlType.Q6_K, GgmlType.Q8_K)]
    public void Partners_are_ggml_vec_dot_types(GgmlType weightType, GgmlType activationType)
    {
        Assert.Equal(activationType, Quantizer.ActivationType(weightType));
        Assert.Equal(activationType is GgmlType.Q8_0 or GgmlType.Q8_1 or GgmlType.Q8_K
            ? SimdCapabilities.BestForInt8 : SimdCapabilities.Best, Quantizer.DefaultLevel(weightType));
    }

    [Fact]
    public void Types_without_a_row_are_not_supported_and_named()
    {
        var error = Assert.Throws<NotSupportedException>(() => WeightTypeTraits.For(GgmlType.IQ2_XXS));
        Assert.Contains("IQ2_XXS", error.Message);
        Assert.Throws<NotSupportedException>(() => Quantizer.ActivationType(GgmlType.Q8_K)); // activation-only
        Assert.Null(WeightTypeTraits.TryGetWeightType(GgmlType.Q8_1));
    }

    [Fact]
    public void A_matrix_plan_follows_layout_width_and_this_cpu()
    {
        Assert.Equal(MatrixPassKind.Q4_0Groups, MatrixPlan.Choose(GgmlType.Q4_0, WeightLayout.Q4_0RowGroups, 2048).For(1));
        Assert.Equal(MatrixPassKind.Q4_KGroups, MatrixPlan.Choose(GgmlType.Q4_K, WeightLayout.Q4_KRowGroups, 2048).For(7));
        Assert.Equal(MatrixPassKind.Rows, MatrixPlan.Choose(GgmlType.Q2_K, WeightLayout.Rows, 2048).For(7));
        // F16 batches take the GEMM only where this CPU runs it and rows are whole vectors.
        bool gemm = F16Gemm.Supports(SimdCapabilities.Best, 2048);
        Assert.Equal(gemm ? MatrixPassKind.HalfGemm : MatrixPassKind.Rows,
            MatrixPlan.Choose(GgmlType.F16, WeightLayout.Rows, 2048).For(2));
        Assert.Equal(MatrixPassKind.Rows, MatrixPlan.Choose(GgmlType.F16, WeightLayout.Rows, 2052).For(2));
        MatrixPassKind decode = MatrixPlan.Choose(GgmlType.F16, WeightLayout.Rows, 2048).For(1);
        Assert.Equal(F16Format.RunsRowsAt512 ? MatrixPassKind.HalfRowPairs512
            : F16Format.RunsRowsAtAvx2 ? MatrixPassKind.HalfRowPairs : MatrixPassKind.Rows, decode);
        Assert.Equal(Q8TileKernels.IsSupportedFor(GgmlType.Q8_0) ? MatrixPassKind.Q8Tiles : MatrixPassKind.Rows,
            MatrixPlan.Choose(GgmlType.Q8_0, WeightLayout.Rows, 2048).For(1));
        foreach (GgmlType type in new[] { GgmlType.Q3_K, GgmlType.Q5_K, GgmlType.Q6_K })
        {
            Assert.Equal(KQuantTileKernels.IsSupportedFor(type) ? MatrixPassKind.KQuantTiles : MatrixPassKind.Rows,
                MatrixPlan.Choose(type, WeightLayout.Rows, 2048).For(4));
            Assert.Equal(KQuantTileKernels.IsSupportedFor(type) ? MatrixPassKind.KQuantTiles : MatrixPassKind.Rows,
                MatrixPlan.Choose(type, WeightLayout.Rows, 2048).For(1));
        }
    }
}
