using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Model.Tensor;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Tests.Model.Tensor;

/// <summary>How a model's heads, hidden units and vocabulary are divided between tensor-parallel shards.</summary>
public sealed class TensorSliceTests
{
    private static LlamaConfig TinyLlamaShape() => new(2048, 22, 5632, 32, 4, 1e-5f, 2048, 32000);

    [Theory]
    [InlineData(2, GgmlType.Q8_0)]
    [InlineData(3, GgmlType.Q8_0)]
    [InlineData(4, GgmlType.Q4_K)]
    public void Slices_cover_every_head_unit_and_row_exactly_once_on_block_boundaries(int shards, GgmlType type)
    {
        LlamaConfig config = TinyLlamaShape();
        IReadOnlyList<TensorSlice> slices = TensorSlice.Plan(config, shards, type, type);

        Assert.Equal(shards, slices.Count);
        int block = GgmlTypeInfo.BlockSize(type);
        int kv = 0, ff = 0, vocabulary = 0;
        for (int i = 0; i < shards; i++)
        {
            TensorSlice slice = slices[i];
            Assert.Equal(i, slice.ShardIndex);
            Assert.Equal(kv, slice.KvHeadStart);
            Assert.Equal(ff, slice.FeedForwardStart);
            Assert.Equal(vocabulary, slice.VocabularyStart);
            Assert.Equal(slice.KvHeadStart * 8, slice.HeadStart);
            Assert.Equal(slice.KvHeadCount * 8, slice.HeadCount);
            Assert.Equal(0, slice.HeadStart * 64 % block);
            Assert.Equal(0, slice.FeedForwardCount % block);
            Assert.True(slice.KvHeadCount >= 1 && slice.FeedForwardCount >= block && slice.VocabularyCount >= 1);
            kv += slice.KvHeadCount;
            ff += slice.FeedForwardCount;
            vocabulary += slice.VocabularyCount;
        }
        Assert.Equal(config.KvHeadCount, kv);
        Assert.Equal(config.FeedForwardLength, ff);
        Assert.Equal(config.VocabularySize, vocabulary);
    }

    [Fact]
    public void Equal_shares_give_equal_halves_and_faster_shards_get_more()
    {
        LlamaConfig config = TinyLlamaShape();
        IReadOnlyList<TensorSlice> even = TensorSlice.Plan(config, 2, GgmlType.Q8_0, GgmlType.Q8_0);
        Assert.Equal([2, 2], even.Select(slice => slice.KvHeadCount));
        Assert.Equal([2816, 2816], even.Select(slice => slice.FeedForwardCount));
        Assert.Equal([16000, 16000], even.Select(slice => slice.VocabularyCount));

        IReadOnlyList<TensorSlice> skewed = TensorSlice.Plan(config, 2, GgmlType.Q8_0, GgmlType.Q8_0, [3.0, 1.0]);
        Assert.Equal([3, 1], skewed.Select(slice => slice.KvHeadCount));
        Assert.Equal([4224, 1408], skewed.Select(slice => slice.FeedForwardCount)); // 176 blocks of 32: 132 / 44
    }

    [Fact]
    public void Divide_is_proportional_and_gives_everyone_at_least_one()
    {
        Assert.Equal([4, 3, 3], TensorSlice.Divide(10, [1.0, 1.0, 1.0]));
        Assert.Equal([9, 1], TensorSlice.Divide(10, [100.0, 1.0]));
        Assert.Equal([1, 1], TensorSlice.Divide(2, [5.0, 1.0]));
    }

    [Fact]
    public void More_shards_than_KV_heads_is_a_clear_TensorSplitException()
    {
        var exception = Assert.Throws<TensorSplitException>(() =>
            TensorSlice.Plan(TinyLlamaShape(), 5, GgmlType.Q8_0, GgmlType.Q8_0));
        Assert.Contains("4 KV heads", exception.Message);
        Assert.Contains("at most 4", exception.Message);
    }

