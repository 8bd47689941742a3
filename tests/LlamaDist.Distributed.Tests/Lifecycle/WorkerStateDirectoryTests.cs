using System.Diagnostics;
using LlamaDist.Worker.Lifecycle;

namespace LlamaDist.Distributed.Tests.Lifecycle;

/// <summary>
/// The state directory of running workers: an entry is listed only while a process with its id AND its start
/// time runs; entries of exited processes and of reused ids are removed, as are old files that are not entries.
/// Files are private to the user (0600 in a 0700 directory).
/// </summary>
public sealed class WorkerStateDirectoryTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), $"llamadist-state-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static WorkerStateEntry Entry(int processId, DateTime startTime) => new()
    {
        ProcessId = processId,
        ProcessStartTime = startTime,
        Endpoint = "192.168.1.20:50052",
        LocalEndpoint = "127.0.0.1:50052",
        WorkerId = "0123456789abcdef",
        Name = "pc1",
        Threads = 2,
        LogPath = "/var/log/worker.log",
        Detached = true,
    };

    [Fact]
    public void A_running_process_is_listed_with_what_it_recorded()
    {
        var state = new WorkerStateDirectory(root);
        var entry = Entry(Environment.ProcessId, ProcessIdentity.CurrentStartTime());
        state.Write(entry);

        var live = Assert.Single(state.ReadLive());
        Assert.Equal(entry, live);
        Assert.Equal(entry, state.Find(Environment.ProcessId));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(state.FileOf(Environment.ProcessId)));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(root));
        }

        state.Remove(Environment.ProcessId);
        Assert.Empty(state.ReadLive());
        Assert.False(File.Exists(state.FileOf(Environment.ProcessId)));
    }

    [Fact]
    public void A_reused_process_id_is_stale_and_its_entry_is_removed()
    {
        var state = new WorkerStateDirectory(root);
        // This process's id with another start time: what a worker that died leaves when the system gives its id
        // to a new process (here, the test process itself).
        state.Write(Entry(Environment.ProcessId, ProcessIdentity.CurrentStartTime().AddMinutes(-3)));

        Assert.Empty(state.ReadLive());
        Assert.False(File.Exists(state.FileOf(Environment.ProcessId)));
    }

    [Fact]
    public void An_exited_process_is_stale_and_its_entry_is_removed()
    {
        var state = new WorkerStateDirectory(root);
        using var process = Process.Start(new ProcessStartInfo("dotnet", "--version") { UseShellExecute = false, RedirectStandardOutput = true })!;
        var startTime = ProcessIdentity.StartTimeOf(process);
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        state.Write(Entry(process.Id, startTime));
        state.Write(Entry(Environment.ProcessId, ProcessIdentity.CurrentStartTime()));

        var live = Assert.Single(state.ReadLive());
        Assert.Equal(Environment.ProcessId, live.ProcessId);
        Assert.False(File.Exists(state.FileOf(process.Id)));
    }

    [Fact]
    public void Files_that_are_not_entries_are_ignored_and_removed_once_old()
    {
        var state = new WorkerStateDirectory(root);
        state.Write(Entry(Environment.ProcessId, ProcessIdentity.CurrentStartTime()));
        var garbage = Path.Combine(root, "12345.json");
        File.WriteAllText(garbage, "{ not json");
        var fresh = Path.Combine(root, "23456.json");
        File.WriteAllText(fresh, "{ \"half\": ");
        File.SetLastWriteTimeUtc(garbage, DateTime.UtcNow.AddHours(-1));
        // An entry under another process's file name is not trusted either.
        File.Copy(state.FileOf(Environment.ProcessId), Path.Combine(root, "34567.json"));
        File.SetLastWriteTimeUtc(Path.Combine(root, "34567.json"), DateTime.UtcNow.AddHours(-1));

        var live = Assert.Single(state.ReadLive());
        Assert.Equal(Environment.ProcessId, live.ProcessId);
        Assert.False(File.Exists(garbage));
        Assert.True(File.Exists(fresh)); // may be a worker writing it right now
        Assert.False(File.Exists(Path.Combine(root, "34567.json")));
    }

    [Fact]
    public void A_missing_directory_lists_nothing()
    {
        Assert.Empty(new WorkerStateDirectory(Path.Combine(root, "absent")).ReadLive());
    }
}
