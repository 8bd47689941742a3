using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// A node of the ring failed and the prompt could not go on (failover off, or no node left to take its layers):
/// names the node, and keeps the tokens evaluated so far and the failovers already made, so the caller can
/// report a partial result.
/// </summary>
internal sealed class FailoverExhaustedException : Exception
{
    public FailoverExhaustedException(string endpoint, string message, int[] evaluatedTokens, FailoverRecord[] failovers, Exception innerException)
        : base(message, innerException)
    {
        Endpoint = endpoint;
        EvaluatedTokens = evaluatedTokens;
        Failovers = failovers;
    }

    public string Endpoint { get; }

    public int[] EvaluatedTokens { get; }

    public FailoverRecord[] Failovers { get; }
}