    [Fact]
    public void Head_groups_grow_until_output_columns_are_whole_K_quant_blocks()
    {
        // 8 KV heads of 1 query head x 64: one KV head is 64 columns, a Q4_K block 256, so heads go in fours.
        var config = new LlamaConfig(512, 2, 1024, 8, 8, 1e-5f, 256, 1000);
        IReadOnlyList<TensorSlice> slices = TensorSlice.Plan(config, 2, GgmlType.Q4_K, GgmlType.Q4_K);
        Assert.Equal([4, 4], slices.Select(slice => slice.KvHeadCount));
        Assert.Throws<TensorSplitException>(() => TensorSlice.Plan(config, 3, GgmlType.Q4_K, GgmlType.Q4_K));
    }

    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_K)]
    public unsafe void Row_and_column_slices_reassemble_to_the_matrix(GgmlType type)
    {
        const int rows = 12, columns = 768;
        var random = new Random(11);
        float[] values = Enumerable.Range(0, rows * columns).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        byte[] bytes = new byte[GgmlTypeInfo.RowBytes(type, columns) * rows];
        for (int r = 0; r < rows; r++)
        {
            Quantizer.QuantizeRow(type, values.AsSpan(r * columns, columns),
                bytes.AsSpan((int)(r * GgmlTypeInfo.RowBytes(type, columns)), (int)GgmlTypeInfo.RowBytes(type, columns)));
        }
        int block = GgmlTypeInfo.BlockSize(type);
        int split = block == 1 ? 320 : block == 32 ? 320 : 512;
        fixed (byte* data = bytes)
        {
            var matrix = new WeightMatrix(data, type, rows, columns);
            using var memory = new SliceMemory(regroupForKernels: false);

            WeightMatrix top = memory.Rows(matrix, (0, 5));
            WeightMatrix bottom = memory.Rows(matrix, (5, rows - 5));
            WeightMatrix left = memory.Columns(matrix, 0, split);
            WeightMatrix right = memory.Columns(matrix, split, columns - split);
            WeightMatrix gathered = memory.Rows(matrix, (8, 2), (1, 3));

            for (int r = 0; r < rows; r++)
            {
                byte[] row = matrix.Row(r).ToArray();
                Assert.Equal(row, (r < 5 ? top.Row(r) : bottom.Row(r - 5)).ToArray());
                Assert.Equal(row, left.Row(r).ToArray().Concat(right.Row(r).ToArray()).ToArray());
            }
            Assert.Equal(matrix.Row(9).ToArray(), gathered.Row(1).ToArray());
            Assert.Equal(matrix.Row(3).ToArray(), gathered.Row(4).ToArray());
            Assert.Equal(matrix.Columns, left.Columns + right.Columns);
        }
    }

    [Fact]
    public unsafe void A_column_slice_off_block_boundaries_is_refused()
    {
        byte[] bytes = new byte[GgmlTypeInfo.RowBytes(GgmlType.Q8_0, 64) * 2];
        fixed (byte* data = bytes)
        {
            var matrix = new WeightMatrix(data, GgmlType.Q8_0, 2, 64);
            using var memory = new SliceMemory();
            Assert.Throws<ArgumentOutOfRangeException>(() => memory.Columns(matrix, 16, 32));
            Assert.Throws<ArgumentOutOfRangeException>(() => memory.Rows(matrix, (1, 2)));
        }
    }

    [Fact]
    public unsafe void Slices_cut_from_several_chunks_keep_their_bytes_their_alignment_and_their_count()
    {
        // A 40 MiB matrix sliced into halves again and again: the slices fill one 64 MiB chunk and spill into
        // more, one slice (the whole matrix) needs a chunk of its own size, and none overlaps another.
        const int rows = 640, columns = 16384;   // F32: 64 KiB rows, 40 MiB in all
        var data = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(rows * columns * 4L), 64);
        try
        {
            var floats = new Span<float>(data, rows * columns);
            for (int i = 0; i < floats.Length; i++)
            {
                floats[i] = i % 1009;
            }
            var matrix = new WeightMatrix(data, GgmlType.F32, rows, columns);
            using var memory = new SliceMemory(regroupForKernels: false);
            var slices = new List<(WeightMatrix Slice, int FirstRow)>();
            for (int round = 0; round < 3; round++)
            {
                slices.Add((memory.Rows(matrix, (0, rows / 2)), 0));
                slices.Add((memory.Rows(matrix, (rows / 2, rows / 2)), rows / 2));
            }
            slices.Add((memory.Rows(matrix, (0, rows)), 0));
            slices.Add((memory.Rows(matrix, (3, 1)), 3));

            Assert.Equal(3 * rows * columns * 4L + rows * columns * 4L + columns * 4L, memory.Bytes);
            foreach (var (slice, firstRow) in slices)
            {
                Assert.Equal(0, (long)slice.Data % 64);
                for (int r = 0; r < slice.Rows; r += 37)
                {
                    Assert.True(matrix.Row(firstRow + r).SequenceEqual(slice.Row(r)), $"row {r} of a slice from row {firstRow}");
                }
            }
            var starts = slices.Select(s => (Start: (long)s.Slice.Data, End: (long)s.Slice.Data + s.Slice.Rows * s.Slice.RowBytes)).OrderBy(s => s.Start).ToArray();
            for (int i = 1; i < starts.Length; i++)
            {
                Assert.True(starts[i].Start >= starts[i - 1].End, "two slices overlap");
            }
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(data);
        }
    }
}
