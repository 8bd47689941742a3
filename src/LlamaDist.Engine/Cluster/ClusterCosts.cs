using LlamaDist.Distributed.Ring;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// The starting point of a cluster's <see cref="RingCostModel"/>: how many of its stages can compute at the same
/// time, and each stage's expected one-token step.
/// </summary>
internal static class ClusterCosts
{
    public static RingCostModel Create(IReadOnlyList<ClusterNode> nodes, IReadOnlyList<RingStage> stages)
    {
        // A decode step streams every weight of a stage once: its bytes over the node's measured throughput.
        var singleTokenMs = nodes.Select(node => node.BytesPerSecond > 0 ? node.WeightBytes / node.BytesPerSecond * 1000.0 : 1.0).ToList();
        return new RingCostModel(Machines(nodes, stages), singleTokenMs);
    }

    /// <summary>
    /// Stages on one machine share its cores and memory bandwidth, so overlapping them gains nothing: count
    /// machines, not stages. Loopback workers and the coordinator's own stage are this machine; other workers are
    /// told apart by the host name they report, else by their address.
    /// </summary>
    public static int Machines(IReadOnlyList<ClusterNode> nodes, IReadOnlyList<RingStage> stages)
    {
        var machines = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        int remote = 0;
        foreach (var node in nodes)
        {
            if (node.WorkerId == RingSession.LocalWorkerId)
            {
                machines.Add(Environment.MachineName);
                continue;
            }
            var endpoint = remote < stages.Count ? stages[remote].Worker.Endpoint : null;
            remote++;
            if (endpoint is null || endpoint.IsLoopback)
            {
                machines.Add(Environment.MachineName);
            }
            else
            {
                machines.Add(string.IsNullOrEmpty(node.Name) ? endpoint.Host : node.Name);
            }
        }
        return Math.Max(1, machines.Count);
    }
}
