namespace LlamaDist.Core.Model;

/// <summary>
/// Where a layer range's weight matrices are read from while the model runs (llama.cpp's <c>--mmap</c> /
/// <c>--no-mmap</c>, with huge pages added).
/// </summary>
public enum WeightMemory
{
    /// <summary>
    /// <see cref="Resident"/> on Linux with transparent huge pages when the range's matrices fit comfortably in the
    /// memory the system reports available; <see cref="Mapped"/> otherwise.
    /// </summary>
    Auto,

    /// <summary>
    /// Views of the memory-mapped file: nothing is read at load, pages come in on first use and are shared with
    /// the file cache and with other processes mapping the same file.
    /// </summary>
    Mapped,

    /// <summary>
    /// The matrices are read at load into one block of process memory, backed by 2 MiB pages where the system
    /// offers them: load reads the bytes once, and decoding, which streams every weight per token, reads them
    /// faster (fewer TLB misses).
    /// </summary>
    Resident,
}
