using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Conversion;

/// <summary>
/// The llama-quantize presets the converter can write, numbered exactly as llama.cpp's <c>enum llama_ftype</c>
/// (llama.h: LLAMA_FTYPE_ALL_F32 = 0, LLAMA_FTYPE_MOSTLY_F16 = 1, ..., LLAMA_FTYPE_MOSTLY_BF16 = 32): the value is
/// what a converted file stores in general.file_type. Presets whose rules need types this engine has no kernels
/// for (IQ*, TQ*, Q2_K_S which needs an importance matrix) are not listed.
/// </summary>
public enum QuantizationPreset : uint
{
    F32 = 0,     // LLAMA_FTYPE_ALL_F32
    F16 = 1,     // LLAMA_FTYPE_MOSTLY_F16
    Q4_0 = 2,    // LLAMA_FTYPE_MOSTLY_Q4_0
    Q4_1 = 3,    // LLAMA_FTYPE_MOSTLY_Q4_1
    Q8_0 = 7,    // LLAMA_FTYPE_MOSTLY_Q8_0
    Q5_0 = 8,    // LLAMA_FTYPE_MOSTLY_Q5_0
    Q5_1 = 9,    // LLAMA_FTYPE_MOSTLY_Q5_1
    Q2_K = 10,   // LLAMA_FTYPE_MOSTLY_Q2_K
    Q3_K_S = 11, // LLAMA_FTYPE_MOSTLY_Q3_K_S
    Q3_K_M = 12, // LLAMA_FTYPE_MOSTLY_Q3_K_M
    Q3_K_L = 13, // LLAMA_FTYPE_MOSTLY_Q3_K_L
    Q4_K_S = 14, // LLAMA_FTYPE_MOSTLY_Q4_K_S
    Q4_K_M = 15, // LLAMA_FTYPE_MOSTLY_Q4_K_M
    Q5_K_S = 16, // LLAMA_FTYPE_MOSTLY_Q5_K_S
    Q5_K_M = 17, // LLAMA_FTYPE_MOSTLY_Q5_K_M
    Q6_K = 18,   // LLAMA_FTYPE_MOSTLY_Q6_K
    BF16 = 32,   // LLAMA_FTYPE_MOSTLY_BF16
}

/// <summary>Names, parsing and the base tensor type of <see cref="QuantizationPreset"/>.</summary>
public static class QuantizationPresets
{
    /// <summary>Every preset, in the order llama-quantize lists them (floats first, then by size).</summary>
    public static IReadOnlyList<QuantizationPreset> All { get; } =
    [
        QuantizationPreset.F32, QuantizationPreset.F16, QuantizationPreset.BF16, QuantizationPreset.Q8_0,
        QuantizationPreset.Q4_0, QuantizationPreset.Q4_1, QuantizationPreset.Q5_0, QuantizationPreset.Q5_1,
        QuantizationPreset.Q2_K, QuantizationPreset.Q3_K_S, QuantizationPreset.Q3_K_M, QuantizationPreset.Q3_K_L,
        QuantizationPreset.Q4_K_S, QuantizationPreset.Q4_K_M, QuantizationPreset.Q5_K_S, QuantizationPreset.Q5_K_M,
        QuantizationPreset.Q6_K,
    ];

    /// <summary>The preset names ("F32", ..., "Q4_K_M", ...), in <see cref="All"/> order.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(p => p.ToString()).ToArray();

    /// <summary>
    /// Parses a preset name, case-insensitively. Like llama-quantize, "Q3_K", "Q4_K" and "Q5_K" are accepted as
    /// the _M mixes. Numbers are not accepted.
    /// </summary>
    public static bool TryParse(string? name, out QuantizationPreset preset)
    {
        preset = default;
        if (string.IsNullOrWhiteSpace(name))
        {
            return false;
        }
        string trimmed = name.Trim().ToUpperInvariant();
        trimmed = trimmed switch
        {
            "Q3_K" => "Q3_K_M",
            "Q4_K" => "Q4_K_M",
            "Q5_K" => "Q5_K_M",
            _ => trimmed,
        };
        foreach (QuantizationPreset candidate in All)
        {
            if (candidate.ToString() == trimmed)
            {
                preset = candidate;
                return true;
            }
        }
        return false;
    }

    /// <summary>Parses a preset name; an unknown name is an <see cref="ArgumentException"/> listing the presets.</summary>
    public static QuantizationPreset Parse(string name) =>
        TryParse(name, out QuantizationPreset preset)
            ? preset
            : throw new ArgumentException(
                $"Unknown quantization type '{name}'. Types: {string.Join(", ", Names)}.", nameof(name));

    /// <summary>The llama.cpp LLAMA_FTYPE value written to general.file_type.</summary>
    public static uint FileType(QuantizationPreset preset) => (uint)preset;

    /// <summary>
    /// The type most weight matrices get (llama.cpp's llama_ftype_get_default_type): the K mixes share their K
    /// type and differ in which tensors are raised above it.
    /// </summary>
    public static GgmlType BaseType(QuantizationPreset preset) => preset switch
    {
        QuantizationPreset.F32 => GgmlType.F32,
        QuantizationPreset.F16 => GgmlType.F16,
        QuantizationPreset.BF16 => GgmlType.BF16,
        QuantizationPreset.Q4_0 => GgmlType.Q4_0,
        QuantizationPreset.Q4_1 => GgmlType.Q4_1,
        QuantizationPreset.Q5_0 => GgmlType.Q5_0,
        QuantizationPreset.Q5_1 => GgmlType.Q5_1,
        QuantizationPreset.Q8_0 => GgmlType.Q8_0,
        QuantizationPreset.Q2_K => GgmlType.Q2_K,
        QuantizationPreset.Q3_K_S or QuantizationPreset.Q3_K_M or QuantizationPreset.Q3_K_L => GgmlType.Q3_K,
        QuantizationPreset.Q4_K_S or QuantizationPreset.Q4_K_M => GgmlType.Q4_K,
        QuantizationPreset.Q5_K_S or QuantizationPreset.Q5_K_M => GgmlType.Q5_K,
        QuantizationPreset.Q6_K => GgmlType.Q6_K,
        _ => throw new ArgumentOutOfRangeException(nameof(preset), preset, "Unknown quantization preset."),
    };

    /// <summary>True when the preset's base type is a block-quantized type (not F32/F16/BF16).</summary>
    public static bool IsQuantized(QuantizationPreset preset) =>
        GgmlTypeInfo.BlockSize(BaseType(preset)) > 1;
}
