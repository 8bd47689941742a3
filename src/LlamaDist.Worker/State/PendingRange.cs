namespace LlamaDist.Worker.State;

/// <summary>A range the worker was asked for but has no copy of yet: what StreamWeights will fill.</summary>
internal sealed record PendingRange(string Hash, string FileName, Core.Model.LlamaConfig Config, Core.Model.LayerRange Layers,
    long TotalBytes, int TensorCount);
