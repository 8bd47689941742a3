using LlamaDist.Core.Gguf;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model;

/// <summary>
/// Looks up llama tensors in a mapped GGUF and checks each against the shape and types the forward pass expects,
/// so a bad file fails at load time with the tensor named instead of producing garbage later.
/// </summary>
internal static unsafe class LlamaTensorReader
{
    /// <summary>A required matrix of [columns, rows] in a supported weight type, as a view into the mapping.</summary>
    public static WeightMatrix Matrix(GgufFile file, string name, int columns, int rows, bool repacking = true) =>
        Matrix(file, Require(file, name), columns, rows, repacking);

    /// <summary>
    /// The matrix view of <paramref name="tensor"/>, which must be [columns, rows] of a supported type: its
    /// regrouped copy when <see cref="MatrixRegrouping"/> made one, else the file's bytes (with plain batches when
    /// <paramref name="repacking"/> is off).
    /// </summary>
    public static WeightMatrix Matrix(GgufFile file, GgufTensorInfo tensor, int columns, int rows, bool repacking = true)
    {
        RequireShape(tensor, columns, rows);
        RequireSupportedType(tensor);
        byte* regrouped = file.GetRearrangedTensorPointer(tensor);
        return regrouped != null
            ? new WeightMatrix(regrouped, tensor.Type, rows, columns, RowGroupLayouts.LayoutOf(tensor.Type))
            : new WeightMatrix(file.GetTensorPointer(tensor), tensor.Type, rows, columns, WeightLayout.Rows, repacking);
    }

    /// <summary>A required 1-D weight of <paramref name="length"/> elements, widened to a float array.</summary>
    public static float[] Vector(GgufFile file, string name, int length)
    {
        GgufTensorInfo tensor = Require(file, name);
        RequireShape(tensor, length, rows: 1);
        RequireSupportedType(tensor);
        var values = new float[length];
        Quantizer.DequantizeRow(tensor.Type, file.GetTensorBytes(tensor), values);
        return values;
    }

    public static GgufTensorInfo Require(GgufFile file, string name) =>
        file.FindTensor(name) ?? throw new UnsupportedModelException(
            $"Tensor '{name}' is missing from '{file.FilePath}'; the llama forward pass needs it.", name);

    private static void RequireShape(GgufTensorInfo tensor, int columns, int rows)
    {
        long[] dimensions = tensor.Dimensions;
        bool matches = dimensions.Length >= 1 && dimensions[0] == columns && tensor.Rows == rows;
        for (int i = 2; matches && i < dimensions.Length; i++)
        {
            matches = dimensions[i] == 1; // trailing extents of 1 do not change a matrix
        }
        if (matches && rows > 1)
        {
            matches = dimensions.Length >= 2 && dimensions[1] == rows;
        }
        if (!matches)
        {
            string expected = rows == 1 ? $"[{columns}]" : $"[{columns}, {rows}]";
            throw new UnsupportedModelException(
                $"Tensor '{tensor.Name}' has shape [{string.Join(", ", dimensions)}] but the model's hyper-parameters " +
                $"require {expected}.",
                tensor.Name);
        }
    }

    private static void RequireSupportedType(GgufTensorInfo tensor)
    {
        if (!Quantizer.IsSupported(tensor.Type))
        {
            string typeName = GgmlTypeInfo.IsKnown(tensor.Type) ? GgmlTypeInfo.Name(tensor.Type) : $"id {(uint)tensor.Type}";
            throw new UnsupportedModelException(
                $"Tensor '{tensor.Name}' has type {typeName}, which is not supported; supported weight types are {Quantizer.SupportedWeightTypeNames}.",
                tensor.Name, tensor.Type);
        }
        // K-quants pack rows in 256-element super-blocks; a row that is not whole blocks cannot be addressed.
        int blockSize = GgmlTypeInfo.BlockSize(tensor.Type);
        if (tensor.Columns % blockSize != 0)
        {
            throw new UnsupportedModelException(
                $"Tensor '{tensor.Name}' has type {GgmlTypeInfo.Name(tensor.Type)}, whose rows must be multiples of " +
                $"{blockSize} elements, but its rows hold {tensor.Columns}.",
                tensor.Name, tensor.Type);
        }
    }
}
