using LlamaDist.Distributed.Client;

namespace LlamaDist.Distributed.Tensor;

/// <summary>
/// Which shard a failed tensor-parallel step is blamed on. When one shard's process ends, its peers fail too
/// (they stop receiving its partial sums) and say which shard they lost (<see cref="WorkerCallException.LostShard"/>);
/// they are alive, so the step is blamed on the shard they name: its own failure when it reported one (a broken
/// connection, a closed session), else a failure naming it, built from the peer's report. Without such a report,
/// a shard that is unreachable goes before one that answered with an error.
/// </summary>
internal static class ShardBlame
{
    /// <param name="failures">Each failed shard's index in the group and its failure, in shard order.</param>
    /// <param name="endpoints">The group's worker endpoints, by shard index.</param>
    public static WorkerCallException Pick(IReadOnlyList<(int Shard, WorkerCallException Failure)> failures, IReadOnlyList<string> endpoints)
    {
        ArgumentOutOfRangeException.ThrowIfZero(failures.Count);
        foreach (var (shard, failure) in failures)
        {
            if (failure.LostShard is not int lost || lost == shard || lost >= endpoints.Count)
            {
                continue;
            }
            foreach (var (other, own) in failures)
            {
                if (other == lost)
                {
                    return own;
                }
            }
            return new WorkerCallException(endpoints[lost], WorkerFailure.Unreachable,
                $"Worker {endpoints[lost]} is unreachable: shard {shard} ({endpoints[shard]}) reports \"{(failure.InnerException is Grpc.Core.RpcException rpc ? rpc.Status.Detail : failure.Message)}\"",
                failure);
        }
        foreach (var (_, failure) in failures)
        {
            if (failure.Failure == WorkerFailure.Unreachable)
            {
                return failure;
            }
        }
        return failures[0].Failure;
    }
}
