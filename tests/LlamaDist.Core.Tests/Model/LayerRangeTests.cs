using LlamaDist.Core.Model;

namespace LlamaDist.Core.Tests.Model;

public sealed class LayerRangeTests
{
    [Fact]
    public void Ranges_know_which_ends_of_the_model_they_own()
    {
        var first = new LayerRange(0, 3);
        var last = new LayerRange(3, 8);
        Assert.Equal(3, first.Count);
        Assert.True(first.IncludesEmbedding);
        Assert.False(first.IncludesOutput(8));
        Assert.False(last.IncludesEmbedding);
        Assert.True(last.IncludesOutput(8));
        Assert.True(LayerRange.All(8).IsWholeModel(8));
        Assert.False(first.IsWholeModel(8));
        Assert.True(last.Contains(3));
        Assert.False(last.Contains(8));
        Assert.Equal(new LayerRange(0, 3), first);
        Assert.Equal("[3, 8)", last.ToString());
        var (start, end) = last;
        Assert.Equal((3, 8), (start, end));
    }

    [Fact]
    public void Split_covers_every_layer_once_in_near_equal_parts()
    {
        Assert.Equal([new LayerRange(0, 4), new LayerRange(4, 8), new LayerRange(8, 11), new LayerRange(11, 14)],
            LayerRange.Split(14, 4));
        Assert.Equal([LayerRange.All(5)], LayerRange.Split(5, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LayerRange.Split(2, 3));
    }

    [Fact]
    public void Empty_or_negative_ranges_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerRange(2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerRange(-1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LayerRange(0, 5).EnsureWithin(4, "range"));
        Assert.Throws<ArgumentOutOfRangeException>(() => default(LayerRange).EnsureWithin(4, "range"));
    }
}
