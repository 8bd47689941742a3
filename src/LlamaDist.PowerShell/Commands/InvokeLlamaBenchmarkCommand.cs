using System.Management.Automation;
using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Errors;
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
/// <example><code>Invoke-LlamaBenchmark -Model .\tinyllama-f16.gguf -Threads 2 -PromptTokens 128 -GenTokens 32 -Reference LlamaCpp -LlamaCppPath ~/llama.cpp/build/bin</code></example>
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

    /// <summary>
    /// Local runs: LlamaCpp also runs llama.cpp's own llama-bench (from -LlamaCppPath or LLAMADIST_LLAMACPP_BIN) on the
    /// same model with the same threads, tests and repetitions, in rounds alternating with LlamaDist's, and adds its
    /// rows and a ratio row per test. None (the default) measures LlamaDist alone.
    /// </summary>
    [Parameter(ParameterSetName = LocalSet)]
    [ValidateSet(NoReference, LlamaCppReference)]
    public string Reference { get; set; } = NoReference;

    /// <summary>The directory that holds llama-bench (a llama.cpp build's bin directory), or the program itself; implies -Reference LlamaCpp.</summary>
    [Parameter(ParameterSetName = LocalSet)]
    [ValidateNotNullOrEmpty]
    public string? LlamaCppPath { get; set; }

    /// <summary>Seconds one llama-bench round may take before it is stopped (LlamaCppTimedOut).</summary>
    [Parameter(ParameterSetName = LocalSet)]
    [ValidateRange(1, 86_400)]
    public int ReferenceTimeoutSec { get; set; } = 1800;

    private const string NoReference = "None";
    private const string LlamaCppReference = "LlamaCpp";

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
            // Found before the model loads, so a wrong path fails at once.
            var llamaBench = Reference == LlamaCppReference || LlamaCppPath is not null ? LlamaBench.Locate(LlamaCppPath is null ? null : ResolveSinglePath(LlamaCppPath)) : null;
            if (llamaBench is not null && Concurrency > 1)
            {
                // llama-bench measures one sequence: a ratio against several at once would compare different things.
                throw new LlamaDistException(LlamaErrorKind.InvalidArgument,
                    "-Reference LlamaCpp compares one sequence with llama-bench's; leave -Concurrency at 1.", nameof(Concurrency));
            }
            using var model = LocalModel.Load(modelPath, Threads, CreateProgress(ProgressId, "Loading model", modelPath), CancellationToken, Enum.Parse<WeightMemoryMode>(WeightMemory),
                Enum.Parse<ComputeBackendMode>(Backend), WriteVerbose);
            var weightMemory = model.WeightMemory.ToString();
            var backend = model.Backend == ComputeBackendMode.Cpu ? "CPU" : model.Backend.ToString();
            if (llamaBench is null)
            {
                var rows = model.Benchmark(request, CreateProgress(ProgressId, "Benchmarking", modelPath), CancellationToken);
                CompleteProgress(ProgressId, "Benchmarking");
                var measures = MeasureMachine(model);
                foreach (var row in rows) WriteObject(BenchmarkResultMapping.Ours(model.Summary, row, Repetitions, backend, weightMemory: weightMemory, local: measures));
                return;
            }

            WriteVerbose($"Alternating {Repetitions} round(s) with {llamaBench.ProgramPath}.");
            var comparison = model.CompareWithLlamaCpp(request, llamaBench, TimeSpan.FromSeconds(ReferenceTimeoutSec),
                CreateProgress(ProgressId, "Benchmarking against llama.cpp", modelPath), CancellationToken);
            CompleteProgress(ProgressId, "Benchmarking against llama.cpp");
            var local = MeasureMachine(model);
            foreach (var row in comparison.Ours) WriteObject(BenchmarkResultMapping.Ours(model.Summary, row, Repetitions, backend, weightMemory: weightMemory, local: local));
            foreach (var row in comparison.Reference) WriteObject(BenchmarkResultMapping.Reference(model.Summary, comparison, row, Repetitions, local));
            foreach (var ratio in comparison.Ratios)
            {
                WriteObject(BenchmarkResultMapping.Ratio(model.Summary, ratio, comparison.Ours.First(row => row.Test == ratio.Test), Repetitions));
            }
        }, modelPath);
    }

    /// <summary>
    /// The read bandwidth of the model's thread count (fresh memory's and the weights' own), measured right after the tests (so a refused request never
    /// pays for it); as many decode steps as the generation test's, alternated with reads of the weights (one sequence: not with -Concurrency); and
    /// the model's byte counts the rows compare with.
    /// </summary>
    private BenchmarkResultMapping.LocalMeasures MeasureMachine(LocalModel model)
    {
        WriteVerbose($"Measuring the read bandwidth of {model.Threads} thread(s), of fresh memory and of the weights.");
        var bandwidth = ReadBandwidthProbe.Measure(model.Threads, cancellationToken: CancellationToken);
        var weightReads = model.MeasureWeightReads(cancellationToken: CancellationToken);
        DecodeBesideReads? alternation = null;
        if (GenTokens > 0 && Concurrency == 1)
        {
            WriteVerbose($"Alternating {GenTokens} decode step(s) with reads of the weights.");
            alternation = model.MeasureDecodeBesideWeightReads(Math.Min(GenTokens, DecodeBesideReads.MaximumSteps), CancellationToken);
        }
        return new BenchmarkResultMapping.LocalMeasures(bandwidth, weightReads, model.WeightBytesPerToken, model.ResidentBytesBeforeLoad,
            model.WeightBytes + model.KvCacheBytes(Math.Max(PromptTokens, GenTokens)), alternation);
    }

    /// <summary>Rows of a cluster run; the backend column names the ring ("CPU x3 (RPC)"-style, as llama-bench does).</summary>
    private void WriteClusterRows(ClusterModel cluster, BenchmarkRequest request)
    {
        var rows = cluster.Benchmark(request, CreateProgress(ProgressId, "Benchmarking", cluster.Summary.Path), CancellationToken);
        CompleteProgress(ProgressId, "Benchmarking");
        var backend = $"{string.Join("+", cluster.Nodes.Select(node => node.Backend).Distinct())} x{cluster.Nodes.Count} (LlamaDist ring)";
        foreach (var row in rows)
        {
            WriteObject(BenchmarkResultMapping.Ours(cluster.Summary, row, Repetitions, backend));
        }
    }
}
