using LlamaDist.Core.Model;

namespace LlamaDist.Engine.Models;

/// <summary>
/// Where a loaded model's weight matrices are read from while it runs (llama.cpp's --mmap / --no-mmap, with huge
/// pages): the engine's name for the core's WeightMemory, which stays off the engine's public surface.
/// </summary>
public enum WeightMemoryMode
{
    /// <summary>Resident on Linux with transparent huge pages when the matrices fit in half the available memory; else Mapped.</summary>
    Auto,

    /// <summary>Views of the memory-mapped file, shared with the file cache; nothing is read at load.</summary>
    Mapped,

    /// <summary>Read at load into process memory backed by 2 MiB pages where offered; decoding reads them faster.</summary>
    Resident,
}

internal static class WeightMemoryModeMapping
{
    public static WeightMemory ToCore(this WeightMemoryMode mode) => mode switch
    {
        WeightMemoryMode.Mapped => WeightMemory.Mapped,
        WeightMemoryMode.Resident => WeightMemory.Resident,
        _ => WeightMemory.Auto,
    };

    public static WeightMemoryMode FromCore(WeightMemory memory) => memory switch
    {
        WeightMemory.Mapped => WeightMemoryMode.Mapped,
        WeightMemory.Resident => WeightMemoryMode.Resident,
        _ => WeightMemoryMode.Auto,
    };
}
