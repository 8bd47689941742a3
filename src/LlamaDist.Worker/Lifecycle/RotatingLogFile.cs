using System.Text;

namespace LlamaDist.Worker.Lifecycle;

/// <summary>
/// A log file bounded in size: when a line would take it past <see cref="MaxBytes"/>, worker.log becomes
/// worker.log.1 (worker.log.1 becomes .2, and so on) and the oldest beyond <see cref="MaxFiles"/> is deleted, so
/// the log never uses more than MaxBytes × MaxFiles (10 MiB × 3 by default). Thread-safe; each line is flushed,
/// so a killed worker's log ends with its last line. Files are created readable by this user only (0600).
/// </summary>
public sealed class RotatingLogFile : IDisposable
{
    public const long DefaultMaxBytes = 10L << 20;
    public const int DefaultMaxFiles = 3;

    private readonly object gate = new();
    private FileStream? stream;

    public RotatingLogFile(string path, long maxBytes = DefaultMaxBytes, int maxFiles = DefaultMaxFiles)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1024);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFiles, 1);
        Path = System.IO.Path.GetFullPath(path);
        MaxBytes = maxBytes;
        MaxFiles = maxFiles;
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        if (!Directory.Exists(directory))
        {
            WorkerStateDirectory.EnsurePrivateDirectory(directory);
        }
        stream = Open();
    }

    public string Path { get; }

    public long MaxBytes { get; }

    /// <summary>The current file plus MaxFiles - 1 rotated ones.</summary>
    public int MaxFiles { get; }

    /// <summary>Appends one line (a newline is added); a line longer than the bound is cut to fit.</summary>
    public void WriteLine(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "\n");
        if (bytes.Length > MaxBytes)
        {
            bytes = [.. bytes.AsSpan(0, (int)MaxBytes - 1), (byte)'\n'];
        }
        lock (gate)
        {
            if (stream is null)
            {
                return;
            }
            if (stream.Length > 0 && stream.Length + bytes.Length > MaxBytes)
            {
                Rotate();
            }
            stream.Write(bytes);
            stream.Flush();
        }
    }

    private void Rotate()
    {
        stream!.Dispose();
        var oldest = $"{Path}.{MaxFiles - 1}";
        if (MaxFiles == 1)
        {
            File.Delete(Path);
        }
        else
        {
            File.Delete(oldest);
            for (var index = MaxFiles - 2; index >= 1; index--)
            {
                var from = $"{Path}.{index}";
                if (File.Exists(from))
                {
                    File.Move(from, $"{Path}.{index + 1}", overwrite: true);
                }
            }
            File.Move(Path, $"{Path}.1", overwrite: true);
        }
        stream = Open();
    }

    private FileStream Open()
    {
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read | FileShare.Delete };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        return new FileStream(Path, options);
    }

    public void Dispose()
    {
        lock (gate)
        {
            stream?.Dispose();
            stream = null;
        }
    }
}
