using System.Runtime.InteropServices;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model;

/// <summary>
/// The rearrangement <see cref="LlamaWeights"/> asks for when it reads matrices into process memory: Q4_0 and Q4_K
/// matrices whose rows come in eights are regrouped (<see cref="WeightLayout.Q4_0RowGroups"/>,
/// <see cref="WeightLayout.Q4_KRowGroups"/>), so that decoding runs the eight-rows-per-lane kernels
/// (<see cref="Q4_0RowGroups"/>, <see cref="Q4_KRowGroups"/>) instead of the row dots. The token embedding is left
/// as it is: its rows are looked up one by one. <see cref="LlamaTensorReader"/> reads every rearranged tensor back
/// in the layout of its type (<see cref="RowGroupLayouts.LayoutOf"/>).
/// </summary>
internal static unsafe class MatrixRegrouping
{
    /// <summary>A <see cref="TensorRearrangement"/>: true when <paramref name="data"/> was regrouped in place.</summary>
    public static bool Regroup(GgufTensorInfo tensor, byte* data)
    {
        WeightLayout layout = RowGroupLayouts.LayoutOf(tensor.Type);
        int blockSize = GgmlTypeInfo.BlockSize(tensor.Type);
        if (layout == WeightLayout.Rows || !RowGroupLayouts.IsSupported(layout) ||
            tensor.Name == LlamaTensorNames.TokenEmbedding || tensor.Rows % RowGroupVectors.RowGroup != 0 ||
            tensor.Rows > int.MaxValue || tensor.Columns % blockSize != 0)
        {
            return false;
        }
        int blocks = checked((int)(tensor.Columns / blockSize));
        long rowBytes = GgmlTypeInfo.RowBytes(tensor.Type, tensor.Columns);
        byte* scratch = (byte*)NativeMemory.AlignedAlloc((nuint)(RowGroupVectors.RowGroup * rowBytes), 64);
        try
        {
            return RowGroupLayouts.TryRegroupInPlace(tensor.Type, data, (int)tensor.Rows, blocks, scratch);
        }
        finally
        {
            NativeMemory.AlignedFree(scratch);
        }
    }
}
