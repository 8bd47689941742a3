namespace LlamaDist.Distributed.Cluster;

/// <summary>
/// One worker as the planner sees it, in ring order. <paramref name="Throughput"/> is the worker's measured
/// speed (the handshake's bytes_per_second: weight bytes streamed per second, since decode is memory bound);
/// only its ratio to the other nodes matters and only <see cref="SplitMode.Auto"/> uses it.
/// <paramref name="FreeMemoryBytes"/> bounds what the node may hold: weights + KV cache (+ embedding on the first
/// node, output head on the last).
/// </summary>
public sealed record PlanNode(string Endpoint, double Throughput, long FreeMemoryBytes);
