using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace LlamaDist.Distributed.Tests.Lifecycle;

/// <summary>
/// The worker executable under systemd (Type=notify): started by a process named "systemd" (how the hosting
/// library recognises the service manager) with NOTIFY_SOCKET set, it sends READY=1 once it listens and
/// STOPPING=1 on SIGTERM, then exits 0. The "service manager" here is a shell started through a link named
/// systemd, and the notify socket a datagram socket of the test's own.
/// </summary>
public sealed class SystemdServiceTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"llamadist-systemd-{Guid.NewGuid():N}");

    public SystemdServiceTests() => Directory.CreateDirectory(directory);

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [SkippableFact]
    public async Task The_worker_notifies_readiness_and_stopping_to_systemd()
    {
        Skip.IfNot(OperatingSystem.IsLinux() && File.Exists("/bin/sh"), "systemd notification is Linux-only and needs /bin/sh.");
        var manager = Path.Combine(directory, "systemd");
        File.CreateSymbolicLink(manager, "/bin/sh");
        var socketPath = Path.Combine(directory, "notify");
        using var notify = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notify.Bind(new UnixDomainSocketEndPoint(socketPath));

        var worker = Path.Combine(AppContext.BaseDirectory, "LlamaDist.Worker.dll");
        var dotnet = Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
        // "; exit $?" keeps the shell alive as the worker's parent (a lone command would be exec'd in its place).
        var start = new ProcessStartInfo(manager, ["-c", $"'{dotnet}' '{worker}' --port 0 --threads 1 --quiet true --state-directory none & child=$!; " +
            "trap 'kill -TERM $child' TERM; wait $child; wait $child; exit $?"])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["NOTIFY_SOCKET"] = socketPath;
        using var shell = Process.Start(start)!;
        try
        {
            var messages = new StringBuilder();
            var buffer = new byte[4096];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (!messages.ToString().Contains("READY=1", StringComparison.Ordinal))
            {
                var received = await notify.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                messages.Append(Encoding.UTF8.GetString(buffer, 0, received)).Append('\n');
            }
            Assert.Contains("LlamaDist worker listening on http://127.0.0.1:", await shell.StandardOutput.ReadLineAsync(timeout.Token));

            Assert.True(Kill(shell.Id, 15) == 0);
            while (!messages.ToString().Contains("STOPPING=1", StringComparison.Ordinal))
            {
                var received = await notify.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                messages.Append(Encoding.UTF8.GetString(buffer, 0, received)).Append('\n');
            }
            await shell.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, shell.ExitCode);
        }
        finally
        {
            if (!shell.HasExited)
            {
                shell.Kill(entireProcessTree: true);
            }
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int processId, int signal);
}
