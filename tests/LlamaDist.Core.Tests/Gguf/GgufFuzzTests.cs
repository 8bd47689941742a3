using LlamaDist.Tests.Shared;
using System.Diagnostics;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Core.Tokenization;
using Xunit;
using Xunit.Abstractions;

namespace LlamaDist.Core.Tests.Gguf;

/// <summary>
/// Mutates the real model thousands of times (fixed seed, so failures reproduce) and loads each result as the
/// engine does — header, every tensor's bytes, the llama hyper-parameters, the tokenizer: every case must load, or
/// fail with <see cref="GgufFormatException"/> or <see cref="InvalidVocabularyException"/> (both InvalidGguf to a
/// user), or, when the mutation produced a well-formed file of another architecture or shape (say "llama" became
/// "llamb"), with <see cref="UnsupportedModelException"/>/<see cref="UnsupportedTokenizerException"/>. Never
/// another exception, a crash, or a hang. Mutations (bit flips, random bytes, truncations, inserted 0xFF runs,
/// tensor data offsets pointed at other tensors or outside the file) target the header (metadata) and the
/// tensor-info region, where the parser makes its decisions; a tensor moved onto another one must be refused.
/// One copy of the file is patched in place and restored after each case, so a case costs a few small writes
/// instead of a fresh 1.7 MB file. <see cref="FuzzSettings.IterationsVariable"/> sets the count (build.ps1 -Task Fuzz).
/// </summary>
public class GgufFuzzTests(ITestOutputHelper output)
{
    private const int QuickCaseCount = 2000;
    private const ulong Seed = 0x5EED_0660F;
    private static readonly TimeSpan CaseTimeLimit = TimeSpan.FromSeconds(10);

    private enum Outcome { Loaded, InvalidGguf, Unsupported }

