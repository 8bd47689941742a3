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
/// in the layout of its type (<see cref="LayoutOf"/>).
/// </summary>
internal static unsafe class MatrixRegrouping
{
    /// <summary>The layout a rearranged tensor of <paramref name="type"/> is in.</summary>
    public static WeightLayout LayoutOf(GgmlType type) => type switch
    {
        GgmlType.Q4_0 => WeightLayout.Q4_0RowGroups,
        GgmlType.Q4_K => WeightLayout.Q4_KRowGroups,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Only Q4_0 and Q4_K tensors are regrouped."),
    };

    /// <summary>A <see cref="TensorRearrangement"/>: true when <paramref name="data"/> was regrouped in place.</summary>
    public static bool Regroup(GgufTensorInfo tensor, byte* data)
    {
        bool supported = tensor.Type switch
        {
            GgmlType.Q4_0 => Q4_0RowGroups.IsSupported,
            GgmlType.Q4_K => Q4_KRowGroups.IsSupported,
            _ => false,
        };
        int blockSize = GgmlTypeInfo.BlockSize(tensor.Type);
        if (!supported || tensor.Name == LlamaTensorNames.TokenEmbedding || tensor.Rows % RowGroupVectors.RowGroup != 0 ||
            tensor.Rows > int.MaxValue || tensor.Columns % blockSize != 0)
        {
            return false;
        }
        int blocks = checked((int)(tensor.Columns / blockSize));
        long rowBytes = GgmlTypeInfo.RowBytes(tensor.Type, tensor.Columns);
        byte* scratch = (byte*)NativeMemory.AlignedAlloc((nuint)(RowGroupVectors.RowGroup * rowBytes), 64);
        try
        {
            return tensor.Type == GgmlType.Q4_0
                ? Q4_0RowGroups.TryRegroupInPlace(data, (int)tensor.Rows, blocks, scratch)
                : Q4_KRowGroups.TryRegroupInPlace(data, (int)tensor.Rows, blocks, scratch);
        }
        finally
        {
            NativeMemory.AlignedFree(scratch);
        }
    }
}
