namespace LlamaDist.DeviceCheck;

/// <summary>
/// llamadist-devicecheck [--backend cuda|opencl|ilgpucpu] [--out DIR] [--short] [--time-limit SECONDS]
/// Prints diagnostics first (driver, devices), then checks the device kernels and whole models against the CPU
/// engine and benchmarks the TinyLlama shape on the device and the CPU, writing devicecheck.csv and devicecheck.md
/// to --out ($OUT when set). Exit code 0: every check passed; 1: a check failed; 2: bad arguments.
/// </summary>
public static class Program
{
    public static int Main(string[] args) => DeviceCheckRunner.Run(args, Console.Out);
}