    [Fact]
    [Trait("Category", FuzzSettings.Category)]
    public async Task Mutated_files_load_or_fail_as_InvalidGguf()
    {
        int caseCount = FuzzSettings.Iterations(QuickCaseCount);
        byte[] original = File.ReadAllBytes(RealModel.Path);
        using var directory = new TemporaryDirectory();
        string path = directory.File("fuzz.gguf");
        File.WriteAllBytes(path, original);
        ulong seed = FuzzSettings.Seed(Seed);
        var random = new SplitMix64(seed);
        List<(int Position, ulong Value)> offsetFields = TensorOffsetFields(original);
        var outcomes = new Dictionary<Outcome, int> { [Outcome.Loaded] = 0, [Outcome.InvalidGguf] = 0, [Outcome.Unsupported] = 0 };
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < caseCount; i++)
        {
            Mutation mutation = random.Next(8) == 0 ? NextOffsetMutation(offsetFields, random) : NextMutation(original, random);
            mutation.Apply(path, original);
            Outcome outcome;
            try
            {
                outcome = await Task.Run(() => Load(path)).WaitAsync(CaseTimeLimit);
            }
            catch (TimeoutException)
            {
                Assert.Fail($"Case {i} ({mutation}) did not finish within {CaseTimeLimit.TotalSeconds} s.");
                throw;
            }
            catch (Exception unexpected)
            {
                Assert.Fail($"Case {i} ({mutation}) threw {unexpected}");
                throw;
            }
            Assert.False(mutation.MustBeRefused && outcome != Outcome.InvalidGguf, $"Case {i} ({mutation}) was not refused: {outcome}.");
            outcomes[outcome]++;
            mutation.Restore(path, original);
        }
        output.WriteLine($"GGUF fuzz: {caseCount} mutated files, seed 0x{seed:X}, {stopwatch.Elapsed.TotalSeconds:F1} s: " +
            string.Join(", ", outcomes.Select(pair => $"{pair.Key} {pair.Value}")));
        Assert.Equal(original, File.ReadAllBytes(path)); // every case was restored, so every case saw one mutation
        Assert.Equal(caseCount, outcomes.Values.Sum());
        // Both outcomes must actually occur, or the mutations are not exercising the parser.
        Assert.InRange(outcomes[Outcome.InvalidGguf], caseCount / 4, caseCount - 1);
        Assert.InRange(outcomes[Outcome.Loaded], 1, caseCount);
    }

    /// <summary>Loads the file as the engine would; the outcome, or the unexpected exception thrown on.</summary>
    private static Outcome Load(string path)
    {
        try
        {
            using GgufFile file = GgufFile.Open(path);
            long checksum = 0;
            foreach (GgufTensorInfo tensor in file.Tensors)
            {
                ReadOnlySpan<byte> bytes = file.GetTensorBytes(tensor);
                checksum += bytes[0] + bytes[^1]; // first and last byte of every tensor must be mapped
            }
            foreach (KeyValuePair<string, object> entry in file.MetadataEntries)
            {
                checksum += entry.Key.Length;
            }
            var config = LlamaConfig.FromGguf(file);
            var tokenizer = TokenizerFactory.FromGguf(file);
            checksum += config.VocabularySize + tokenizer.Encode("Hello world", addSpecial: true).Length;
            return checksum >= 0 ? Outcome.Loaded : Outcome.InvalidGguf;
        }
        catch (Exception exception) when (exception is GgufFormatException or InvalidVocabularyException)
        {
            return Outcome.InvalidGguf;
        }
        catch (Exception exception) when (exception is UnsupportedModelException or UnsupportedTokenizerException)
        {
            return Outcome.Unsupported;
        }
    }

    /// <summary>
    /// Points one tensor's data offset somewhere else: at another tensor's data (they overlap), at 0 (as a file
    /// with every offset 0 has it), at a random aligned place, or far past the end of the file.
    /// </summary>
    private static Mutation NextOffsetMutation(List<(int Position, ulong Value)> fields, SplitMix64 random)
    {
        var (position, value) = fields[(int)random.Next((ulong)fields.Count)];
        ulong replacement = random.Next(4) switch
        {
            0 => fields[(int)random.Next((ulong)fields.Count)].Value,
            1 => 0,
            2 => random.Next((ulong)RealModel.FileSize) & ~31UL,
            _ => ulong.MaxValue - 31,
        };
        // Every tensor of the model has data, so a tensor moved onto another's offset overlaps it.
        bool overlaps = replacement != value && fields.Any(field => field.Value == replacement);
        return new Mutation(MutationKind.Overwrite, position, BitConverter.GetBytes(replacement),
            $"tensor data offset at {position} changed from {value} to {replacement}", overlaps || replacement > (ulong)RealModel.FileSize);
    }

    /// <summary>
    /// Where each tensor info's data offset lies in the file, read from the tensor-info region: name (u64 length,
    /// bytes), n_dims (u32), dims (u64 each), type (u32), offset (u64).
    /// </summary>
    private static List<(int Position, ulong Value)> TensorOffsetFields(byte[] file)
    {
        var fields = new List<(int, ulong)>();
        int position = (int)RealModel.EndOfMetadata;
        while (position < RealModel.EndOfTensorInfos)
        {
            position += 8 + (int)BitConverter.ToUInt64(file, position);
            int dimensions = (int)BitConverter.ToUInt32(file, position);
            position += 4 + 8 * dimensions + 4;
            fields.Add((position, BitConverter.ToUInt64(file, position)));
            position += 8;
        }
        Assert.Equal(RealModel.EndOfTensorInfos, position);
        return fields;
    }

    private static Mutation NextMutation(byte[] original, SplitMix64 random)
    {
        // Half of the mutations land in the first 4 KiB (magic, counts, first keys, small scalars), a quarter in
        // the tensor-info region, and a quarter anywhere in the metadata (the vocabulary arrays).
        (long start, long end) = random.Next(4) switch
        {
            0 or 1 => (0L, 4096L),
            2 => (RealModel.EndOfMetadata - 64, RealModel.EndOfTensorInfos + 32),
            _ => (0L, RealModel.EndOfMetadata),
        };
        int position = (int)(start + (long)random.Next((ulong)(end - start)));
        switch (random.Next(4))
        {
            case 0:
            {
                byte[] patch = original.AsSpan(position, 16).ToArray();
                int flips = 1 + (int)random.Next(4);
                for (int f = 0; f < flips; f++)
                {
                    patch[random.Next(16)] ^= (byte)(1 << (int)random.Next(8));
                }
                return new Mutation(MutationKind.Overwrite, position, patch, $"{flips} bit flips near {position}");
            }
            case 1:
                return new Mutation(MutationKind.Overwrite, position, [(byte)random.Next(256)], $"random byte at {position}");
            case 2:
                return new Mutation(MutationKind.Truncate, position, [], $"truncated to {position}");
            default:
            {
                int run = 1 + (int)random.Next(16);
                byte[] fill = new byte[run];
                fill.AsSpan().Fill(0xFF);
                return new Mutation(MutationKind.Insert, position, fill, $"{run} x 0xFF inserted at {position}");
            }
        }
    }

    private enum MutationKind { Overwrite, Truncate, Insert }

    /// <summary>One change to the file, applied in place and undone from the original bytes.</summary>
    private sealed record Mutation(MutationKind Kind, int Position, byte[] Bytes, string Description, bool MustBeRefused = false)
    {
        public void Apply(string path, byte[] original)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None);
            switch (Kind)
            {
                case MutationKind.Overwrite:
                    file.Position = Position;
                    file.Write(Bytes);
                    break;
                case MutationKind.Truncate:
                    file.SetLength(Position);
                    break;
                default:
                    file.Position = Position;
                    file.Write(Bytes);
                    file.Write(original.AsSpan(Position));
                    break;
            }
        }

        public void Restore(string path, byte[] original)
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None);
            file.Position = Position;
            if (Kind == MutationKind.Overwrite)
            {
                file.Write(original.AsSpan(Position, Bytes.Length));
                return;
            }
            file.Write(original.AsSpan(Position));
            file.SetLength(original.Length);
        }

        public override string ToString() => Description;
    }

    /// <summary>Fixed-algorithm generator so the case list never changes with the runtime's Random.</summary>
    private sealed class SplitMix64(ulong seed)
    {
        private ulong _state = seed;

        public ulong Next(ulong exclusiveBound) => NextUInt64() % exclusiveBound;

        private ulong NextUInt64()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }
}
