using System.Runtime.InteropServices;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model;

/// <summary>
/// The rearrangement <see cref="LlamaWeights"/> asks for when it reads matrices into process memory: Q4_0 matrices
/// whose rows come in eights are regrouped into <see cref="WeightLayout.Q4_0RowGroups"/>, so that decoding runs the
/// eight-rows-per-lane kernels (<see cref="Q4_0RowGroups"/>) instead of the row dot. The token embedding is left
/// as it is: its rows are looked up one by one. <see cref="LlamaTensorReader"/> reads every rearranged tensor back
/// as that layout.
/// </summary>
internal static unsafe class MatrixRegrouping
{
    /// <summary>A <see cref="TensorRearrangement"/>: true when <paramref name="data"/> was regrouped in place.</summary>
    public static bool Regroup(GgufTensorInfo tensor, byte* data)
    {
        if (tensor.Type != GgmlType.Q4_0 || tensor.Name == LlamaTensorNames.TokenEmbedding || !Q4_0RowGroups.IsSupported ||
            tensor.Rows % Q4_0RowGroups.RowGroup != 0 || tensor.Rows > int.MaxValue || tensor.Columns % 32 != 0)
        {
            return false;
        }
        int blocks = checked((int)(tensor.Columns / 32));
        byte* scratch = (byte*)NativeMemory.AlignedAlloc((nuint)Q4_0RowGroups.GroupBytes(blocks), 64);
        try
        {
            return Q4_0RowGroups.TryRegroupInPlace(data, (int)tensor.Rows, blocks, scratch);
        }
        finally
        {
            NativeMemory.AlignedFree(scratch);
        }
    }
}
