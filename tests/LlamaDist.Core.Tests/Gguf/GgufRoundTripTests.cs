using Xunit;
using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Tests.Gguf;

/// <summary>Writes files with <see cref="GgufWriter"/> and reads them back with <see cref="GgufFile"/>.</summary>
public class GgufRoundTripTests
{
    private static readonly (string Key, object Value, GgufValueType Type)[] Scalars =
    [
        ("t.u8", (byte)250, GgufValueType.UInt8),
        ("t.i8", (sbyte)-120, GgufValueType.Int8),
        ("t.u16", (ushort)65000, GgufValueType.UInt16),
        ("t.i16", (short)-32000, GgufValueType.Int16),
        ("t.u32", 4_000_000_000u, GgufValueType.UInt32),
        ("t.i32", -2_000_000_000, GgufValueType.Int32),
        ("t.f32", 3.25f, GgufValueType.Float32),
        ("t.bool", true, GgufValueType.Bool),
        ("t.string", "héllo ▁ 给 \0 end", GgufValueType.String),
        ("t.empty", "", GgufValueType.String),
        ("t.u64", ulong.MaxValue - 7, GgufValueType.UInt64),
        ("t.i64", long.MinValue + 3, GgufValueType.Int64),
        ("t.f64", Math.PI, GgufValueType.Float64),
    ];

    private static readonly (string Key, Array Values, GgufValueType ElementType)[] Arrays =
    [
        ("a.u8", new byte[] { 0, 1, 255 }, GgufValueType.UInt8),
        ("a.i8", new sbyte[] { -128, 0, 127 }, GgufValueType.Int8),
        ("a.u16", new ushort[] { 1, 65535 }, GgufValueType.UInt16),
        ("a.i16", new short[] { -32768, 32767 }, GgufValueType.Int16),
        ("a.u32", new uint[] { 7, uint.MaxValue }, GgufValueType.UInt32),
        ("a.i32", new[] { -1, 0, int.MaxValue }, GgufValueType.Int32),
        ("a.f32", new[] { 0.5f, -1e9f, float.Epsilon }, GgufValueType.Float32),
        ("a.bool", new[] { true, false, true }, GgufValueType.Bool),
        ("a.string", new[] { "<unk>", "", "▁the" }, GgufValueType.String),
        ("a.u64", new ulong[] { 0, ulong.MaxValue }, GgufValueType.UInt64),
        ("a.i64", new long[] { long.MinValue, 5 }, GgufValueType.Int64),
        ("a.f64", new[] { -0.0, double.MaxValue }, GgufValueType.Float64),
        ("a.empty", Array.Empty<int>(), GgufValueType.Int32),
    ];

    [Theory]
    [InlineData(3u, 32)]
    [InlineData(2u, 32)]
    [InlineData(3u, 64)]
    [InlineData(2u, 1)]
    public void Every_value_type_round_trips(uint version, int alignment)
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("values.gguf");
        var writer = new GgufWriter(version, alignment);
        foreach (var (key, value, _) in Scalars)
        {
            writer.SetMetadata(key, value);
        }
        foreach (var (key, values, _) in Arrays)
        {
            writer.SetMetadata(key, values);
        }
        writer.SetMetadata("a.nested", NestedSample());
        writer.WriteTo(path);

        using GgufFile file = GgufFile.Open(path);
        Assert.Equal(version, file.Version);
        Assert.Equal(alignment, file.Alignment);
        foreach (var (key, value, _) in Scalars)
        {
            Assert.Equal(value, file.Metadata[key]);
        }
        foreach (var (key, values, elementType) in Arrays)
        {
            var array = Assert.IsType<GgufArray>(file.Metadata[key]);
            Assert.Equal(elementType, array.ElementType);
            Assert.Equal(values, array.Values);
        }
        AssertNestedSample(Assert.IsType<GgufArray>(file.Metadata["a.nested"]));

