using LlamaDist.Engine.Models;
using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Tests.TestModels;

namespace LlamaDist.Engine.Tests.Agreement;

/// <summary>
/// The models every agreement test runs on: the embedded model, and synthetic models of two shapes — Tiny
/// (multi-head: 4 heads, 4 kv heads) and Small (grouped-query: 8 heads, 2 kv heads) — in F32, F16, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1.
/// Written once per test run into a temporary folder.
/// </summary>
public static class AgreementModels
{
    public static readonly string[] WeightTypes = ["F32", "F16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"];
    public static readonly string[] Presets = ["Tiny", "Small"];

    /// <summary>
    /// Models for single (preset, type) pairs on top of Presets x WeightTypes: the K-quants (Q2_K, Q3_K, Q4_K, Q5_K,
    /// Q6_K) need rows that are whole 256-element super-blocks, which only the Small preset's attention and
    /// FFN-input matrices have (on Tiny every tensor would fall back to Q8_0, see KQuantTensorTypes), so they run
    /// on Small only.
    /// </summary>
    public static readonly (string Preset, string Type)[] PresetTypePairs =
        [("Small", "Q2_K"), ("Small", "Q3_K"), ("Small", "Q4_K"), ("Small", "Q5_K"), ("Small", "Q6_K")];

    private static IEnumerable<(string Preset, string Type)> AllPairs() =>
        Presets.SelectMany(preset => WeightTypes.Select(type => (preset, type))).Concat(PresetTypePairs);

    private static readonly Lazy<IReadOnlyList<AgreementModel>> Models = new(Create);

    public static IReadOnlyList<AgreementModel> All => Models.Value;

    /// <summary>xunit member data: one row per model name (the model itself is looked up by name).</summary>
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string> { "embedded" };
        foreach (var (preset, type) in AllPairs())
            data.Add($"{preset}-{type}");
        return data;
    }

    public static AgreementModel Get(string name) => All.Single(model => model.Name == name);

    private static IReadOnlyList<AgreementModel> Create()
    {
        var directory = ProcessTempDirectory.Create("llamadist-agreement");

        var models = new List<AgreementModel> { new("embedded", ModelPaths.DefaultModelPath(), "F16") };
        foreach (var (preset, type) in AllPairs())
        {
            var path = Path.Combine(directory, $"{preset}-{type}.gguf");
            TestModelFactory.Create(path, preset, type, seed: 11, vocabularyFrom: null, overwrite: true);
            models.Add(new AgreementModel($"{preset}-{type}", path, type));
        }
        return models;
    }
}
