using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.Tests.Gguf;
using LlamaDist.Tests.Shared;

namespace LlamaDist.Core.Tests.Model;

/// <summary>
/// Resident weights: which tensors a range copies, that the copies hold the file's bytes, that the model computes
/// exactly what it computes from the mapping (Q4_0 and Q4_K, regrouped, up to rounding), and how Auto decides.
/// </summary>
public sealed unsafe class WeightMemoryTests
{
    [Fact]
    public void A_resident_range_copies_its_block_matrices_and_output_head_and_leaves_the_rest_mapped()
    {
        using var directory = new TemporaryDirectory();
        var model = new SyntheticLlama(32, 3, 48, 4, 2, 20, seed: 5);
        using GgufFile file = GgufFile.Open(model.Write(directory.File("m.gguf")));
        LlamaConfig config = LlamaConfig.FromGguf(file);

        LlamaWeights weights = LlamaWeights.Load(file, config, new LayerRange(1, 3), WeightMemory.Resident);

        Assert.Equal(WeightMemory.Resident, weights.Memory);
        var resident = file.Tensors.Where(file.IsTensorResident).Select(tensor => tensor.Name).Order(StringComparer.Ordinal).ToList();
        var expected = new[] { 1, 2 }
            .SelectMany(layer => LlamaTensorNames.MatrixSuffixes.Select(suffix => LlamaTensorNames.Block(layer, suffix)))
            .Append(LlamaTensorNames.Output)
            .Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, resident);
        Assert.Equal(file.Tensors.Where(file.IsTensorResident).Sum(tensor => (tensor.ByteSize + 63) / 64 * 64), file.ResidentTensorBytes);

