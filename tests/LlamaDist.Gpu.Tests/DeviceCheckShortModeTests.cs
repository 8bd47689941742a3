using LlamaDist.DeviceCheck;

namespace LlamaDist.Gpu.Tests;

/// <summary>
/// The device check's short mode on ILGPU's CPU accelerator, so the check a GPU machine runs cannot rot between GPU
/// sessions: it exits 0, and its CSV holds passing kernel, model and benchmark rows after the diagnostics.
/// </summary>
public sealed class DeviceCheckShortModeTests
{
    [Fact]
    public void TheShortModeOnTheCpuAcceleratorPassesAndWritesItsReports()
    {
        string output = Directory.CreateTempSubdirectory("llamadist-devicecheck-").FullName;
        try
        {
            var console = new StringWriter();
            int exit = DeviceCheckRunner.Run(["--backend", "ilgpucpu", "--short", "--out", output, "--time-limit", "300"], console);
            Assert.True(exit == 0, console.ToString());

            string[] lines = File.ReadAllLines(Path.Combine(output, "devicecheck.csv"));
            Assert.Equal(string.Join(',', Report.Columns), lines[0]);
            Assert.StartsWith("machine,os,", lines[1]);
            Assert.Contains(lines, line => line.StartsWith("cuda,devices,", StringComparison.Ordinal));
            foreach (string section in new[] { "kernel", "model", "bench" })
            {
                Assert.Contains(lines, line => line.StartsWith(section + ",", StringComparison.Ordinal) && line.Contains(",ok,", StringComparison.Ordinal));
            }
            Assert.DoesNotContain(lines, line => line.Contains(",FAIL,", StringComparison.Ordinal));
            Assert.Contains("| kernel | matmul Q6_K", File.ReadAllText(Path.Combine(output, "devicecheck.md")));
            // The product kernels' own speed rows, with a positive figure.
            Assert.Contains(lines, line => line.StartsWith("backend,f16 matvec 256x256,", StringComparison.Ordinal) && !line.Contains(",0,", StringComparison.Ordinal));
            Assert.Contains(lines, line => line.StartsWith("backend,f16 matmul 64x64 x 16 tokens,", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