        // File order: the scalars, the arrays, the nested array, then general.alignment when it is not 32.
        var expectedKeys = Scalars.Select(s => s.Key).Concat(Arrays.Select(a => a.Key)).Append("a.nested").ToList();
        if (alignment != 32)
        {
            expectedKeys.Add("general.alignment");
            Assert.Equal((uint)alignment, file.Metadata["general.alignment"]);
        }
        Assert.Equal(expectedKeys, file.MetadataEntries.Select(e => e.Key));
        Assert.Empty(file.Tensors);
    }

    [Fact]
    public void Resetting_a_key_replaces_the_value_but_keeps_its_position()
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("order.gguf");
        var writer = new GgufWriter();
        writer.SetMetadata("b", 1);
        writer.SetMetadata("a", "x");
        writer.SetMetadata("b", 2u);
        writer.WriteTo(path);

        using GgufFile file = GgufFile.Open(path);
        Assert.Equal(["b", "a"], file.MetadataEntries.Select(e => e.Key));
        Assert.Equal(2u, file.Metadata["b"]);
        Assert.False(file.Metadata.ContainsKey("general.alignment"));
    }

    [Theory]
    [InlineData(3u, 32)]
    [InlineData(2u, 32)]
    [InlineData(3u, 128)]
    public void Tensors_round_trip_with_aligned_offsets(uint version, int alignment)
    {
        using var directory = new TemporaryDirectory();
        string path = directory.File("tensors.gguf");
        var writer = new GgufWriter(version, alignment);
        writer.SetMetadata("general.architecture", "test");
        writer.AddTensor("f32.vector", GgmlType.F32, [5], s => s.Write(Pattern(20, 1)));
        writer.AddTensor("q8.matrix", GgmlType.Q8_0, [64, 3], s =>
        {
            // Written in pieces to show the callback may stream.
            for (int row = 0; row < 3; row++)
            {
                s.Write(Pattern(68, (byte)(10 + row)));
            }
        });
        writer.AddTensor("f16.cube", GgmlType.F16, [2, 3, 4, 5], s => s.Write(Pattern(240, 7)));
        writer.AddTensor("q4k.row", GgmlType.Q4_K, [256], s => s.Write(Pattern(144, 99)));
        writer.WriteTo(path);

        using GgufFile file = GgufFile.Open(path);
        Assert.Equal(4, file.Tensors.Count);
        Assert.Equal(0, file.DataOffset % alignment);
        long expectedRelative = 0;
        foreach (var (name, bytes, seed) in new[] { ("f32.vector", 20, 1), ("q8.matrix", 204, -1), ("f16.cube", 240, 7), ("q4k.row", 144, 99) })
        {
            GgufTensorInfo tensor = file.GetTensor(name);
            Assert.Equal(bytes, tensor.ByteSize);
            Assert.Equal(expectedRelative, tensor.RelativeOffset);
            Assert.Equal(file.DataOffset + expectedRelative, tensor.AbsoluteOffset);
            if (seed >= 0)
            {
                Assert.Equal(Pattern(bytes, (byte)seed), file.GetTensorBytes(tensor).ToArray());
            }
            expectedRelative = (expectedRelative + bytes + alignment - 1) / alignment * alignment;
        }
        byte[] q8 = file.GetTensorBytes(file.GetTensor("q8.matrix")).ToArray();
        Assert.Equal(Pattern(68, 12), q8[136..]);
        Assert.Equal([2L, 3L, 4L, 5L], file.GetTensor("f16.cube").Dimensions);
        Assert.Equal(60, file.GetTensor("f16.cube").Rows);
        Assert.Equal(GgmlType.Q4_K, file.GetTensor("q4k.row").Type);
        Assert.Equal(file.FileSize, file.DataOffset + expectedRelative);
    }

    [Fact]
    public void Writer_refuses_wrong_data_lengths_and_deletes_the_partial_file()
    {
        using var directory = new TemporaryDirectory();
        string shortPath = directory.File("short.gguf");
        var tooShort = new GgufWriter();
        tooShort.AddTensor("t", GgmlType.F32, [4], s => s.Write(new byte[15]));
        var error = Assert.Throws<InvalidOperationException>(() => tooShort.WriteTo(shortPath));
        Assert.Contains("'t'", error.Message);
        Assert.False(File.Exists(shortPath));

        string longPath = directory.File("long.gguf");
        var tooLong = new GgufWriter();
        tooLong.AddTensor("t", GgmlType.F32, [4], s => s.Write(new byte[17]));
        Assert.Throws<InvalidOperationException>(() => tooLong.WriteTo(longPath));
        Assert.False(File.Exists(longPath));
    }

    [Fact]
    public void Writer_validates_its_inputs()
    {
        var writer = new GgufWriter();
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter(3, 48));
        Assert.Throws<ArgumentOutOfRangeException>(() => new GgufWriter(3, 0));
        Assert.Throws<ArgumentException>(() => writer.SetMetadata("k", new DateTime(2024, 1, 1)));
        Assert.Throws<ArgumentException>(() => writer.SetMetadata("k", new[] { 'a' }));
        Assert.Throws<ArgumentException>(() => writer.SetMetadata("k", new[] { "a", null! }));
        Assert.Throws<ArgumentException>(() => writer.SetMetadata("general.alignment", 64u));
        Assert.Throws<ArgumentException>(() => new GgufArray(GgufValueType.Int32, new uint[1]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", GgmlType.Q4_0, [16], _ => { }));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", GgmlType.F32, [], _ => { }));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", GgmlType.F32, [1, 1, 1, 1, 1], _ => { }));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", GgmlType.F32, [0], _ => { }));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", (GgmlType)5, [1], _ => { }));
        writer.AddTensor("t", GgmlType.F32, [1], s => s.Write(new byte[4]));
        Assert.Throws<ArgumentException>(() => writer.AddTensor("t", GgmlType.F32, [1], _ => { }));
    }

    private static GgufArray NestedSample() => new(GgufValueType.Array, new[]
    {
        new GgufArray(GgufValueType.Int32, new[] { 1, 2, 3 }),
        new GgufArray(GgufValueType.String, new[] { "x", "yz" }),
        new GgufArray(GgufValueType.Array, new[] { new GgufArray(GgufValueType.Float64, new[] { 0.25 }) }),
        new GgufArray(GgufValueType.Bool, Array.Empty<bool>()),
    });

    private static void AssertNestedSample(GgufArray nested)
    {
        Assert.Equal(GgufValueType.Array, nested.ElementType);
        var inner = Assert.IsType<GgufArray[]>(nested.Values);
        Assert.Equal(4, inner.Length);
        Assert.Equal(new[] { 1, 2, 3 }, inner[0].Values);
        Assert.Equal(new[] { "x", "yz" }, inner[1].Values);
        var deepest = Assert.IsType<GgufArray[]>(inner[2].Values);
        Assert.Equal(new[] { 0.25 }, deepest[0].Values);
        Assert.Equal(GgufValueType.Bool, inner[3].ElementType);
        Assert.Equal(0, inner[3].Count);
    }

    private static byte[] Pattern(int length, byte seed)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)(seed * 31 + i * 7);
        }
        return bytes;
    }
}
