using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Q4_0 weights x Q8_0 activations for batches (prompts), AVX2: eight weight rows at once, one row per vector lane.
/// <para>
/// The row dot (<see cref="Q4_0Format.DotVector256"/>, ggml's vec_dot) keeps eight partial sums per row, each a
/// quarter of a block, and multiplies each by the block's scale: one float multiply-add per block per row. Here a
/// block's 32 products are summed exactly in integers for eight rows together, and one multiply-add per block
/// serves all eight, which halves the vector work per weight x token (llama.cpp's prompt path for Q4_0 repacks the
/// weights the same way). The result is each row's exactly summed blocks, accumulated block by block:
/// <c>acc = fma(d_w * d_x, sum((q_w - 8) * q_x), acc)</c> (see <see cref="Reference"/>), which differs from the row
/// dot by float rounding only. Decoding (one token) keeps the row dot.
/// </para>
/// Packed layout of a group of eight rows (<see cref="Pack"/>), per block: eight 32-byte vectors, vector g holding
/// elements 4g..4g+3 of rows 0..7 (4 bytes per row, nibbles as unsigned bytes), then the eight row scales as floats.
/// </summary>
internal static unsafe class Q4_0BatchKernels
{
    /// <summary>Rows per kernel call: one per 32-bit lane of a 256-bit vector.</summary>
    public const int RowGroup = 8;

    /// <summary>Bytes of one packed block of <see cref="RowGroup"/> rows: 8 x 32 nibble bytes, 8 float scales.</summary>
    public const int PackedBlockBytes = RowGroup * 32 + RowGroup * sizeof(float);

