using LlamaDist.Core.Gguf;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// What of the model file a coordinator keeps mapped once a cluster is loaded. Loading hashes every range it hands
/// a worker (and may stream one), which reads the whole file through the mapping; from then on the coordinator reads
/// through it only the weights of a stage it runs itself, and none at all for a cluster of workers. Without this a
/// coordinator of a TinyLlama-shaped Q8_0 model held all 1.1 GB of the file resident while its workers decoded.
/// </summary>
internal static class CoordinatorFilePages
{
    /// <param name="runsAStage">Whether this process computes a stage of the ring (its weights may be mapped).</param>
    public static void Release(GgufFile file, bool runsAStage)
    {
        if (runsAStage)
        {
            file.ReleaseUnusedMappedPages();
        }
        else
        {
            file.ReleaseMappedPagesExcept([]);
        }
    }
}
