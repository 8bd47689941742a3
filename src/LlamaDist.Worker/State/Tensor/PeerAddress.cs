namespace LlamaDist.Worker.State.Tensor;

/// <summary>Where a peer shard's link listens: the host of its worker endpoint and the port its LoadShard reply gave.</summary>
internal sealed record PeerAddress(string Host, int Port, bool Tls, IReadOnlyCollection<string> CertificateThumbprints)
{
    public override string ToString() => $"{(Host.Contains(':') ? $"[{Host}]" : Host)}:{Port}";
}
