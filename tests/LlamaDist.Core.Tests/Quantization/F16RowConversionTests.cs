using System.Runtime.Intrinsics.X86;
using LlamaDist.Core.Quantization;
using Xunit;

namespace LlamaDist.Core.Tests.Quantization;

/// <summary>
/// <see cref="F16Format.ConvertRowToSingle"/> (the attention's K and V rows): the finite fast path and the exact
/// redo of rows holding Inf or NaN give every half's own float, at row lengths with and without leftovers.
/// </summary>
public unsafe class F16RowConversionTests
{
    [SkippableTheory]
    [InlineData(64)]    // whole 32-half steps only (a TinyLlama head)
    [InlineData(77)]    // steps, 8-half vectors and single leftovers
    [InlineData(31)]    // no whole step
    [InlineData(1)]
    public void EveryHalfPatternConvertsToItsOwnFloat(int columns)
    {
        Skip.IfNot(Avx2.IsSupported, "This CPU does not run AVX2.");
        var halves = new ushort[columns];
        var floats = new float[columns];
        // All 65536 patterns, row after row: finite rows take the fast path, rows with an Inf or NaN the exact one.
        for (int first = 0; first < 65536; first += columns)
        {
            for (int i = 0; i < columns; i++) halves[i] = (ushort)((first + i) & 0xFFFF);
            Convert(halves, floats);
            for (int i = 0; i < columns; i++) AssertSameBits(halves[i], floats[i]);
        }
    }

    [SkippableFact]
    public void OneInfinityOrNaNAnywhereInARowStillConvertsEveryHalfExactly()
    {
        Skip.IfNot(Avx2.IsSupported, "This CPU does not run AVX2.");
        var random = new Random(7);
        foreach (ushort special in new ushort[] { 0x7C00, 0xFC00, 0x7E00, 0xFD55, 0x7C01 })
        {
            foreach (int position in new[] { 0, 31, 32, 63, 70 })
            {
                var halves = new ushort[72];
                for (int i = 0; i < halves.Length; i++) halves[i] = (ushort)(random.Next(0, 0x7C00) | (random.Next(2) << 15));
                halves[position] = special;
                var floats = new float[halves.Length];
                Convert(halves, floats);
                for (int i = 0; i < halves.Length; i++) AssertSameBits(halves[i], floats[i]);
            }
        }
    }

    private static void Convert(ushort[] halves, float[] floats)
    {
        fixed (ushort* source = halves)
        fixed (float* destination = floats)
        {
            F16Format.ConvertRowToSingle((byte*)source, destination, halves.Length);
        }
    }

    private static void AssertSameBits(ushort half, float converted)
    {
        float expected = F16Format.ToSingle(half);
        uint expectedBits = BitConverter.SingleToUInt32Bits(expected), convertedBits = BitConverter.SingleToUInt32Bits(converted);
        if (float.IsNaN(expected))
        {
            // A NaN keeps its sign and payload; the vector conversion leaves a signalling NaN signalling where the
            // scalar table quiets it (as before this fast path), so the quiet bit is not compared.
            expectedBits &= ~0x00400000u;
            convertedBits &= ~0x00400000u;
            Assert.True(float.IsNaN(converted), $"half 0x{half:X4}: {converted} instead of NaN");
        }
        Assert.True(expectedBits == convertedBits,
            $"half 0x{half:X4}: {converted} (0x{convertedBits:X8}) instead of {expected} (0x{expectedBits:X8})");
    }
}
