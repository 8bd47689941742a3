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
    public static bool IsSupported(GgmlType type) => WeightTypeTraits.TryGetWeightType(type) is not null;

    /// <summary>
    /// Encodes <paramref name="source"/> (a whole number of blocks) into <paramref name="destination"/>, which
    /// must hold at least <c>GgmlTypeInfo.RowBytes(type, source.Length)</c> bytes. Q8_0 and Q4_0 are bit-exact
    /// with ggml's reference quantizers (what llama-quantize writes).
    /// </summary>
    public static void QuantizeRow(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination) =>
        WeightTypeTraits.For(type).Quantize(source, destination);

    /// <summary>Decodes <c>destination.Length</c> elements (a whole number of blocks) from <paramref name="source"/>.</summary>
    public static void DequantizeRow(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination) =>
        WeightTypeTraits.For(type).Dequantize(source, destination);

    /// <summary>
    /// The type activations are converted to before a dot with <paramref name="weightType"/> weights, as ggml's
    /// CPU backend pairs them (vec_dot_type): F32->F32, F16->F16, BF16->BF16, Q8_0/Q4_0/Q5_0->Q8_0,
    /// Q4_1/Q5_1->Q8_1, K-quants->Q8_K.
    /// </summary>
    public static GgmlType ActivationType(GgmlType weightType) => WeightTraits(weightType).ActivationType!.Value;

    /// <summary>
    /// Converts a float activation row to <see cref="ActivationType"/>(<paramref name="weightType"/>) the way
    /// llama.cpp's CPU backend does before a matmul (for Q8_0 that is the x86 SIMD quantizer, see
    /// <see cref="Q8_0Format.QuantizeActivationRow(ReadOnlySpan{float}, Span{byte})"/>).
    /// </summary>
    public static void QuantizeActivationRow(GgmlType weightType, ReadOnlySpan<float> source, Span<byte> destination) =>
        WeightTypeTraits.For(ActivationType(weightType)).QuantizeAsActivation(source, destination);

    /// <summary>
    /// Dot product of one <paramref name="weightType"/> row with an activation row already converted by
    /// <see cref="QuantizeActivationRow"/>, at <see cref="DefaultLevel"/> (what MatrixKernels uses).
    /// </summary>
    public static float Dot(GgmlType weightType, ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns) =>
        Dot(weightType, weights, activations, columns, DefaultLevel(weightType));

    /// <summary>
    /// The SIMD level MatrixKernels runs <paramref name="weightType"/> rows at: <see cref="SimdCapabilities.Best"/>
    /// for float types, <see cref="SimdCapabilities.BestForInt8"/> for types paired with 8-bit activations (ggml parity).
    /// </summary>
    public static SimdLevel DefaultLevel(GgmlType weightType) => WeightTraits(weightType).DefaultLevel;

    /// <summary>Dot product at a chosen <paramref name="level"/>.</summary>
    public static float Dot(GgmlType weightType, ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations,
        int columns, SimdLevel level)
    {
        WeightTypeTraits traits = WeightTraits(weightType);
        GgmlType activationType = traits.ActivationType!.Value;
        return RowArguments.Dot(weights, activations, columns, traits.BlockSize, GgmlTypeInfo.Name(weightType),
            traits.BlockBytes, GgmlTypeInfo.Name(activationType), WeightTypeTraits.For(activationType).BlockBytes,
            traits.DotKernelAt(level));
    }

    /// <summary>Row kernel (weight row, activation row, columns) -> dot for the weight type at a level.</summary>
    internal static delegate*<byte*, byte*, int, float> DotKernel(GgmlType weightType, SimdLevel level) =>
        WeightTraits(weightType).DotKernelAt(level);

    /// <summary>The traits of a weight type; <see cref="NotSupportedException"/> naming any other type.</summary>
    private static WeightTypeTraits WeightTraits(GgmlType weightType) =>
        WeightTypeTraits.TryGetWeightType(weightType) ?? throw Unsupported(weightType);

    internal static NotSupportedException Unsupported(GgmlType type)
    {
        string name = GgmlTypeInfo.IsKnown(type) ? GgmlTypeInfo.Name(type) : $"id {(uint)type}";
        return new NotSupportedException($"Tensor type {name} is not supported; supported types are {SupportedWeightTypeNames}.");
    }

    /// <summary>The weight types with kernels, by name, for error messages: "F32, F16, ... Q6_K".</summary>
    public static string SupportedWeightTypeNames { get; } = string.Join(", ",
        Enum.GetValues<GgmlType>().Where(IsSupported).Select(GgmlTypeInfo.Name));
}
