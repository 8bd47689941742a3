using Xunit;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Tests.Gguf;

/// <summary>
/// Each malformation must surface as a <see cref="GgufFormatException"/> naming the file and the offset of the
/// offending field. Offsets are known exactly because <see cref="RawGgufBuilder"/> records them while building.
/// </summary>
public class GgufMalformedFileTests : IDisposable
{
    private readonly TemporaryDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void Bad_magic_is_reported_at_offset_zero()
    {
        byte[] bytes = RawGgufBuilder.WithHeader(0, 0).ToArray();
        bytes[3] = (byte)'X';
        AssertRejected(bytes, 0, "magic");
    }

    [Fact]
    public void Empty_and_tiny_files_are_rejected()
    {
        AssertRejected([], 0, "empty");
        AssertRejected("GG"u8.ToArray(), 0, "ends inside magic");
        AssertRejected("GGUF\u0003"u8.ToArray(), 4, "ends inside version");
    }

    [Theory]
    [InlineData(1u, "version 1")]
    [InlineData(0u, "version 0")]
    [InlineData(4u, "version 4")]
    [InlineData(0x03000000u, "big-endian")]
    public void Unsupported_versions_are_refused(uint version, string message)
    {
        AssertRejected(RawGgufBuilder.WithHeader(0, 0, version).ToArray(), 4, message);
    }

    [Fact]
    public void Absurd_counts_are_refused_before_allocating()
    {
        AssertRejected(RawGgufBuilder.WithHeader(ulong.MaxValue, 0).ToArray(), 8, "tensor count");
        AssertRejected(RawGgufBuilder.WithHeader(0, 1UL << 40).ToArray(), 16, "key/value count");
        // 1000 key/values cannot fit in the handful of bytes that follow.
        AssertRejected(RawGgufBuilder.WithHeader(0, 1000).KeyUInt32("a", 1).ToArray(), 16, "key/value count");
    }

    [Fact]
    public void Absurd_string_lengths_are_refused()
    {
        var key = RawGgufBuilder.WithHeader(0, 1).U64(ulong.MaxValue).Raw("abc"u8).U32(4).U32(0);
        AssertRejected(key.ToArray(), 24, "metadata key");

        var value = RawGgufBuilder.WithHeader(0, 1).Str("name").U32(8);
        long lengthOffset = value.Position;
        value.U64(1UL << 31).Raw("x"u8);
        AssertRejected(value.ToArray(), lengthOffset, "string value of 'name'");
    }

    [Fact]
    public void Absurd_array_lengths_are_refused()
    {
        var builder = RawGgufBuilder.WithHeader(0, 1).Str("tokens").U32(9).U32(8);
        long countOffset = builder.Position;
        builder.U64(1UL << 50).Str("a");
        AssertRejected(builder.ToArray(), countOffset, "array length of 'tokens'");

        var floats = RawGgufBuilder.WithHeader(0, 1).Str("scores").U32(9).U32(6);
        long floatCountOffset = floats.Position;
        floats.U64(3).Zeros(11); // three floats need 12 bytes
        AssertRejected(floats.ToArray(), floatCountOffset, "array length of 'scores'");
    }

    [Theory]
    [InlineData(13u)]
    [InlineData(0xFFFFFFFFu)]
    public void Unknown_value_types_are_refused(uint typeId)
    {
        var scalar = RawGgufBuilder.WithHeader(0, 1).Str("key");
        long typeOffset = scalar.Position;
        scalar.U32(typeId).U64(0);
        AssertRejected(scalar.ToArray(), typeOffset, $"id {typeId}");

        var array = RawGgufBuilder.WithHeader(0, 1).Str("key").U32(9);
        long elementTypeOffset = array.Position;
        array.U32(typeId).U64(0);
        AssertRejected(array.ToArray(), elementTypeOffset, "array element type");
    }

    [Fact]
    public void Invalid_bool_and_over_deep_nesting_are_refused()
    {
        var boolean = RawGgufBuilder.WithHeader(0, 1).Str("flag").U32(7);
        long boolOffset = boolean.Position;
        boolean.U8(2);
        AssertRejected(boolean.ToArray(), boolOffset, "not 0 or 1");

        var nested = RawGgufBuilder.WithHeader(0, 1).Str("deep").U32(9);
        long[] levelOffsets = new long[40];
        for (int level = 0; level < 40; level++)
        {
            levelOffsets[level] = nested.Position;
            nested.U32(9).U64(1);
        }
        nested.U32(5).U64(0);
        AssertRejected(nested.ToArray(), levelOffsets[16], "nests arrays");
    }

