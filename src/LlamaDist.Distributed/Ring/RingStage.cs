using LlamaDist.Core.Model;
using LlamaDist.Distributed.Client;

namespace LlamaDist.Distributed.Ring;

/// <summary>One remote stage of a ring: a connected worker holding a loaded range under its hash.</summary>
public sealed record RingStage(WorkerClient Worker, LayerRange Layers, string RangeHash);
