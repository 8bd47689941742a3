using System.Globalization;
using LlamaDist.Core.Model;

namespace LlamaDist.Worker.Hosting;

/// <summary>The executable's options, spelled like Start-LlamaWorker's parameters.</summary>
public static class WorkerCommandLine
{
    public const string Usage =
        "Usage: dotnet LlamaDist.Worker.dll [--address 127.0.0.1] [--port 50052] [--threads N] [--name NAME]\n" +
        "       [--model-path FILE|DIR] [--cache-directory DIR] [--max-memory BYTES] [--weight-memory auto|mapped|resident]\n" +
        "       [--session-idle-seconds N] [--quiet true]";

    /// <summary>The options, or null when help was asked for. Unknown or malformed arguments throw FormatException.</summary>
    public static WorkerOptions? Parse(IReadOnlyList<string> args)
    {
        var options = new WorkerOptions();
        for (int i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (name is "--help" or "-h" or "-?")
            {
                return null;
            }
            if (i + 1 >= args.Count)
            {
                throw new FormatException($"{name} needs a value.");
            }
            var value = args[++i];
            options = name switch
            {
                "--address" => options with { Address = value },
                "--port" => options with { Port = Integer(name, value, 0, 65535) },
                "--threads" => options with { Threads = Integer(name, value, 1, 1024) },
                "--name" => options with { Name = value },
                "--model-path" => options with { ModelPath = Path.GetFullPath(value) },
                "--cache-directory" => options with { CacheDirectory = Path.GetFullPath(value) },
                "--max-memory" => options with { MaxMemoryBytes = Long(name, value) },
                "--weight-memory" => options with { WeightMemory = Memory(name, value) },
                "--quiet" => options with { Quiet = value.Equals("true", StringComparison.OrdinalIgnoreCase) },
                "--session-idle-seconds" => options with { SessionIdleTimeout = TimeSpan.FromSeconds(Integer(name, value, 1, 86400)) },
                _ => throw new FormatException($"Unknown option '{name}'."),
            };
        }
        return options;
    }

    private static int Integer(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max
            ? number : throw new FormatException($"{name} must be a whole number from {min} to {max}, not '{value}'.");

    private static WeightMemory Memory(string name, string value) =>
        Enum.TryParse(value, ignoreCase: true, out WeightMemory memory) && Enum.IsDefined(memory) && !int.TryParse(value, out _)
            ? memory : throw new FormatException($"{name} must be auto, mapped or resident, not '{value}'.");

    private static long Long(string name, string value) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0
            ? number : throw new FormatException($"{name} must be a positive number of bytes, not '{value}'.");
}
