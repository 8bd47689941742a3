namespace LlamaDist.Engine.Generation;

/// <summary>
/// What one node of a cluster did for a prompt: its layers, time computing, its share of the ring's network and
/// waiting time, and the bytes it received and sent. Network time is what the step took beyond all nodes'
/// compute, divided evenly between the ring's hops (clocks of different machines cannot be compared, so one
/// hop's time is not measured alone); the last node carries the hop back to the coordinator too.
/// </summary>
public sealed class StageStatistics
{
    public required string Endpoint { get; init; }
    public required string WorkerId { get; init; }
    public required int LayerStart { get; init; }
    public required int LayerEnd { get; init; }
    /// <summary>"0-10" or "output head".</summary>
    public required string Layers { get; init; }
    public double ComputeMs { get; set; }
    public double NetworkMs { get; set; }
    public long BytesReceived { get; set; }
    public long BytesSent { get; set; }
    /// <summary>Steps (prompt batches and decoded tokens) this node evaluated.</summary>
    public int Steps { get; set; }
}
