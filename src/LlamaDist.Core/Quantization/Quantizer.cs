using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Quantization;

/// <summary>
/// Dispatch by <see cref="GgmlType"/> to the per-format row functions. Supported: F32, F16, BF16, Q8_0, Q4_0,
/// Q4_1, Q5_0, Q5_1 (Q8_1 as their activation type only), Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (Q8_K as their activation
/// type only);
/// every other type throws <see cref="NotSupportedException"/> naming it.
/// </summary>
public static unsafe class Quantizer
{
    /// <summary>True for the types this engine can quantize, dequantize and multiply.</summary>
    public static bool IsSupported(GgmlType type) => type is
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0 or GgmlType.Q4_0
        or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K
        or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1;

    /// <summary>
    /// Encodes <paramref name="source"/> (a whole number of blocks) into <paramref name="destination"/>, which
    /// must hold at least <c>GgmlTypeInfo.RowBytes(type, source.Length)</c> bytes. Q8_0 and Q4_0 are bit-exact
    /// with ggml's reference quantizers (what llama-quantize writes).
    /// </summary>
    public static void QuantizeRow(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination)
    {
        switch (type)
        {
            case GgmlType.F32: F32Format.QuantizeRow(source, destination); break;
            case GgmlType.F16: F16Format.QuantizeRow(source, destination); break;
            case GgmlType.BF16: BF16Format.QuantizeRow(source, destination); break;
            case GgmlType.Q8_0: Q8_0Format.QuantizeRow(source, destination); break;
            case GgmlType.Q4_0: Q4_0Format.QuantizeRow(source, destination); break;
            case GgmlType.Q4_1: Q4_1Format.QuantizeRow(source, destination); break;
            case GgmlType.Q5_0: Q5_0Format.QuantizeRow(source, destination); break;
            case GgmlType.Q5_1: Q5_1Format.QuantizeRow(source, destination); break;
            case GgmlType.Q8_1: Q8_1Format.QuantizeRow(source, destination); break;
            case GgmlType.Q8_K: Q8_KFormat.QuantizeRow(source, destination); break;
            case GgmlType.Q2_K: Q2_KFormat.QuantizeRow(source, destination); break;
            case GgmlType.Q3_K: Q3_KFormat.QuantizeRow(source, destination); break;
            case GgmlType.Q4_K: Q4_KFormat.QuantizeRow(source, destination); break;
            case GgmlType.Q5_K: Q5_KFormat.QuantizeRow(source, destination); break;
            case GgmlType.Q6_K: Q6_KFormat.QuantizeRow(source, destination); break;
            default: throw Unsupported(type);
        }
    }

    /// <summary>Decodes <c>destination.Length</c> elements (a whole number of blocks) from <paramref name="source"/>.</summary>
    public static void DequantizeRow(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        switch (type)
        {
            case GgmlType.F32: F32Format.DequantizeRow(source, destination); break;
            case GgmlType.F16: F16Format.DequantizeRow(source, destination); break;
            case GgmlType.BF16: BF16Format.DequantizeRow(source, destination); break;
            case GgmlType.Q8_0: Q8_0Format.DequantizeRow(source, destination); break;
            case GgmlType.Q4_0: Q4_0Format.DequantizeRow(source, destination); break;
            case GgmlType.Q4_1: Q4_1Format.DequantizeRow(source, destination); break;
            case GgmlType.Q5_0: Q5_0Format.DequantizeRow(source, destination); break;
            case GgmlType.Q5_1: Q5_1Format.DequantizeRow(source, destination); break;
            case GgmlType.Q8_1: Q8_1Format.DequantizeRow(source, destination); break;
            case GgmlType.Q8_K: Q8_KFormat.DequantizeRow(source, destination); break;
            case GgmlType.Q2_K: Q2_KFormat.DequantizeRow(source, destination); break;
            case GgmlType.Q3_K: Q3_KFormat.DequantizeRow(source, destination); break;
            case GgmlType.Q4_K: Q4_KFormat.DequantizeRow(source, destination); break;
            case GgmlType.Q5_K: Q5_KFormat.DequantizeRow(source, destination); break;
            case GgmlType.Q6_K: Q6_KFormat.DequantizeRow(source, destination); break;
            default: throw Unsupported(type);
        }
    }

    /// <summary>
    /// The type activations are converted to before a dot with <paramref name="weightType"/> weights, as ggml's
    /// CPU backend pairs them (vec_dot_type): F32->F32, F16->F16, BF16->BF16, Q8_0->Q8_0, Q4_0->Q8_0.
    /// </summary>
    public static GgmlType ActivationType(GgmlType weightType) => weightType switch
    {
        GgmlType.F32 => GgmlType.F32,
        GgmlType.F16 => GgmlType.F16,
        GgmlType.BF16 => GgmlType.BF16,
        GgmlType.Q8_0 => GgmlType.Q8_0,
        GgmlType.Q4_0 => GgmlType.Q8_0,
        GgmlType.Q5_0 => GgmlType.Q8_0,
        GgmlType.Q4_1 or GgmlType.Q5_1 => GgmlType.Q8_1, // the offset m needs the activation block sum s
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K => GgmlType.Q8_K, // K-quants pair with Q8_K (vec_dot_type)
        _ => throw Unsupported(weightType),
    };

