using LlamaDist.Core.Gguf;
using LlamaDist.Core.TestModels;
using LlamaDist.Core.Tests.Gguf;

namespace LlamaDist.Core.Tests.Conversion;

/// <summary>One Small-preset F32 synthetic model (4 layers, embedding 256, FFN 704, 8 heads / 2 KV heads), shared by a test class.</summary>
public sealed class SmallModelFixture : IDisposable
{
    private readonly TemporaryDirectory _directory = new();

    public SmallModelFixture()
    {
        F32Path = _directory.File("small-f32.gguf");
        TestModelWriter.Write(F32Path, TestModelPreset.Small, GgmlType.F32, seed: 3, RealModel.Path, null, CancellationToken.None);
    }

    public string F32Path { get; }

    public string Directory => _directory.Path;

    public void Dispose() => _directory.Dispose();
}
