using System.Management.Automation;
using System.Net;
using LlamaDist.Engine.Formatting;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.Workers;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Starts a LlamaDist worker that runs layer ranges for clusters.</para>
/// <para type="description">Without -Detached the worker is hosted inside this PowerShell process and stops with
/// it (or with Stop-LlamaWorker). With -Detached the module starts its LlamaDist.Worker executable, waits until
/// it listens, and the worker outlives this session (for remoting and services).</para>
/// <example><code>$w1 = Start-LlamaWorker -Port 50052; $w2 = Start-LlamaWorker -Port 50053 -Threads 1</code></example>
/// <example><code>Invoke-Command -ComputerName pc1 { Import-Module LlamaDist; Start-LlamaWorker -Address 0.0.0.0 -Detached }</code></example>
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "LlamaWorker")]
[OutputType(typeof(LlamaWorker))]
public sealed class StartLlamaWorkerCommand : LlamaCmdlet
{
    /// <summary>TCP port; 0 picks a free one.</summary>
    [Parameter(Position = 0)]
    [ValidateRange(0, 65535)]
    public int Port { get; set; } = 50052;

    /// <summary>Address to listen on; loopback by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>Compute threads; physical cores when omitted.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int Threads { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>A GGUF file, or a directory of them, the worker loads its layers from (instead of receiving them).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ModelPath { get; set; }

    /// <summary>Where layers streamed to the worker are kept, by content hash.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? CacheDirectory { get; set; }

    /// <summary>Most bytes of weights and KV caches the worker holds (e.g. 8GB); all memory when omitted.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long MaxMemory { get; set; }

    /// <summary>
    /// Where the worker reads its layers' weight matrices from: Auto (default; resident in huge pages when they fit
    /// in half the available memory), Mapped or Resident, as for Invoke-LlamaPrompt.
    /// </summary>
    [Parameter]
    [ValidateSet(nameof(WeightMemoryMode.Auto), nameof(WeightMemoryMode.Mapped), nameof(WeightMemoryMode.Resident))]
    public string WeightMemory { get; set; } = nameof(WeightMemoryMode.Auto);

    /// <summary>Run the worker as its own process that outlives this session.</summary>
    [Parameter]
    public SwitchParameter Detached { get; set; }

    protected override void ProcessRecord()
    {
        if (!IsLoopback(Address))
        {
            WriteWarning($"The worker listens on {Address}: anyone who can reach this port can use it. LlamaDist workers have no authentication yet; bind to 127.0.0.1 or use a trusted network.");
        }
        var request = new WorkerStartRequest
        {
            Address = Address,
            Port = Port,
            Threads = Threads,
            Name = Name,
            ModelPath = ModelPath is null ? null : ResolveSinglePath(ModelPath),
            CacheDirectory = CacheDirectory is null ? null : ResolveSinglePath(CacheDirectory),
            MaxMemoryBytes = MaxMemory,
            WeightMemory = Enum.Parse<WeightMemoryMode>(WeightMemory),
        };
        RunEngine(() =>
        {
            LlamaWorker worker;
            if (Detached)
            {
                var (processId, processStartTime, endpoint, workerId) = DetachedWorker.Start(request, CancellationToken);
                var status = WorkerInspector.Query(endpoint, CancellationToken);
                worker = new LlamaWorker
                {
                    Name = status.Name, Endpoint = endpoint, ProcessId = processId, Backend = status.Backend, Threads = status.Threads,
                    MemoryBytes = status.TotalMemoryBytes, Memory = HumanReadable.Bytes(status.TotalMemoryBytes), Detached = true,
                    WorkerId = workerId, Started = DateTime.Now, ProcessStartTime = processStartTime,
                };
            }
            else
            {
                var host = EmbeddedWorker.Start(request);
                worker = new LlamaWorker
                {
                    Name = host.Name, Endpoint = host.Endpoint, ProcessId = Environment.ProcessId, Backend = "CPU", Threads = host.Threads,
                    MemoryBytes = host.TotalMemoryBytes, Memory = HumanReadable.Bytes(host.TotalMemoryBytes), Detached = false,
                    WorkerId = host.WorkerId, Started = DateTime.Now, Host = host,
                };
            }
            SessionRegistry.Add(worker);
            WriteObject(worker);
        }, $"{Address}:{Port}");
    }

    private static bool IsLoopback(string address) =>
        address.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(address, out var ip) && IPAddress.IsLoopback(ip));
}