    [Fact]
    public void Duplicate_keys_and_tensor_names_are_refused()
    {
        var keys = RawGgufBuilder.WithHeader(0, 2).KeyUInt32("same", 1);
        long secondKey = keys.Position;
        keys.KeyUInt32("same", 2);
        AssertRejected(keys.ToArray(), secondKey, "duplicate metadata key 'same'");

        var tensors = RawGgufBuilder.WithHeader(2, 0).Tensor("w", [4], 0, 0);
        long secondTensor = tensors.Position;
        tensors.Tensor("w", [4], 0, 32).PadTo(32).Zeros(64);
        AssertRejected(tensors.ToArray(), secondTensor, "duplicate tensor name 'w'");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(3u)]
    [InlineData(48u)]
    [InlineData(0x80000000u)]
    public void Alignment_must_be_a_nonzero_power_of_two(uint alignment)
    {
        var builder = RawGgufBuilder.WithHeader(0, 1).Str("general.alignment");
        long valueOffset = builder.Position;
        builder.U32(4).U32(alignment);
        AssertRejected(builder.ToArray(), valueOffset, "power of two");
    }

    [Fact]
    public void Alignment_of_the_wrong_type_is_refused()
    {
        var builder = RawGgufBuilder.WithHeader(0, 1).Str("general.alignment");
        long valueOffset = builder.Position;
        builder.U32(8).Str("32");
        AssertRejected(builder.ToArray(), valueOffset, "general.alignment");
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(5u)]
    [InlineData(0xFFFFFFFFu)]
    public void Dimension_counts_outside_one_to_four_are_refused(uint dimensionCount)
    {
        var builder = RawGgufBuilder.WithHeader(1, 0).Str("t");
        long countOffset = builder.Position;
        builder.U32(dimensionCount);
        for (int i = 0; i < Math.Min(dimensionCount, 5u); i++)
        {
            builder.U64(1);
        }
        builder.U32(0).U64(0).PadTo(32).Zeros(32);
        AssertRejected(builder.ToArray(), countOffset, "dimensions");
    }

    [Fact]
    public void Zero_and_overflowing_extents_are_refused()
    {
        var zero = RawGgufBuilder.WithHeader(1, 0).Str("t").U32(2).U64(4);
        long zeroOffset = zero.Position;
        zero.U64(0).U32(0).U64(0).PadTo(32).Zeros(32);
        AssertRejected(zero.ToArray(), zeroOffset, "dimension 1");

        var huge = RawGgufBuilder.WithHeader(1, 0).Str("t").U32(1);
        long hugeOffset = huge.Position;
        huge.U64(1UL << 63).U32(0).U64(0).PadTo(32).Zeros(32);
        AssertRejected(huge.ToArray(), hugeOffset, "dimension 0");

        var overflow = RawGgufBuilder.WithHeader(1, 0).Str("t").U32(3).U64(1UL << 32);
        long overflowOffset = overflow.Position;
        overflow.U64(1UL << 32).U64(1).U32(0).U64(0).PadTo(32).Zeros(32);
        AssertRejected(overflow.ToArray(), overflowOffset, "overflows");

        // The element count 2^62 fits in 63 bits, but its F32 byte size 2^64 does not.
        var bytes = RawGgufBuilder.WithHeader(1, 0).Str("t").U32(2).U64(1UL << 31).U64(1UL << 31);
        long typeOffset = bytes.Position;
        bytes.U32(0).U64(0).PadTo(32).Zeros(32);
        AssertRejected(bytes.ToArray(), typeOffset, "byte size overflows");
    }

    [Theory]
    [InlineData(4u)]
    [InlineData(31u)]
    [InlineData(1000u)]
    public void Unknown_tensor_types_are_refused(uint typeId)
    {
        var builder = RawGgufBuilder.WithHeader(1, 0).Str("t").U32(1).U64(32);
        long typeOffset = builder.Position;
        builder.U32(typeId).U64(0).PadTo(32).Zeros(128);
        AssertRejected(builder.ToArray(), typeOffset, $"unknown ggml type id {typeId}");
    }

    [Fact]
    public void Row_length_must_be_whole_blocks()
    {
        var builder = RawGgufBuilder.WithHeader(1, 0).Str("t").U32(2).U64(16).U64(2);
        long typeOffset = builder.Position;
        builder.U32((uint)GgmlType.Q4_0).U64(0).PadTo(32).Zeros(64);
        AssertRejected(builder.ToArray(), typeOffset, "block size 32");
    }

