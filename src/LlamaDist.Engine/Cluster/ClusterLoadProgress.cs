namespace LlamaDist.Engine.Cluster;

/// <summary>A step of building a cluster, for Write-Progress: what is happening and how far it is.</summary>
public sealed record ClusterLoadProgress(string Activity, string Status, double Fraction);
