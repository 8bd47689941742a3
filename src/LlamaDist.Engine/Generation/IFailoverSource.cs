namespace LlamaDist.Engine.Generation;

/// <summary>A sequence that may lose nodes and go on (a cluster's): the failovers it went through.</summary>
internal interface IFailoverSource
{
    IReadOnlyList<FailoverRecord> Failovers { get; }
}