    /// <summary>
    /// Packs <paramref name="rowCount"/> (1..8) Q4_0 rows of <paramref name="blocks"/> blocks into the layout above;
    /// missing rows are zeros (their lanes compute 0 and are not stored).
    /// </summary>
    public static void Pack(byte* weights, long rowBytes, int rowCount, int blocks, byte* destination)
    {
        Vector256<uint> shifts = Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4);
        Vector256<byte> low = Vector256.Create((byte)0x0F);
        for (int b = 0; b < blocks; b++)
        {
            uint* packed = (uint*)(destination + (long)b * PackedBlockBytes);
            float* scales = (float*)((byte*)packed + RowGroup * 32);
            for (int r = 0; r < RowGroup; r++)
            {
                if (r >= rowCount)
                {
                    for (int g = 0; g < 8; g++)
                    {
                        packed[g * 8 + r] = 0;
                    }
                    scales[r] = 0f;
                    continue;
                }
                byte* block = weights + r * rowBytes + (long)b * Q4_0Format.BlockBytes;
                scales[r] = F16Format.ToSingle(*(ushort*)block);
                // The 32 nibbles in element order (low nibbles of the 16 bytes, then the high ones), as 8 groups
                // of 4 bytes; group g goes to lane r of vector g.
                Vector256<uint> both = Avx2.BroadcastVector128ToVector256(block + 2).AsUInt32();
                Vector256<uint> nibbles = (Avx2.ShiftRightLogicalVariable(both, shifts).AsByte() & low).AsUInt32();
                for (int g = 0; g < 8; g++)
                {
                    packed[g * 8 + r] = nibbles.GetElement(g);
                }
            }
        }
    }

    /// <summary>
    /// The eight packed rows against four extended activation rows (stride <paramref name="aStride"/>); row r,
    /// token j goes to y[r + j * yStride] for r below <paramref name="validRows"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Dot8x4(byte* packed, int blocks, byte* a, long aStride, float* y, long yStride, int validRows)
    {
        Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
        Vector256<float> acc2 = Vector256<float>.Zero, acc3 = Vector256<float>.Zero;
        byte* a1 = a + aStride, a2 = a1 + aStride, a3 = a2 + aStride;
        for (int b = 0; b < blocks; b++)
        {
            Vector256<short> p0 = Vector256<short>.Zero, p1 = Vector256<short>.Zero;
            Vector256<short> p2 = Vector256<short>.Zero, p3 = Vector256<short>.Zero;
            // Each int16 lane gathers two products of one row per group: at most 8 x 2 x 15 x 127 = 30480 in
            // magnitude, so the int16 sums cannot overflow.
            for (int g = 0; g < 8; g++)
            {
                Vector256<byte> w = Vector256.Load(packed + g * 32);
                p0 += Avx2.MultiplyAddAdjacent(w, Vector256.Create(*(int*)(a + g * 4)).AsSByte());
                p1 += Avx2.MultiplyAddAdjacent(w, Vector256.Create(*(int*)(a1 + g * 4)).AsSByte());
                p2 += Avx2.MultiplyAddAdjacent(w, Vector256.Create(*(int*)(a2 + g * 4)).AsSByte());
                p3 += Avx2.MultiplyAddAdjacent(w, Vector256.Create(*(int*)(a3 + g * 4)).AsSByte());
            }
            Vector256<float> scales = Vector256.Load((float*)(packed + RowGroup * 32));
            acc0 = Accumulate(acc0, p0, scales, a);
            acc1 = Accumulate(acc1, p1, scales, a1);
            acc2 = Accumulate(acc2, p2, scales, a2);
            acc3 = Accumulate(acc3, p3, scales, a3);
            packed += PackedBlockBytes;
            a += Q8TileKernels.ExtBlockBytes;
            a1 += Q8TileKernels.ExtBlockBytes;
            a2 += Q8TileKernels.ExtBlockBytes;
            a3 += Q8TileKernels.ExtBlockBytes;
        }
        Store(acc0, y, validRows);
        Store(acc1, y + yStride, validRows);
        Store(acc2, y + 2 * yStride, validRows);
        Store(acc3, y + 3 * yStride, validRows);
    }

    /// <summary>The eight packed rows against one extended activation row; row r to y[r] for r below validRows.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a kernel of its own: its helpers inline into it
    public static void Dot8x1(byte* packed, int blocks, byte* a, float* y, int validRows)
    {
        Vector256<float> acc = Vector256<float>.Zero;
        for (int b = 0; b < blocks; b++)
        {
            Vector256<short> p = Vector256<short>.Zero;
            for (int g = 0; g < 8; g++)
            {
                p += Avx2.MultiplyAddAdjacent(Vector256.Load(packed + g * 32), Vector256.Create(*(int*)(a + g * 4)).AsSByte());
            }
            acc = Accumulate(acc, p, Vector256.Load((float*)(packed + RowGroup * 32)), a);
            packed += PackedBlockBytes;
            a += Q8TileKernels.ExtBlockBytes;
        }
        Store(acc, y, validRows);
    }

    /// <summary>
    /// One row's value as the kernels compute it, scalar: each block's products summed exactly, then
    /// <c>acc = fma(d_w * d_x, sum, acc)</c> block by block. <paramref name="activation"/> is a Q8_0 row (the values
    /// the kernels' extended rows hold).
    /// </summary>
    public static float Reference(ReadOnlySpan<byte> row, ReadOnlySpan<byte> activation, int blocks)
    {
        float acc = 0f;
        for (int b = 0; b < blocks; b++)
        {
            ReadOnlySpan<byte> block = row.Slice(b * Q4_0Format.BlockBytes, Q4_0Format.BlockBytes);
            ReadOnlySpan<byte> partner = activation.Slice(b * Q8_0Format.BlockBytes, Q8_0Format.BlockBytes);
            int sum = 0;
            for (int e = 0; e < 32; e++)
            {
                int nibble = e < 16 ? block[2 + e] & 0x0F : block[2 + e - 16] >> 4;
                sum += (nibble - 8) * (sbyte)partner[2 + e];
            }
            float scale = F16Format.ToSingle(BitConverter.ToUInt16(block)) * F16Format.ToSingle(BitConverter.ToUInt16(partner));
            acc = MathF.FusedMultiplyAdd(scale, sum, acc);
        }
        return acc;
    }

    /// <summary>acc + (d_w x d_x) * (sum(nibble * q) - 8 * sum(q)) for eight rows; every step exact but the fma.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Accumulate(Vector256<float> acc, Vector256<short> pairs, Vector256<float> weightScales, byte* activation)
    {
        Vector256<int> sums = Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1))
            - Vector256.Create(*(int*)(activation + Q8TileKernels.BlockCorrectionOffset));
        Vector256<float> scales = weightScales * Vector256.Create(*(float*)(activation + Q8TileKernels.ScaleOffset));
        return Fma.MultiplyAdd(scales, Avx.ConvertToVector256Single(sums), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector256<float> values, float* y, int validRows)
    {
        if (validRows == RowGroup)
        {
            values.Store(y);
            return;
        }
        for (int r = 0; r < validRows; r++)
        {
            y[r] = values.GetElement(r);
        }
    }

    /// <summary>
    /// Rows [start, end) of a Q4_0 matrix against <paramref name="tokens"/> extended activation rows: groups of
    /// eight rows packed once into <paramref name="scratch"/> (<see cref="PackedBlockBytes"/> x blocks bytes), then
    /// every token in fours and the rest one by one. Output is token-major: y[t * rows + r].
    /// </summary>
    public static void Rows(byte* weights, long rowBytes, int rows, int blocks, byte* activations, int activationRowBytes,
        int tokens, float* output, int start, int end, byte* scratch)
    {
        for (int group = start; group < end; group += RowGroup)
        {
            int valid = Math.Min(RowGroup, end - group);
            Pack(weights + group * rowBytes, rowBytes, valid, blocks, scratch);
            int t = 0;
            for (; t + 4 <= tokens; t += 4)
            {
                Dot8x4(scratch, blocks, activations + (long)t * activationRowBytes, activationRowBytes,
                    output + (long)t * rows + group, rows, valid);
            }
            for (; t < tokens; t++)
            {
                Dot8x1(scratch, blocks, activations + (long)t * activationRowBytes, output + (long)t * rows + group, valid);
            }
        }
    }

    /// <summary>Scratch bytes <see cref="Rows"/> needs for <paramref name="blocks"/> blocks per row.</summary>
    public static long ScratchBytes(int blocks) => (long)blocks * PackedBlockBytes;
}
