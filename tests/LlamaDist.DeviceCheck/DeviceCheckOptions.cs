using LlamaDist.Core.Backends;

namespace LlamaDist.DeviceCheck;

/// <summary>What to run: the backend, where reports go, the short mode (small shapes, no TinyLlama) and the time bound.</summary>
internal sealed record DeviceCheckOptions(ComputeBackendKind Backend, string OutputDirectory, bool Short, TimeSpan TimeLimit)
{
    public static DeviceCheckOptions Parse(IReadOnlyList<string> args)
    {
        var backend = ComputeBackendKind.Cuda;
        string output = Environment.GetEnvironmentVariable("OUT") is { Length: > 0 } fromEnvironment ? fromEnvironment : "devicecheck-out";
        bool isShort = false;
        var limit = TimeSpan.FromSeconds(330);
        for (int i = 0; i < args.Count; i++)
        {
            string name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            switch (name)
            {
                case "--backend":
                    string value = Value();
                    backend = value.ToLowerInvariant() switch
                    {
                        "cuda" => ComputeBackendKind.Cuda,
                        "opencl" => ComputeBackendKind.OpenCL,
                        "ilgpucpu" => ComputeBackendKind.IlgpuCpu,
                        _ => throw new ArgumentException($"--backend must be cuda, opencl or ilgpucpu, not '{value}'."),
                    };
                    break;
                case "--out":
                    output = Value();
                    break;
                case "--short":
                    isShort = true;
                    break;
                case "--time-limit":
                    string seconds = Value();
                    limit = int.TryParse(seconds, out int parsed) && parsed is > 0 and <= 3600
                        ? TimeSpan.FromSeconds(parsed)
                        : throw new ArgumentException($"--time-limit must be 1 to 3600 seconds, not '{seconds}'.");
                    break;
                default:
                    throw new ArgumentException($"Unknown argument '{name}'.");
            }
        }
        return new DeviceCheckOptions(backend, output, isShort, limit);
    }
}
