namespace LlamaDist.Core.Quantization;

/// <summary>
/// The order a batch walks its weight rows [start, end) in for kernels that take one row against four tokens:
/// tiles of <see cref="RowTile"/> rows by <see cref="TokenTile"/> tokens, so a few rows stay in cache while the
/// tile's tokens pass over them (64 activation rows of 2048 columns are 68-150 KB, L2-resident), each call taking
/// four tokens, and the tokens left over (fewer than four) through the single dot. Results are the kernels' own,
/// whatever the tiling. Used by <see cref="KQuantTileKernels"/> and <see cref="LegacyTileKernels"/>.
/// </summary>
internal static unsafe class FourTokenTiles
{
    private const int RowTile = 16;
    private const int TokenTile = 64;

    /// <summary>
    /// Rows [start, end) against <paramref name="tokens"/> activation rows (<paramref name="activationRowBytes"/>
    /// apart); output is [tokens, rows]. <paramref name="fourTokens"/> takes (row, first activation row, activation
    /// stride, <paramref name="blocks"/>, first output, output stride); <paramref name="single"/> takes (row,
    /// activation row, <paramref name="columns"/>).
    /// </summary>
    public static void Run(delegate*<byte*, byte*, long, int, float*, long, void> fourTokens,
        delegate*<byte*, byte*, int, float> single, int blocks, int columns, byte* weights, long weightRowBytes, int rows,
        byte* activations, int activationRowBytes, int tokens, float* output, int start, int end)
    {
        for (int rowTile = start; rowTile < end; rowTile += RowTile)
        {
            int rowTileEnd = Math.Min(end, rowTile + RowTile);
            for (int tokenTile = 0; tokenTile < tokens; tokenTile += TokenTile)
            {
                int tokenTileEnd = Math.Min(tokens, tokenTile + TokenTile);
                for (int r = rowTile; r < rowTileEnd; r++)
                {
                    byte* weightRow = weights + r * weightRowBytes;
                    int t = tokenTile;
                    for (; t + 4 <= tokenTileEnd; t += 4)
                    {
                        fourTokens(weightRow, activations + (long)t * activationRowBytes, activationRowBytes, blocks,
                            output + (long)t * rows + r, rows);
                    }
                    for (; t < tokenTileEnd; t++)
                    {
                        output[(long)t * rows + r] = single(weightRow, activations + (long)t * activationRowBytes, columns);
                    }
                }
            }
        }
    }
}
