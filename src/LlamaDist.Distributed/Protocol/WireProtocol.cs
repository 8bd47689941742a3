namespace LlamaDist.Distributed.Protocol;

/// <summary>
/// The version of the llamadist.v1 wire contract this assembly speaks. The major changes only when an old peer
/// could misread a message; minors only add fields, so peers with the same major interoperate.
/// </summary>
public static class WireProtocol
{
    /// <summary>Incompatible revisions; a handshake with another major is refused.</summary>
    public const uint Major = 1;

    /// <summary>
    /// Compatible additions within <see cref="Major"/>. 1: handshake challenge and proof, next-stage certificate
    /// pins, owners and leases (RenewLease), Shutdown, the architecture fields of ModelConfig, worker limits in
    /// WorkerStatus. 2: link probes (MeasureLink), prompts cached without logits (ForwardRequest.cache_only),
    /// health checks, tensor-parallel shards (LoadShard, shard sessions, steps and partial sums) and the hybrid
    /// split's layer ranges and hidden states in shard steps. 3: streamed link echoes (EchoLink).
    /// </summary>
    public const uint Minor = 3;

    /// <summary>This assembly's version as the handshake sends it.</summary>
    public static ProtocolVersion Current => new() { Major = Major, Minor = Minor };

    /// <summary>True when a peer speaking <paramref name="peer"/> can talk to this assembly (same major).</summary>
    public static bool IsCompatible(ProtocolVersion peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        return peer.Major == Major;
    }
}
