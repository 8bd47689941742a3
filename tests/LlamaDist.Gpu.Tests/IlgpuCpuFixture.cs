using LlamaDist.Core.Backends;

namespace LlamaDist.Gpu.Tests;

/// <summary>One ILGPU CPU accelerator (kernels compiled once) shared by the tests of a collection.</summary>
public sealed class IlgpuCpuFixture : IDisposable
{
    public IlgpuBackend Backend { get; } = IlgpuBackend.Create(ComputeBackendKind.IlgpuCpu);

    public void Dispose() => Backend.Dispose();
}

[CollectionDefinition(Name)]
public sealed class IlgpuCpuCollection : ICollectionFixture<IlgpuCpuFixture>
{
    public const string Name = "ILGPU CPU accelerator";
}
