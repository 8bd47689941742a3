using Grpc.Core;
using LlamaDist.Distributed.Client;
using Microsoft.Extensions.Logging;

namespace LlamaDist.Worker.State;

/// <summary>
/// The directory of streamed ranges ("&lt;hash&gt;.gguf"), bounded in size: before a stream is accepted, room is
/// made by deleting the least recently used cached ranges that no loaded range is using, and a stream that
/// cannot fit (under the cap, or in the disk's free space less a margin) is refused before a byte is written.
/// Scratch files of streams cut short by a crash (".part", ".tmp") are removed at start-up. Use is recorded in
/// each file's last-write time, so the order survives restarts.
/// </summary>
internal sealed class RangeCache
{
    /// <summary>Free disk space a stream must leave untouched.</summary>
    public const long DiskMargin = 1L << 30;

    private readonly object gate = new();
    private readonly ILogger? logger;

    public RangeCache(string directory, long maxBytes, ILogger? logger = null)
    {
        Directory = directory;
        MaxBytes = maxBytes;
        this.logger = logger;
        RemoveScratchFiles();
    }

    public string Directory { get; }

    public long MaxBytes { get; }

    public string PathOf(string hash) => Path.Combine(Directory, hash + ".gguf");

    /// <summary>Bytes of the cached ranges now on disk.</summary>
    public long Size => CachedFiles().Sum(file => file.Length);

    /// <summary>Marks a cached range as just used (it is evicted last).</summary>
    public void Touch(string path)
    {
        try
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Order only: a read-only cache still works.
        }
    }

    /// <summary>
    /// Makes room for <paramref name="bytes"/> more, evicting least recently used ranges outside
    /// <paramref name="inUse"/>; RESOURCE_EXHAUSTED when it cannot fit. Returns the evicted hashes.
    /// </summary>
    public IReadOnlyList<string> Reserve(long bytes, IReadOnlySet<string> inUse)
    {
        if (bytes > MaxBytes)
        {
            throw WorkerErrors.Create(StatusCode.ResourceExhausted, WorkerFailure.Rejected,
                $"The range needs {bytes:N0} bytes of cache but this worker's cache holds at most {MaxBytes:N0} (--max-cache-size).");
        }
        lock (gate)
        {
            System.IO.Directory.CreateDirectory(Directory);
            var evicted = new List<string>();
            var files = CachedFiles().OrderBy(file => file.LastWriteTimeUtc).ToList();
            long used = files.Sum(file => file.Length);
            foreach (var file in files)
            {
                if (used + bytes <= MaxBytes && bytes <= FreeDiskBytes() - DiskMargin)
                {
                    break;
                }
                var hash = Path.GetFileNameWithoutExtension(file.Name);
                if (inUse.Contains(hash))
                {
                    continue;
                }
                long length = file.Length;
                try
                {
                    file.Delete();
                    used -= length;
                    evicted.Add(hash);
                    logger?.LogInformation("Evicted cached range {Hash} ({Bytes} bytes) to make room", hash, length);
                }
                catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
                {
                    logger?.LogWarning("Could not evict cached range {Hash}: {Message}", hash, exception.Message);
                }
            }
            if (used + bytes > MaxBytes)
            {
                throw WorkerErrors.Create(StatusCode.ResourceExhausted, WorkerFailure.Rejected,
                    $"The range needs {bytes:N0} bytes of cache; {used:N0} of this worker's {MaxBytes:N0} are held by ranges in use.");
            }
            if (bytes > FreeDiskBytes() - DiskMargin)
            {
                throw WorkerErrors.Create(StatusCode.ResourceExhausted, WorkerFailure.Rejected,
                    $"The range needs {bytes:N0} bytes but the worker's cache disk has {Math.Max(0, FreeDiskBytes() - DiskMargin):N0} free (after a {DiskMargin:N0}-byte margin).");
            }
            return evicted;
        }
    }

    private long FreeDiskBytes()
    {
        try
        {
            return new DriveInfo(Path.GetFullPath(Directory)).AvailableFreeSpace;
        }
        catch (Exception exception) when (exception is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private IEnumerable<FileInfo> CachedFiles()
    {
        var directory = new DirectoryInfo(Directory);
        return directory.Exists ? directory.EnumerateFiles("*.gguf") : [];
    }

    /// <summary>Scratch files of streams a killed worker never finished: nothing else will ever remove them.</summary>
    private void RemoveScratchFiles()
    {
        var directory = new DirectoryInfo(Directory);
        if (!directory.Exists)
        {
            return;
        }
        foreach (var file in directory.EnumerateFiles("*.part").Concat(directory.EnumerateFiles("*.gguf.tmp")))
        {
            try
            {
                file.Delete();
                logger?.LogInformation("Removed {File}, left by an interrupted weight stream", file.Name);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                logger?.LogWarning("Could not remove {File}: {Message}", file.Name, exception.Message);
            }
        }
    }
}
