using Grpc.Core;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Tensor;

namespace LlamaDist.Distributed.Tests.Tensor;

/// <summary>
/// A shard whose process ends makes its peers fail too; the step is blamed on the shard they name, never on a
/// peer that is alive and reporting the loss.
/// </summary>
public sealed class ShardBlameTests
{
    private static readonly string[] Endpoints = ["10.0.0.1:50052", "10.0.0.2:50052", "10.0.0.3:50052"];

    /// <summary>A peer's report as the coordinator reads it: Unavailable, the failure and the lost shard in trailers.</summary>
    private static WorkerCallException Report(int shard, string lost, string detail)
    {
        var trailers = new Metadata
        {
            { WorkerCallException.FailureTrailer, nameof(WorkerFailure.Unreachable) },
            { WorkerCallException.LostShardTrailer, lost },
        };
        return WorkerCallException.FromRpc(Endpoints[shard], new RpcException(new Status(StatusCode.Unavailable, detail), trailers));
    }

    private static WorkerCallException Broken(int shard) =>
        new(Endpoints[shard], WorkerFailure.Unreachable, $"Worker {Endpoints[shard]} is unreachable: connection reset");

    [Fact]
    public void A_peers_report_names_the_lost_shard_and_its_own_failure_is_the_one_reported()
    {
        var report = Report(0, "2", "Shard 2 stopped sending partial sums.");
        Assert.Equal(2, report.LostShard);
        var own = Broken(2);

        // The live peer comes first in shard order; the lost shard's own failure is still the one reported.
        Assert.Same(own, ShardBlame.Pick([(0, report), (1, Report(1, "2", "Shard 2 stopped sending partial sums.")), (2, own)], Endpoints));
    }

    [Fact]
    public void Without_the_lost_shards_own_failure_the_report_is_turned_into_one_naming_it()
    {
        var report = Report(1, "0", "Shard 0 sent no partial sum within 30 s; the tensor-parallel group is broken.");

        var blamed = ShardBlame.Pick([(1, report)], Endpoints);

        Assert.Equal(Endpoints[0], blamed.Endpoint);
        Assert.Equal(WorkerFailure.Unreachable, blamed.Failure);
        Assert.Contains("Shard 0 sent no partial sum", blamed.Message);
        Assert.Contains(Endpoints[1], blamed.Message);
        Assert.Same(report, blamed.InnerException);
    }

    [Fact]
    public void Without_a_report_an_unreachable_shard_goes_before_one_that_answered_with_an_error()
    {
        var rejected = new WorkerCallException(Endpoints[0], WorkerFailure.Rejected, "Session s was closed.");
        var broken = Broken(1);

        Assert.Same(broken, ShardBlame.Pick([(0, rejected), (1, broken)], Endpoints));
        Assert.Same(rejected, ShardBlame.Pick([(0, rejected)], Endpoints));
    }

    [Theory]
    [InlineData("7")]      // no such shard in a group of three
    [InlineData("1")]      // a shard naming itself
    [InlineData("-1")]
    [InlineData("99999")]
    [InlineData("x")]
    public void A_trailer_that_names_no_other_shard_of_the_group_is_ignored(string lost)
    {
        var report = Report(1, lost, "Shard ? stopped sending partial sums.");

        Assert.Same(report, ShardBlame.Pick([(1, report)], Endpoints));
    }
}
