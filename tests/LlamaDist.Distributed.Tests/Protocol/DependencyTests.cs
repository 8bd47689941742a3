using LlamaDist.Distributed.Cluster;

namespace LlamaDist.Distributed.Tests.Protocol;

public sealed class DependencyTests
{
    [Fact]
    public void DistributedAssembly_DoesNotNeedAspNetCore()
    {
        // pwsh runs on Microsoft.NETCore.App only: this assembly must load there. The worker host (Kestrel) lives
        // in its own project.
        var references = typeof(LayerPlanner).Assembly.GetReferencedAssemblies().Select(name => name.Name!).ToList();
        Assert.DoesNotContain(references, name => name.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal));
        Assert.Contains("LlamaDist.Core", references);
        Assert.Contains("Google.Protobuf", references);
        Assert.Contains("Grpc.Core.Api", references); // the generated client and service base
    }
}