        // The matrices point into the copy, whose bytes are the file's.
        GgufTensorInfo gate = file.GetTensor(LlamaTensorNames.Block(2, LlamaTensorNames.GateSuffix));
        Assert.True(weights.GetLayer(2).Gate.Data == file.GetTensorPointer(gate));
        byte[] onDisk = new byte[gate.ByteSize];
        using (FileStream stream = File.OpenRead(file.FilePath))
        {
            stream.Position = gate.AbsoluteOffset;
            stream.ReadExactly(onDisk);
        }
        Assert.Equal(onDisk, file.GetTensorBytes(gate).ToArray());
        Assert.Equal(0, (long)file.GetTensorPointer(gate) % ResidentTensorBlock.TensorAlignment);
    }

    [Fact]
    public void Reading_tensors_again_copies_only_the_new_ones()
    {
        using var directory = new TemporaryDirectory();
        var model = new SyntheticLlama(32, 2, 48, 4, 2, 20, seed: 6);
        using GgufFile file = GgufFile.Open(model.Write(directory.File("m.gguf")));
        GgufTensorInfo query = file.GetTensor(LlamaTensorNames.Block(0, LlamaTensorNames.QuerySuffix));
        GgufTensorInfo key = file.GetTensor(LlamaTensorNames.Block(0, LlamaTensorNames.KeySuffix));

        file.ReadTensorsIntoMemory([query]);
        byte* first = file.GetTensorPointer(query);
        long afterFirst = file.ResidentTensorBytes;
        file.ReadTensorsIntoMemory([query, key, key]);

        Assert.True(first == file.GetTensorPointer(query));
        Assert.Equal(afterFirst + (key.ByteSize + 63) / 64 * 64, file.ResidentTensorBytes);
        Assert.True(file.IsTensorResident(key));
        Assert.False(file.IsTensorResident(file.GetTensor(LlamaTensorNames.TokenEmbedding)));
    }

    [SkippableFact]
    public void Pages_of_copied_tensors_and_the_header_leave_the_mapping_and_the_rest_still_reads_the_same()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "Releasing mapped pages is a Linux call (madvise); elsewhere it does nothing.");
        using var directory = new TemporaryDirectory();
        var model = new SyntheticLlama(256, 2, 512, 4, 2, 2000, seed: 7);
        using GgufFile file = GgufFile.Open(model.Write(directory.File("m.gguf")));
        LlamaConfig config = LlamaConfig.FromGguf(file);
        // Every page of every tensor mapped, as a load that reads through the mapping can leave it.
        long checksum = MappedFileMemory.TouchEveryTensor(file);
        GgufTensorInfo tokens = file.GetTensor(LlamaTensorNames.TokenEmbedding);
        byte[] tokensBefore = file.GetTensorBytes(tokens).ToArray();
        long mappedBefore = MappedFileMemory.ResidentBytes(file.FilePath);

        LlamaWeights.Load(file, config, new LayerRange(0, 2), WeightMemory.Resident);
        long released = file.ReleaseUnusedMappedPages();

        long page = Environment.SystemPageSize;
        long kept = file.Tensors.Where(tensor => !file.IsTensorResident(tensor))
            .Sum(tensor => (tensor.AbsoluteOffset + tensor.ByteSize + page - 1) / page * page - tensor.AbsoluteOffset / page * page);
        long copied = file.Tensors.Where(file.IsTensorResident).Sum(tensor => tensor.ByteSize);
        Assert.True(copied > 4 * page, $"the test model should copy more than a few pages, not {copied} bytes");
        Assert.InRange(released, copied - 2 * page * file.Tensors.Count, (file.FileSize + page - 1) / page * page - kept + page);
        long mappedAfter = MappedFileMemory.ResidentBytes(file.FilePath);
        Assert.True(mappedAfter <= kept, $"{mappedAfter} bytes stay mapped (before: {mappedBefore}); the tensors read through the mapping span {kept}");

        // What is still read through the mapping reads the same; what was copied reads from its copy.
        Assert.Equal(tokensBefore, file.GetTensorBytes(tokens).ToArray());
        GgufTensorInfo down = file.GetTensor(LlamaTensorNames.Block(1, LlamaTensorNames.DownSuffix));
        byte[] onDisk = new byte[down.ByteSize];
        using (FileStream stream = File.OpenRead(file.FilePath))
        {
            stream.Position = down.AbsoluteOffset;
            stream.ReadExactly(onDisk);
        }
        Assert.Equal(onDisk, file.GetTensorBytes(down).ToArray());
        Assert.NotEqual(0, checksum);
    }

    [Fact]
    public void A_tensor_of_another_file_is_refused()
    {
        using var directory = new TemporaryDirectory();
        using GgufFile one = GgufFile.Open(new SyntheticLlama(32, 1, 48, 4, 2, 20, seed: 1).Write(directory.File("a.gguf")));
        using GgufFile other = GgufFile.Open(new SyntheticLlama(32, 1, 48, 4, 2, 20, seed: 2).Write(directory.File("b.gguf")));

        Assert.Throws<ArgumentException>(() => one.ReadTensorsIntoMemory([other.Tensors[0]]));
    }

    [Theory]
    [InlineData(GgmlType.F32, 1)]
    [InlineData(GgmlType.F16, 2)]
    [InlineData(GgmlType.Q8_0, 2)]
    public void Resident_and_mapped_weights_give_the_same_logits_bit_for_bit(GgmlType type, int threads)
    {
        using var directory = new TemporaryDirectory();
        string path = new SyntheticLlama(64, 2, 96, 4, 2, 300, seed: 9, matrixType: type).Write(directory.File("m.gguf"));
        using var mapped = new LoadedModel(path, threads);
        using var resident = new LoadedModel(path, threads);
        int[] tokens = [1, 20, 7, 250, 3];

        float[] fromMapping = Logits(mapped, WeightMemory.Mapped, tokens);
        float[] fromCopy = Logits(resident, WeightMemory.Resident, tokens);

        Assert.Equal(0, mapped.File.ResidentTensorBytes);
        Assert.True(resident.File.ResidentTensorBytes > 0);
        Assert.Equal(fromMapping, fromCopy);
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, 64, 96)]
    [InlineData(GgmlType.Q4_K, 256, 512)]
    public void Resident_Q4_0_and_Q4_K_matrices_are_regrouped_while_the_file_bytes_stay_as_they_are(GgmlType type, int embd, int ffn)
    {
        using var directory = new TemporaryDirectory();
        // 300 vocabulary rows are not whole groups of eight, so the output head stays in file layout.
        string path = new SyntheticLlama(embd, 2, ffn, 4, 2, 300, seed: 10, matrixType: type).Write(directory.File("m.gguf"));
        using var mapped = new LoadedModel(path, 2);
        using var resident = new LoadedModel(path, 2);
        int[] tokens = [1, 20, 7, 250, 3];

        float[] fromMapping = Logits(mapped, WeightMemory.Mapped, tokens);
        float[] fromCopy = Logits(resident, WeightMemory.Resident, tokens);

        LlamaWeights weights = resident.Whole(WeightMemory.Resident).Weights;
        GgufFile file = resident.File;
        GgufTensorInfo query = file.GetTensor(LlamaTensorNames.Block(0, LlamaTensorNames.QuerySuffix));
        WeightLayout grouped = RowGroupLayouts.LayoutOf(type);
        bool regroups = RowGroupLayouts.IsSupported(grouped);
        WeightLayout expectedLayout = regroups ? grouped : WeightLayout.Rows;
        Assert.Equal(expectedLayout, weights.GetLayer(0).Query.Layout);
        Assert.Equal(expectedLayout, weights.GetLayer(1).Down.Layout);
        Assert.Equal(WeightLayout.Rows, weights.Output.Layout);
        Assert.True(file.IsTensorResident(query));
        // The file's bytes (hashed and streamed to workers) are still served exactly, from the mapping.
        byte[] onDisk = new byte[query.ByteSize];
        using (FileStream stream = File.OpenRead(file.FilePath))
        {
            stream.Position = query.AbsoluteOffset;
            stream.ReadExactly(onDisk);
        }
        Assert.Equal(onDisk, file.GetTensorBytes(query).ToArray());
        if (regroups)
        {
            Assert.True(weights.GetLayer(0).Query.Data == file.GetRearrangedTensorPointer(query));
            Assert.False(file.GetTensorPointer(query) == file.GetRearrangedTensorPointer(query));
        }

        // A Q4_0 prompt batch runs the same row-group arithmetic either way: equal bit for bit. Everything else uses
        // the row dots from the mapping and the row groups from the copy: equal up to float rounding.
        int vocabulary = mapped.Config.VocabularySize;
        int exact = type == GgmlType.Q4_0 ? 3 * vocabulary : 0;
        Assert.Equal(fromMapping[..exact], fromCopy[..exact]);
        float largest = fromMapping.Max(MathF.Abs);
        for (int i = exact; i < fromMapping.Length; i++)
        {
            Assert.True(Math.Abs(fromMapping[i] - fromCopy[i]) <= 1e-4f * largest,
                $"logit {i}: mapped {fromMapping[i]:R}, resident {fromCopy[i]:R}");
        }
    }

    [Fact]
    public void Explicit_choices_are_kept_and_auto_maps_what_cannot_fit()
    {
        Assert.Equal(WeightMemory.Mapped, WeightMemoryPolicy.Resolve(WeightMemory.Mapped, 1));
        Assert.Equal(WeightMemory.Resident, WeightMemoryPolicy.Resolve(WeightMemory.Resident, long.MaxValue));
        Assert.Equal(WeightMemory.Mapped, WeightMemoryPolicy.Resolve(WeightMemory.Auto, long.MaxValue / 2));
    }

    [Fact]
    public void Auto_keeps_a_small_range_resident_where_huge_pages_are_offered()
    {
        WeightMemory expected = HugePages.Available && WeightMemoryPolicy.AvailableMemoryBytes() > 2L << 20
            ? WeightMemory.Resident
            : WeightMemory.Mapped;
        Assert.Equal(expected, WeightMemoryPolicy.Resolve(WeightMemory.Auto, 1 << 20));
        if (OperatingSystem.IsLinux())
        {
            Assert.True(WeightMemoryPolicy.AvailableMemoryBytes() > 0);
        }
    }

    private static float[] Logits(LoadedModel model, WeightMemory memory, int[] tokens)
    {
        LlamaForward forward = model.Whole(memory);
        using LlamaSession session = model.WholeSession();
        var logits = new float[tokens.Length * model.Config.VocabularySize];
        forward.EvaluateTokens(session, tokens[..3], logits.AsSpan(0, 3 * model.Config.VocabularySize), logitsForAllTokens: true);
        for (int i = 3; i < tokens.Length; i++)
        {
            forward.EvaluateTokens(session, tokens[i..(i + 1)], logits.AsSpan(i * model.Config.VocabularySize, model.Config.VocabularySize), logitsForAllTokens: false);
        }
        return logits;
    }
}