    [Fact]
    public void Misaligned_tensor_offsets_are_refused()
    {
        var builder = RawGgufBuilder.WithHeader(2, 0).Tensor("a", [4], 0, 0).Str("b").U32(1).U64(4).U32(0);
        long offsetField = builder.Position;
        builder.U64(16).PadTo(32).Zeros(64);
        AssertRejected(builder.ToArray(), offsetField, "not a multiple of the alignment 32");
    }

    [Fact]
    public void Tensor_data_outside_the_file_is_refused()
    {
        var past = RawGgufBuilder.WithHeader(1, 0).Str("t").U32(1).U64(8).U32(0);
        long offsetField = past.Position;
        past.U64(64).PadTo(32).Zeros(64); // data section is 64 bytes; [64, 96) is past it
        AssertRejected(past.ToArray(), offsetField, "outside");

        var straddling = RawGgufBuilder.WithHeader(1, 0).Str("t").U32(1).U64(16).U32(0);
        long straddlingField = straddling.Position;
        straddling.U64(32).PadTo(32).Zeros(64); // [32, 96) but the section ends at 64
        AssertRejected(straddling.ToArray(), straddlingField, "outside");

        var huge = RawGgufBuilder.WithHeader(1, 0).Str("t").U32(1).U64(8).U32(0);
        long hugeField = huge.Position;
        huge.U64(ulong.MaxValue - 31).PadTo(32).Zeros(64);
        AssertRejected(huge.ToArray(), hugeField, "outside");
    }

    [Fact]
    public void Missing_data_section_is_refused_when_tensors_exist()
    {
        var builder = RawGgufBuilder.WithHeader(1, 0).Tensor("t", [1], 0, 0);
        long end = builder.Position;
        AssertRejected(builder.ToArray(), end, "data section");
    }

    [Fact]
    public void Every_truncation_of_a_valid_file_is_refused()
    {
        string source = _directory.File("valid.gguf");
        var writer = new GgufWriter();
        writer.SetMetadata("general.architecture", "llama");
        writer.SetMetadata("tokens", new[] { "a", "bc" });
        writer.SetMetadata("nested", new GgufArray(GgufValueType.Array, new[] { new GgufArray(GgufValueType.UInt8, new byte[] { 1, 2 }) }));
        writer.AddTensor("w", GgmlType.Q8_0, [32, 2], s => s.Write(new byte[68]));
        writer.WriteTo(source);
        byte[] bytes = File.ReadAllBytes(source);

        long endOfData;
        using (GgufFile whole = GgufFile.Open(source))
        {
            Assert.Equal(68, whole.GetTensorBytes(whole.Tensors[0]).Length);
            endOfData = whole.Tensors[0].AbsoluteOffset + whole.Tensors[0].ByteSize;
        }
        // Cutting only the zero padding after the last tensor still leaves a complete file.
        using (GgufFile withoutTrailingPadding = GgufFile.Open(WriteCase(bytes[..(int)endOfData])))
        {
            Assert.Equal(68, withoutTrailingPadding.GetTensorBytes(withoutTrailingPadding.Tensors[0]).Length);
        }
        for (int length = 0; length < endOfData; length++)
        {
            var error = OpenExpectingFailure(bytes[..length]);
            Assert.InRange(error.Offset, 0, Math.Max(length, 0));
        }
    }

    [Fact]
    public void Message_names_file_and_offset()
    {
        string path = _directory.File("bad.gguf");
        File.WriteAllBytes(path, RawGgufBuilder.WithHeader(0, 0, 9).ToArray());
        var error = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        Assert.Equal(Path.GetFullPath(path), error.FilePath);
        Assert.Contains(Path.GetFullPath(path), error.Message);
        Assert.Contains("offset 4", error.Message);
        Assert.IsAssignableFrom<IOException>(error);
    }

    private string WriteCase(byte[] bytes)
    {
        string path = _directory.File($"case-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private GgufFormatException OpenExpectingFailure(byte[] bytes)
    {
        string path = WriteCase(bytes);
        try
        {
            return Assert.Throws<GgufFormatException>(() => GgufFile.Open(path).Dispose());
        }
        finally
        {
            File.Delete(path);
        }
    }

    private void AssertRejected(byte[] bytes, long expectedOffset, string messagePart)
    {
        GgufFormatException error = OpenExpectingFailure(bytes);
        Assert.Equal(expectedOffset, error.Offset);
        Assert.Contains(messagePart, error.Message, StringComparison.OrdinalIgnoreCase);
    }
}