    /// <summary>
    /// Converts a float activation row to <see cref="ActivationType"/>(<paramref name="weightType"/>) the way
    /// llama.cpp's CPU backend does before a matmul (for Q8_0 that is the x86 SIMD quantizer, see
    /// <see cref="Q8_0Format.QuantizeActivationRow(ReadOnlySpan{float}, Span{byte})"/>).
    /// </summary>
    public static void QuantizeActivationRow(GgmlType weightType, ReadOnlySpan<float> source, Span<byte> destination)
    {
        GgmlType activationType = ActivationType(weightType);
        if (activationType == GgmlType.Q8_0)
        {
            Q8_0Format.QuantizeActivationRow(source, destination);
        }
        else if (activationType == GgmlType.Q8_1)
        {
            Q8_1Format.QuantizeActivationRow(source, destination);
        }
        else
        {
            QuantizeRow(activationType, source, destination);
        }
    }

    /// <summary>
    /// Dot product of one <paramref name="weightType"/> row with an activation row already converted by
    /// <see cref="QuantizeActivationRow"/>, at <see cref="DefaultLevel"/> (what MatrixKernels uses).
    /// </summary>
    public static float Dot(GgmlType weightType, ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weightType, weights, activations, columns, DefaultLevel(weightType));

    /// <summary>
    /// The SIMD level MatrixKernels runs <paramref name="weightType"/> rows at: <see cref="SimdCapabilities.Best"/>
    /// for float types, <see cref="SimdCapabilities.BestForInt8"/> for Q8_0/Q4_0 (ggml parity).
    /// </summary>
    public static SimdLevel DefaultLevel(GgmlType weightType) =>
        SimdCapabilities.DefaultFor(int8Dot: ActivationType(weightType) is GgmlType.Q8_0 or GgmlType.Q8_K
            or GgmlType.Q8_1);

    /// <summary>Dot product at a chosen <paramref name="level"/>.</summary>
    public static float Dot(GgmlType weightType, ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations,
        int columns, SimdLevel level) => weightType switch
    {
        GgmlType.F32 => F32Format.Dot(weights, activations, columns, level),
        GgmlType.F16 => F16Format.Dot(weights, activations, columns, level),
        GgmlType.BF16 => BF16Format.Dot(weights, activations, columns, level),
        GgmlType.Q8_0 => Q8_0Format.Dot(weights, activations, columns, level),
        GgmlType.Q4_0 => Q4_0Format.Dot(weights, activations, columns, level),
        GgmlType.Q4_1 => Q4_1Format.Dot(weights, activations, columns, level),
        GgmlType.Q5_0 => Q5_0Format.Dot(weights, activations, columns, level),
        GgmlType.Q5_1 => Q5_1Format.Dot(weights, activations, columns, level),
        GgmlType.Q2_K => Q2_KFormat.Dot(weights, activations, columns, level),
        GgmlType.Q3_K => Q3_KFormat.Dot(weights, activations, columns, level),
        GgmlType.Q4_K => Q4_KFormat.Dot(weights, activations, columns, level),
        GgmlType.Q5_K => Q5_KFormat.Dot(weights, activations, columns, level),
        GgmlType.Q6_K => Q6_KFormat.Dot(weights, activations, columns, level),
        _ => throw Unsupported(weightType),
    };

    /// <summary>Row kernel (weight row, activation row, columns) -> dot for the weight type at a level.</summary>
    internal static delegate*<byte*, byte*, int, float> DotKernel(GgmlType weightType, SimdLevel level) => weightType switch
    {
        GgmlType.F32 => F32Format.DotKernel(level),
        GgmlType.F16 => F16Format.DotKernel(level),
        GgmlType.BF16 => BF16Format.DotKernel(level),
        GgmlType.Q8_0 => Q8_0Format.DotKernel(level),
        GgmlType.Q4_0 => Q4_0Format.DotKernel(level),
        GgmlType.Q4_1 => Q4_1Format.DotKernel(level),
        GgmlType.Q5_0 => Q5_0Format.DotKernel(level),
        GgmlType.Q5_1 => Q5_1Format.DotKernel(level),
        GgmlType.Q2_K => Q2_KFormat.DotKernel(level),
        GgmlType.Q3_K => Q3_KFormat.DotKernel(level),
        GgmlType.Q4_K => Q4_KFormat.DotKernel(level),
        GgmlType.Q5_K => Q5_KFormat.DotKernel(level),
        GgmlType.Q6_K => Q6_KFormat.DotKernel(level),
        _ => throw Unsupported(weightType),
    };

    internal static NotSupportedException Unsupported(GgmlType type)
    {
        string name = GgmlTypeInfo.IsKnown(type) ? GgmlTypeInfo.Name(type) : $"id {(uint)type}";
        return new NotSupportedException($"Tensor type {name} is not supported; supported types are {SupportedWeightTypeNames}.");
    }

    /// <summary>The weight types with kernels, by name, for error messages: "F32, F16, ... Q6_K".</summary>
    public static string SupportedWeightTypeNames { get; } = string.Join(", ",
        Enum.GetValues<GgmlType>().Where(IsSupported).Select(GgmlTypeInfo.Name));
}
