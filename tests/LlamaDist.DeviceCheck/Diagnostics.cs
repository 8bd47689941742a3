using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace LlamaDist.DeviceCheck;

/// <summary>What the machine offers, printed before any kernel runs so one run gives usable output even if a kernel fails.</summary>
internal static class Diagnostics
{
    public static void Write(Report report)
    {
        report.Add("machine", "os", "", null, "", "info", RuntimeInformation.OSDescription);
        report.Add("machine", "runtime", "", null, "", "info", $"{RuntimeInformation.FrameworkDescription} {RuntimeInformation.ProcessArchitecture}");
        report.Add("machine", "logical processors", "", Environment.ProcessorCount, "", "info");

        bool driver = NativeLibrary.TryLoad("libcuda.so.1", out IntPtr handle) || NativeLibrary.TryLoad("libcuda.so", out handle);
        report.Add("cuda", "driver library (libcuda)", "", null, "", "info", driver ? "found" : "not found");
        if (driver)
        {
            NativeLibrary.Free(handle);
        }
        Probe(report, "cuda", builder => builder.Cuda(), context =>
        {
            var names = new List<string>();
            foreach (var device in context.GetDevices<CudaDevice>())
            {
                names.Add($"{device.Name}: {device.MemorySize / (1024.0 * 1024 * 1024):F1} GiB, architecture {device.Architecture}, " +
                    $"PTX ISA {device.InstructionSet}, driver {device.DriverVersion}");
            }
            return names;
        });
        Probe(report, "opencl", builder => builder.OpenCL(), context =>
        {
            var names = new List<string>();
            foreach (var device in context.GetDevices<CLDevice>())
            {
                names.Add($"{device.Name} ({device.DeviceType}, {device.VendorName})");
            }
            return names;
        });
    }

    private static void Probe(Report report, string section, Action<Context.Builder> configure, Func<Context, IEnumerable<string>> describe)
    {
        try
        {
            using var context = Context.Create(configure);
            var devices = describe(context).ToList();
            report.Add(section, "devices", "", devices.Count, "", "info", devices.Count == 0 ? "none" : string.Join("; ", devices));
        }
        catch (Exception exception)
        {
            report.Add(section, "devices", "", 0, "", "info", $"probe failed: {exception.GetType().Name}: {exception.Message}");
        }
    }
}
