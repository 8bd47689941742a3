namespace LlamaDist.Engine.Tests.TestModels;

/// <summary>
/// The per-process fixture folder removes what dead runs left and nothing else: not a live run's folder, not names
/// that only look similar.
/// </summary>
public sealed class ProcessTempDirectoryTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("llamadist-sweep-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public void CreatingSweepsFoldersOfProcessesThatAreGone()
    {
        var dead = MakeFolder("fixture-101", withFile: true);
        var live = MakeFolder("fixture-202", withFile: true);
        var ours = MakeFolder("fixture-303", withFile: true);

        var created = ProcessTempDirectory.Create(root, "fixture", processId: 303, isRunning: pid => pid == 202);

        Assert.Equal(ours, created);
        Assert.False(Directory.Exists(dead));
        Assert.True(File.Exists(Path.Combine(live, "model.gguf")));
        Assert.True(File.Exists(Path.Combine(ours, "model.gguf")), "our own folder is reused, not emptied");
    }

    [Fact]
    public void NamesThatAreNotPrefixAndPidStay()
    {
        var kept = new[]
        {
            MakeFolder("fixture-12-old", withFile: false),
            MakeFolder("fixture-abc", withFile: false),
            MakeFolder("fixture-+7", withFile: false),
            MakeFolder("fixture-", withFile: false),
            MakeFolder("fixture-99999999999", withFile: false),  // beyond int: no pid of ours
            MakeFolder("fixtures-5", withFile: false),          // another prefix
            MakeFolder("other-5", withFile: false),
        };

        ProcessTempDirectory.Create(root, "fixture", processId: 1, isRunning: _ => false);

        Assert.All(kept, folder => Assert.True(Directory.Exists(folder), folder));
    }

    [Fact]
    public void TheProcessCheckSeesThisProcessAndNotAnUnusedPid()
    {
        Assert.True(ProcessTempDirectory.IsRunning(Environment.ProcessId));
        // Above Linux's largest pid_max (4194304) and any Windows pid in practice: no process has it.
        Assert.False(ProcessTempDirectory.IsRunning(2_147_483_000));
    }

    [Fact]
    public void TheProcessFolderIsNamedByThisProcessesPid()
    {
        var created = ProcessTempDirectory.Create("llamadist-sweep-check");
        try
        {
            Assert.Equal($"llamadist-sweep-check-{Environment.ProcessId}", Path.GetFileName(created));
            Assert.True(Directory.Exists(created));
        }
        finally
        {
            Directory.Delete(created, recursive: true);
        }
    }

    private string MakeFolder(string name, bool withFile)
    {
        var folder = Path.Combine(root, name);
        Directory.CreateDirectory(folder);
        if (withFile) File.WriteAllBytes(Path.Combine(folder, "model.gguf"), [1, 2, 3]);
        return folder;
    }
}
