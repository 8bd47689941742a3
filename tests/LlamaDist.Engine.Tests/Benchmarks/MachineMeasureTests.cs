using System.Runtime.InteropServices;
using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Models;

namespace LlamaDist.Engine.Tests.Benchmarks;

/// <summary>The read bandwidth probe, the resident memory sampler and a local model's byte counts.</summary>
[Collection(MachineMeasureCollection.Name)]
public sealed class MachineMeasureTests
{
    private static readonly string ModelPath = Path.Combine(AppContext.BaseDirectory, "Models", "llama-2-tiny-random.gguf");

    [Fact]
    public void TheProbeReadsEveryByteOfItsBufferAtAPlausibleRate()
    {
        var bandwidth = ReadBandwidthProbe.Measure(threads: 2, bufferBytes: 16L * 1024 * 1024, passes: 2);

        Assert.Equal(16L * 1024 * 1024, bandwidth.BufferBytes);
        Assert.Equal(2, bandwidth.Threads);
        // Between a slow disk and anything memory could do.
        Assert.InRange(bandwidth.GigabytesPerSecond, 0.1, 10_000);
    }

    [Theory]
    [InlineData(0, 16L * 1024 * 1024, 1)]
    [InlineData(2, 1024, 1)]
    [InlineData(2, 16L * 1024 * 1024, 0)]
    [InlineData(2, 64L * 1024 * 1024 * 1024, 1)]
    public void TheProbeRefusesSettingsOutOfRange(int threads, long bytes, int passes)
    {
        var error = Assert.Throws<LlamaDistException>(() => ReadBandwidthProbe.Measure(threads, bytes, passes));

        Assert.Equal(LlamaErrorKind.InvalidArgument, error.Kind);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RangesAreSplitIntoTwoStreamsPerThreadThatCoverEveryByteOnce(int threads)
    {
        // Odd lengths and a gap between ranges, as tensors of a model lie.
        MemoryRange[] ranges = [new(0x10000, 1000), new(0x20000, 77), new(0x30000, 3 * 4096 + 5), new(0x40000, 64)];

        var plan = ReadBandwidthProbe.Plan(ranges, threads);

        Assert.Equal(threads, plan.Length);
        var pieces = plan.SelectMany(reads => reads.First.Concat(reads.Second)).ToList();
        Assert.All(pieces, piece => Assert.True(piece.Bytes > 0));
        // Laid end to end in plan order, the pieces are the ranges again.
        var merged = new List<MemoryRange>();
        foreach (var piece in pieces)
        {
            if (merged.Count > 0 && merged[^1].Start + (nint)merged[^1].Bytes == piece.Start)
                merged[^1] = merged[^1] with { Bytes = merged[^1].Bytes + piece.Bytes };
            else
                merged.Add(piece);
        }
        Assert.Equal(ranges, merged);
        // Shares are equal to within a 64-byte step.
        var shares = plan.Select(reads => reads.First.Concat(reads.Second).Sum(piece => piece.Bytes)).ToArray();
        Assert.True(shares.Max() - shares.Min() <= 64 * 2, string.Join(", ", shares));
    }

    [Fact]
    public unsafe void TheProbeReadsGivenRangesOfAnyLength()
    {
        const int bytes = 3 * 1024 * 1024 + 13;
        var block = (byte*)NativeMemory.Alloc(bytes);
        try
        {
            new Span<byte>(block, bytes).Fill(0x5A);
            MemoryRange[] ranges = [new((nint)block, 1_000_003), new((nint)(block + 1_000_003), bytes - 1_000_003)];

            var bandwidth = ReadBandwidthProbe.MeasureRanges(ranges, threads: 2, passes: 2);

            Assert.Equal(bytes, bandwidth.BufferBytes);
            Assert.Equal(2, bandwidth.Threads);
            Assert.InRange(bandwidth.GigabytesPerSecond, 0.1, 10_000);
        }
        finally
        {
            NativeMemory.Free(block);
        }
    }

    [Fact]
    public unsafe void PreparedReadsTimeOnePassAtATimeAndNoticeChangedMemory()
    {
        const int bytes = 1024 * 1024 + 5;
        var block = (byte*)NativeMemory.Alloc(bytes);
        try
        {
            new Span<byte>(block, bytes).Fill(0x3C);
            var reads = ReadBandwidthProbe.PrepareRanges([new MemoryRange((nint)block, bytes)], threads: 2);

            Assert.Equal(bytes, reads.Bytes);
            Assert.Equal(2, reads.Threads);
            Assert.True(reads.TimePass() > 0);
            Assert.True(reads.TimePass() > 0);
            // A pass must read what the first read: memory that changed in between is an error, not a figure.
            block[bytes / 3] ^= 0xFF;
            Assert.Throws<InvalidOperationException>(() => reads.TimePass());
        }
        finally
        {
            NativeMemory.Free(block);
        }
    }

    [Fact]
    public void TheProbeRefusesRangesItCannotRead()
    {
        Assert.Equal(LlamaErrorKind.InvalidArgument,
            Assert.Throws<LlamaDistException>(() => ReadBandwidthProbe.MeasureRanges([new MemoryRange(0, 4096)], 1)).Kind);
        Assert.Equal(LlamaErrorKind.InvalidArgument,
            Assert.Throws<LlamaDistException>(() => ReadBandwidthProbe.MeasureRanges([new MemoryRange(0x1000, -1)], 1)).Kind);
        Assert.Equal(LlamaErrorKind.InvalidArgument,
            Assert.Throws<LlamaDistException>(() => ReadBandwidthProbe.MeasureRanges([new MemoryRange(0x1000, 100)], 2)).Kind);
        Assert.Equal(LlamaErrorKind.InvalidArgument,
            Assert.Throws<LlamaDistException>(() => ReadBandwidthProbe.MeasureRanges([new MemoryRange(0x1000, 4096)], 0)).Kind);
        Assert.Equal(LlamaErrorKind.InvalidArgument,
            Assert.Throws<LlamaDistException>(() => ReadBandwidthProbe.PrepareRanges([new MemoryRange(0x1000, 100)], 2)).Kind);
    }

    [Fact]
    public void TheDefaultBufferIsLargerThanTheCaches()
    {
        // At least the minimum unless a quarter of memory is less.
        var quarter = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4;
        Assert.InRange(ReadBandwidthProbe.DefaultBufferBytes(), Math.Min(ReadBandwidthProbe.MinimumBufferBytes, quarter), ReadBandwidthProbe.MaximumBufferBytes);
    }

    [Fact]
    public unsafe void TheSamplerSeesMemoryHeldOnlyWhileItRuns()
    {
        const long size = 64L * 1024 * 1024;
        var before = ResidentMemory.CurrentBytes();
        Assert.True(before > 0);
        long peak;
        using (var sampler = new ResidentMemorySampler())
        {
            var block = (byte*)NativeMemory.Alloc((nuint)size);
            try
            {
                new Span<byte>(block, (int)size).Fill(7);  // touched, so resident
                // Several sampling intervals; on a loaded machine the sampler may wait for a core, so up to 10 s.
                var clock = System.Diagnostics.Stopwatch.StartNew();
                do Thread.Sleep(20);
                while (sampler.PeakBytes < before + size * 9 / 10 && clock.Elapsed < TimeSpan.FromSeconds(10));
                peak = sampler.PeakBytes;
            }
            finally
            {
                NativeMemory.Free(block);
            }
        }

        Assert.True(peak >= before + size * 9 / 10, $"peak {peak} against {before} before a {size}-byte block");
    }

    [Fact]
    public void ALocalModelCountsTheBytesADecodedTokenReads()
    {
        using var model = LocalModel.Load(ModelPath, threads: 1);

        // The embedded model: 513,048 F16 parameters (1,026,144 bytes with alignment, as llama-bench reports); its
        // output head is its own tensor, so the 32000 x 8 F16 token embedding table (512,000 bytes) is not read whole.
        Assert.Equal(1_026_144, model.WeightBytes);
        Assert.Equal(1_026_144 - 512_000, model.WeightBytesPerToken);
        // The weights' own pages, read as the probe reads a buffer: exactly the bytes a token reads.
        var weightReads = model.MeasureWeightReads(passes: 1);
        Assert.NotNull(weightReads);
        Assert.Equal(model.WeightBytesPerToken, weightReads.BufferBytes);
        Assert.True(weightReads.GigabytesPerSecond > 0);
        Assert.True(model.ResidentBytesBeforeLoad > 0);
        // Decode steps alternated with reads of those bytes: both rates over the same steps, the fraction their ratio.
        var alternation = model.MeasureDecodeBesideWeightReads(steps: 3);
        Assert.NotNull(alternation);
        Assert.Equal(3, alternation.Steps);
        Assert.Equal(model.WeightBytesPerToken, alternation.BytesPerStep);
        Assert.True(alternation.DecodeSeconds > 0 && alternation.ReadSeconds > 0);
        Assert.Equal(alternation.BytesPerStep * 3 / alternation.DecodeSeconds, alternation.DecodeBytesPerSecond, 6);
        Assert.Equal(alternation.DecodeBytesPerSecond / alternation.ReadBytesPerSecond, alternation.Fraction, 9);
        foreach (var steps in new[] { 0, DecodeBesideReads.MaximumSteps + 1 })
        {
            Assert.Equal(LlamaErrorKind.InvalidArgument,
                Assert.Throws<LlamaDistException>(() => model.MeasureDecodeBesideWeightReads(steps)).Kind);
        }
        // 2 (K and V) x layers x positions x n_kv_head * head_dim x 2 bytes.
        Assert.Equal(2L * model.Summary.LayerCount * 100 * model.Summary.KvHeadCount * (model.Summary.EmbeddingLength / model.Summary.HeadCount) * 2,
            model.KvCacheBytes(100));
    }
}
