using System.Diagnostics;
using LlamaDist.Core.Gguf;
using Xunit;

namespace LlamaDist.Core.Tests.Gguf;

/// <summary>
/// Mutates the real model thousands of times (fixed seed, so failures reproduce) and opens each result: it must
/// either open, with every tensor's bytes readable, or throw <see cref="GgufFormatException"/> — never another
/// exception, a crash, or a hang. Mutations (bit flips, random bytes, truncations, inserted 0xFF runs) target the
/// header (metadata) and the tensor-info region, where the parser makes its decisions.
/// One copy of the file is patched in place and restored after each case, so a case costs a few small writes
/// instead of a fresh 1.7 MB file.
/// </summary>
public class GgufFuzzTests
{
    private const int CaseCount = 3000;
    private const ulong Seed = 0x5EED_0660F;
    private static readonly TimeSpan CaseTimeLimit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Mutated_files_open_or_fail_with_GgufFormatException()
    {
        byte[] original = File.ReadAllBytes(RealModel.Path);
        using var directory = new TemporaryDirectory();
        string path = directory.File("fuzz.gguf");
        File.WriteAllBytes(path, original);
        var random = new SplitMix64(Seed);
        int opened = 0;
        int rejected = 0;
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < CaseCount; i++)
        {
            Mutation mutation = NextMutation(original, random);
            mutation.Apply(path, original);
            bool openedFine;
            try
            {
                openedFine = await Task.Run(() => TryOpenAndTouch(path)).WaitAsync(CaseTimeLimit);
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
            if (openedFine)
            {
                opened++;
            }
            else
            {
                rejected++;
            }
            mutation.Restore(path, original);
        }
        Assert.Equal(original, File.ReadAllBytes(path)); // every case was restored, so every case saw one mutation
        Assert.Equal(CaseCount, opened + rejected);
        // Both outcomes must actually occur, or the mutations are not exercising the parser.
        Assert.InRange(rejected, CaseCount / 4, CaseCount - 1);
        Assert.InRange(opened, 1, CaseCount);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(60), $"fuzzing took {stopwatch.Elapsed}");
    }

    /// <summary>True when the file opened (after reading every tensor), false on GgufFormatException.</summary>
    private static bool TryOpenAndTouch(string path)
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
            return checksum >= 0;
        }
        catch (GgufFormatException)
        {
            return false;
        }
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
    private sealed record Mutation(MutationKind Kind, int Position, byte[] Bytes, string Description)
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
