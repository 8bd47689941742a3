namespace LlamaDist.Engine.Tests.Agreement;

/// <summary>One model the agreement tests compare against llama.cpp, named for test output.</summary>
public sealed record AgreementModel(string Name, string Path, string WeightType)
{
    public override string ToString() => Name;
}
