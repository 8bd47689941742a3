namespace LlamaDist.Engine.Tests.Agreement;

/// <summary>
/// Tests that load llama.cpp run one at a time: each uses the machine's cores, and llama.cpp's global state
/// (backend, logging) is process-wide.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LlamaCppCollection
{
    public const string Name = "llama.cpp";
}
