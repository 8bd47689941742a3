using System.Management.Automation;
using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Models;
using LlamaDist.PowerShell.Completion;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Measures prompt (pp) and generation (tg) speed of a model, like llama-bench.</para>
/// <example><code>Invoke-LlamaBenchmark -Model .\tinyllama-q4_0.gguf -Threads 2 | Export-Csv bench.csv</code></example>
/// <example><code>Invoke-LlamaBenchmark -Model .\tinyllama-q8_0.gguf -Worker pc1:50052, mac1:50052 -Repetitions 3</code></example>
/// <example><code>Invoke-LlamaBenchmark -Cluster $c -PromptTokens 128 -GenTokens 32</code></example>
/// <example><code>1, 4, 8 | ForEach-Object { Invoke-LlamaBenchmark -Cluster $c -PromptTokens 0 -GenTokens 32 -Concurrency $_ }</code></example>
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "LlamaBenchmark", DefaultParameterSetName = LocalSet)]
[OutputType(typeof(LlamaBenchmarkResult))]
public sealed class InvokeLlamaBenchmarkCommand : ClusterCapableCmdlet
{
    private const int ProgressId = 4;

    /// <summary>Model files; takes FileInfo objects (FullName) from the pipeline.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = LocalSet)]
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = WorkerSet)]
    [Alias("FullName", "Path")]
    [ArgumentCompleter(typeof(ModelPathCompleter))]
    [ValidateNotNullOrEmpty]
    public string Model { get; set; } = "";

    /// <summary>Tokens of the prompt test (pp); 0 skips it.</summary>
    [Parameter]
    [ValidateRange(0, 1_048_576)]
    public int PromptTokens { get; set; } = 512;

    /// <summary>Tokens of the generation test (tg); 0 skips it.</summary>
    [Parameter]
    [ValidateRange(0, 1_048_576)]
    public int GenTokens { get; set; } = 128;

    /// <summary>Measured runs per test, after one warm-up run.</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int Repetitions { get; set; } = 5;

    [Parameter]
    [ValidateRange(1, 1024)]
    public int Threads { get; set; }

    /// <summary>Prompt tokens per batch (llama-bench -b).</summary>
    [Parameter]
    [ValidateRange(1, 1_048_576)]
    public int BatchSize { get; set; } = 512;

    /// <summary>
    /// Sequences run at the same time, each with its own KV cache, as concurrent prompts are: on a local model or
    /// a cluster their steps are evaluated together. t/s counts the tokens of all of them.
    /// </summary>
    [Parameter]
    [ValidateRange(1, BenchmarkRequest.MaxConcurrency)]
    public int Concurrency { get; set; } = 1;

    protected override void ProcessRecord()
    {
        var request = new BenchmarkRequest
        {
            PromptTokens = PromptTokens, GenerationTokens = GenTokens, Repetitions = Repetitions, BatchSize = BatchSize, Concurrency = Concurrency,
        };
        if (ParameterSetName == ClusterSet)
        {
            var cluster = ResolveCluster(out var error);
            if (cluster is null)
            {
                WriteError(error!);
                return;
            }
            RunEngine(() => WriteClusterRows(cluster, request), Cluster!.Id);
            return;
        }

        var modelPath = ResolveSinglePath(Model);
        if (ParameterSetName == WorkerSet)
        {
            RunEngine(() =>
            {
                using var cluster = ClusterCmdletSupport.Create(this, modelPath, Worker, IncludeLocal, Split, Threads, "F32", ProgressId, WorkerCredentials(), failover: Failover, stageTimeoutSeconds: StageTimeout);
                WriteClusterRows(cluster, request);
            }, modelPath);
            return;
        }

        RunEngine(() =>
        {
            using var model = LocalModel.Load(modelPath, Threads, CreateProgress(ProgressId, "Loading model", modelPath), CancellationToken, Enum.Parse<WeightMemoryMode>(WeightMemory),
                Enum.Parse<ComputeBackendMode>(Backend), WriteVerbose);
            var rows = model.Benchmark(request, CreateProgress(ProgressId, "Benchmarking", modelPath), CancellationToken);
            CompleteProgress(ProgressId, "Benchmarking");
            foreach (var row in rows)
            {
                WriteObject(OutputMapping.ToBenchmarkResult(model.Summary, row, Repetitions,
                    backend: model.Backend == ComputeBackendMode.Cpu ? "CPU" : model.Backend.ToString(), weightMemory: model.WeightMemory.ToString()));
            }
        }, modelPath);
    }

    /// <summary>Rows of a cluster run; the backend column names the ring ("CPU x3 (RPC)"-style, as llama-bench does).</summary>
    private void WriteClusterRows(ClusterModel cluster, BenchmarkRequest request)
    {
        var rows = cluster.Benchmark(request, CreateProgress(ProgressId, "Benchmarking", cluster.Summary.Path), CancellationToken);
        CompleteProgress(ProgressId, "Benchmarking");
        var backend = $"{string.Join("+", cluster.Nodes.Select(node => node.Backend).Distinct())} x{cluster.Nodes.Count} (LlamaDist ring)";
        foreach (var row in rows)
        {
            WriteObject(OutputMapping.ToBenchmarkResult(cluster.Summary, row, Repetitions, backend));
        }
    }
}
