namespace LlamaDist.Worker.State;

/// <summary>
/// A range the worker was asked for but has no copy of yet: what StreamWeights will fill, within
/// <see cref="TotalBytes"/> (already reserved in the cache) and before <see cref="ExpiresUtc"/>.
/// </summary>
internal sealed record PendingRange(string Hash, string FileName, Core.Model.LlamaConfig Config, Core.Model.LayerRange Layers,
    long TotalBytes, int TensorCount, DateTime ExpiresUtc);
