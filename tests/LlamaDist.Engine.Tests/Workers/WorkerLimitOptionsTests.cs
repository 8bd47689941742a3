using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Workers;
using LlamaDist.Worker.Hosting;

namespace LlamaDist.Engine.Tests.Workers;

/// <summary>Start-LlamaWorker's -MaxSessions, -MaxContext and -LeaseTimeout reach the worker's options; 0 keeps the worker's defaults.</summary>
public sealed class WorkerLimitOptionsTests
{
    [Fact]
    public void GivenLimits_ReachTheWorkerOptions()
    {
        var options = EmbeddedWorker.WorkerOptionsFor(new WorkerStartRequest
        {
            MaxSessions = 3, MaxContext = 2048, LeaseTimeout = TimeSpan.FromSeconds(20), MaxMemoryBytes = 1 << 30,
        });
        Assert.Equal(3, options.MaxSessions);
        Assert.Equal(2048, options.MaxContext);
        Assert.Equal(TimeSpan.FromSeconds(20), options.LeaseTimeout);
        Assert.Equal(1 << 30, options.MaxMemoryBytes);
    }

    [Fact]
    public void OmittedLimits_AreTheWorkersDefaults()
    {
        var options = EmbeddedWorker.WorkerOptionsFor(new WorkerStartRequest());
        Assert.Equal(WorkerOptions.DefaultMaxSessions, options.MaxSessions);
        Assert.Equal(WorkerOptions.DefaultMaxContext, options.MaxContext);
        Assert.Equal(WorkerOptions.DefaultLeaseTimeout, options.LeaseTimeout);
        Assert.Equal(WorkerOptions.DefaultMaxStepTokens, options.MaxStepTokens);
    }

    [Fact]
    public void NegativeLimits_AreInvalidArgument()
    {
        var error = Assert.Throws<LlamaDistException>(() => EmbeddedWorker.WorkerOptionsFor(new WorkerStartRequest { MaxSessions = -1 }));
        Assert.Equal(LlamaErrorKind.InvalidArgument, error.Kind);
    }
}
