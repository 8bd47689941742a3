namespace LlamaDist.Engine.Cluster;

/// <summary>A cluster node's health as last probed: healthy, or down with what was observed.</summary>
public sealed record NodeHealth(string Endpoint, bool Healthy, string? LastFailure);
