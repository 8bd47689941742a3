using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;
using System.Text.Json;

namespace LlamaDist.Engine.Workers.Runtime;

/// <summary>Asks this machine what <see cref="RuntimeRequirements"/> needs to know.</summary>
internal sealed class SystemRuntimeProbe : IRuntimeProbe
{
    public static readonly SystemRuntimeProbe Instance = new();

    /// <summary>More output than `dotnet --list-runtimes` ever writes; anything beyond is ignored.</summary>
    private const int MaxListOutputChars = 256 * 1024;

    /// <summary>runtimeconfig.json files are a few hundred bytes; a larger one is not ours.</summary>
    private const long MaxRuntimeConfigBytes = 64 * 1024;

    public (Version Version, string Location) ProcessRuntime =>
        (Environment.Version, Path.GetDirectoryName(typeof(object).Assembly.Location) ?? "");

    public bool CanLoadAspNetCore()
    {
        // Loaded exactly as the worker host will load it: through the engine's own load context, which probes the
        // shared framework the module found (or, outside the module, the default context).
        var context = AssemblyLoadContext.GetLoadContext(typeof(SystemRuntimeProbe).Assembly) ?? AssemblyLoadContext.Default;
        try
        {
            context.LoadFromAssemblyName(new AssemblyName("Microsoft.AspNetCore"));
            return true;
        }
        catch (Exception exception) when (exception is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            return false;
        }
    }

    public string? FindDotnetHost()
    {
        var fileName = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileName(self).Equals(fileName, StringComparison.OrdinalIgnoreCase))
        {
            return self;
        }
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root && File.Exists(Path.Combine(root, fileName)))
        {
            return Path.Combine(root, fileName);
        }
        foreach (var directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            try
            {
                var candidate = Path.Combine(directory, fileName);
                if (File.Exists(candidate)) return Path.GetFullPath(candidate);
            }
            catch (ArgumentException)
            {
                // A malformed PATH entry: the next one may do.
            }
        }
        return null;
    }

    public IReadOnlyList<InstalledFramework>? ListRuntimes(string dotnetHost, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(dotnetHost, ["--list-runtimes"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        Process? process;
        try
        {
            process = Process.Start(start);
        }
        catch (Exception exception) when (exception is System.ComponentModel.Win32Exception or IOException)
        {
            return null;
        }
        if (process is null) return null;
        using (process)
        {
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                try { process.Kill(entireProcessTree: true); }
                catch (InvalidOperationException) { /* it exited meanwhile */ }
                return null;
            }
            if (process.ExitCode != 0 || !output.Wait(timeout)) return null;
            var text = output.Result;
            return RuntimeRequirements.ParseListRuntimes(text.Length > MaxListOutputChars ? text[..MaxListOutputChars] : text);
        }
    }

    public IReadOnlyList<InstalledFramework>? WorkerFrameworks(string workerAssembly)
    {
        var path = Path.ChangeExtension(workerAssembly, ".runtimeconfig.json");
        try
        {
            var file = new FileInfo(path);
            if (!file.Exists || file.Length > MaxRuntimeConfigBytes) return null;
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (!document.RootElement.TryGetProperty("runtimeOptions", out var options)) return null;
            var frameworks = new List<InstalledFramework>();
            if (options.TryGetProperty("frameworks", out var list) && list.ValueKind == JsonValueKind.Array)
            {
                foreach (var entry in list.EnumerateArray()) AddFramework(entry, frameworks);
            }
            if (options.TryGetProperty("framework", out var single)) AddFramework(single, frameworks);
            return frameworks.Count > 0 ? frameworks : null;
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    private static void AddFramework(JsonElement entry, List<InstalledFramework> frameworks)
    {
        if (entry.ValueKind == JsonValueKind.Object
            && entry.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
            && entry.TryGetProperty("version", out var version) && version.ValueKind == JsonValueKind.String
            && RuntimeRequirements.ParseVersion(version.GetString()!) is { } parsed)
        {
            frameworks.Add(new InstalledFramework(name.GetString()!, parsed));
        }
    }
}
