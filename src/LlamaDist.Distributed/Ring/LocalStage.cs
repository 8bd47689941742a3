using LlamaDist.Core.Backends;

namespace LlamaDist.Distributed.Ring;

/// <summary>
/// The coordinator's own first range (New-LlamaCluster -IncludeLocal): evaluated in-process, so the first hop
/// carries its hidden state instead of token ids and the ring stays at N + 1 transfers for N workers.
/// </summary>
public sealed record LocalStage(IRangeForward Forward, IForwardSession Session);
