namespace LlamaDist.Core.Quantization;

/// <summary>
/// The order a decoding thread walks its rows [start, end) in: row start + i together with row start + half + i
/// (half = (end - start) / 2) through a two-row kernel, then an odd last row alone.
/// <para>Why rows far apart rather than neighbours: a decoded token reads every weight once and waits on memory,
/// and two read streams through distant parts of a matrix keep more reads in flight than one stream or two
/// adjacent rows. On a 2-core Zen 3 machine, plain vector reads of a 2 GB weight set ran at 20.3 GB/s as one
/// stream per thread, 20.0 as adjacent row pairs and 24.8 as two far streams; a TinyLlama Q8_0 model decoded at
/// 18.9 against 15.5 tokens/s and an F16 one at 9.1 against 8.1 (throwaway harnesses alternating the orders in
/// one process).</para>
/// <para>Users: F16 rows (<see cref="F16Format.DotScaled256Pair"/>, <see cref="F16Format.DotScaled512Pair"/>), Q4_0 / Q8_0 rows in file
/// layout and Q3_K / Q4_K / Q5_K / Q6_K rows (their two-row tile kernels), regrouped Q4_0 (<see cref="RunGroups"/>). Regrouped
/// Q4_K keeps one group per call: its two-group kernel decoded 5-8% slower.</para>
/// Each row still goes through the same arithmetic as the single-row kernel, so results do not change.
/// </summary>
internal static unsafe class DecodeRowPairs
{
    /// <summary>
    /// Runs rows [start, end) of a row-major matrix against one activation row. <paramref name="pairKernel"/>
    /// takes (first row, bytes to the second row, activations, <paramref name="pairLength"/>, y) and writes
    /// y[0], y[1]; <paramref name="rowKernel"/> takes (row, activations, <paramref name="rowLength"/>).
    /// </summary>
    public static void Run(delegate*<byte*, long, byte*, int, float*, void> pairKernel, int pairLength,
        delegate*<byte*, byte*, int, float> rowKernel, int rowLength,
        byte* weights, long rowBytes, byte* activations, float* output, int start, int end)
    {
        int half = (end - start) / 2;
        long secondRowOffset = half * rowBytes;
        float* pair = stackalloc float[2];
        for (int row = start; row < start + half; row++)
        {
            pairKernel(weights + row * rowBytes, secondRowOffset, activations, pairLength, pair);
            output[row] = pair[0];
            output[row + half] = pair[1];
        }
        if (((end - start) & 1) != 0)
        {
            output[end - 1] = rowKernel(weights + (end - 1) * rowBytes, activations, rowLength);
        }
    }

    /// <summary>
    /// The same order over groups [startGroup, endGroup) of eight rows stored as one unit
    /// (<see cref="RowGroupVectors"/>, <paramref name="groupBytes"/> each; group g's rows go to output[8g..8g+8)).
    /// <paramref name="pairKernel"/> takes (first group, bytes to the second, <paramref name="blocks"/>,
    /// activations, first output, second output); <paramref name="groupKernel"/> takes (group, blocks,
    /// activations, output, valid rows).
    /// </summary>
    public static void RunGroups(delegate*<byte*, long, int, byte*, float*, float*, void> pairKernel,
        delegate*<byte*, int, byte*, float*, int, void> groupKernel, int blocks,
        byte* matrix, long groupBytes, byte* activations, float* output, int startGroup, int endGroup)
    {
        int rows = RowGroupVectors.RowGroup;
        int half = (endGroup - startGroup) / 2;
        for (int group = startGroup; group < startGroup + half; group++)
        {
            pairKernel(matrix + group * groupBytes, half * groupBytes, blocks, activations, output + group * rows,
                output + (group + half) * rows);
        }
        if (((endGroup - startGroup) & 1) != 0)
        {
            int last = endGroup - 1;
            groupKernel(matrix + last * groupBytes, blocks, activations, output + last * rows, rows);
        }
    }
}
