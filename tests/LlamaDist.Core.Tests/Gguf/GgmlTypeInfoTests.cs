using Xunit;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Tests.Gguf;

public class GgmlTypeInfoTests
{
    // (type, elements per block, bytes per block) from ggml's type traits / ggml-common.h static_asserts.
    public static TheoryData<GgmlType, int, int> Geometry => new()
    {
        { GgmlType.F32, 1, 4 }, { GgmlType.F16, 1, 2 }, { GgmlType.BF16, 1, 2 }, { GgmlType.F64, 1, 8 },
        { GgmlType.I8, 1, 1 }, { GgmlType.I16, 1, 2 }, { GgmlType.I32, 1, 4 }, { GgmlType.I64, 1, 8 },
        { GgmlType.Q4_0, 32, 18 }, { GgmlType.Q4_1, 32, 20 }, { GgmlType.Q5_0, 32, 22 }, { GgmlType.Q5_1, 32, 24 },
        { GgmlType.Q8_0, 32, 34 }, { GgmlType.Q8_1, 32, 36 },
        { GgmlType.Q2_K, 256, 84 }, { GgmlType.Q3_K, 256, 110 }, { GgmlType.Q4_K, 256, 144 },
        { GgmlType.Q5_K, 256, 176 }, { GgmlType.Q6_K, 256, 210 }, { GgmlType.Q8_K, 256, 292 },
        { GgmlType.IQ2_XXS, 256, 66 }, { GgmlType.IQ2_XS, 256, 74 }, { GgmlType.IQ2_S, 256, 82 },
        { GgmlType.IQ3_XXS, 256, 98 }, { GgmlType.IQ3_S, 256, 110 }, { GgmlType.IQ1_S, 256, 50 },
        { GgmlType.IQ1_M, 256, 56 }, { GgmlType.IQ4_NL, 32, 18 }, { GgmlType.IQ4_XS, 256, 136 },
        { GgmlType.TQ1_0, 256, 54 }, { GgmlType.TQ2_0, 256, 66 }, { GgmlType.MXFP4, 32, 17 },
    };

    [Theory]
    [MemberData(nameof(Geometry))]
    public void Block_geometry_matches_ggml(GgmlType type, int blockSize, int blockBytes)
    {
        Assert.True(GgmlTypeInfo.IsKnown(type));
        Assert.Equal(blockSize, GgmlTypeInfo.BlockSize(type));
        Assert.Equal(blockBytes, GgmlTypeInfo.BlockBytes(type));
        Assert.Equal(type.ToString(), GgmlTypeInfo.Name(type));
    }

    [Fact]
    public void Every_enum_member_has_geometry()
    {
        Assert.Equal(Enum.GetValues<GgmlType>().Length, Geometry.Count());
    }

    [Fact]
    public void Ids_match_ggml_numbering()
    {
        Assert.Equal(8u, (uint)GgmlType.Q8_0);
        Assert.Equal(14u, (uint)GgmlType.Q6_K);
        Assert.Equal(30u, (uint)GgmlType.BF16);
        Assert.Equal(39u, (uint)GgmlType.MXFP4);
    }

    [Theory]
    [InlineData(4u)]
    [InlineData(5u)]
    [InlineData(31u)]
    [InlineData(36u)]
    [InlineData(40u)]
    public void Retired_and_unknown_ids_are_not_known(uint id)
    {
        Assert.False(GgmlTypeInfo.IsKnown((GgmlType)id));
        Assert.Throws<ArgumentException>(() => GgmlTypeInfo.BlockBytes((GgmlType)id));
    }

    [Fact]
    public void RowBytes_counts_whole_blocks()
    {
        Assert.Equal(4096L * 4, GgmlTypeInfo.RowBytes(GgmlType.F32, 4096));
        Assert.Equal(4096L / 32 * 18, GgmlTypeInfo.RowBytes(GgmlType.Q4_0, 4096));
        Assert.Equal(4096L / 32 * 34, GgmlTypeInfo.RowBytes(GgmlType.Q8_0, 4096));
        Assert.Equal(4096L / 256 * 210, GgmlTypeInfo.RowBytes(GgmlType.Q6_K, 4096));
        Assert.Equal(0, GgmlTypeInfo.RowBytes(GgmlType.Q4_K, 0));
    }

    [Fact]
    public void RowBytes_rejects_partial_blocks_and_overflow()
    {
        Assert.Throws<ArgumentException>(() => GgmlTypeInfo.RowBytes(GgmlType.Q4_0, 33));
        Assert.Throws<ArgumentException>(() => GgmlTypeInfo.RowBytes(GgmlType.Q4_K, 128));
        Assert.Throws<ArgumentException>(() => GgmlTypeInfo.RowBytes(GgmlType.F32, -1));
        Assert.Throws<ArgumentException>(() => GgmlTypeInfo.RowBytes(GgmlType.F64, long.MaxValue / 4));
    }
}
