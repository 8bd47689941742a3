using System.Diagnostics;
using LlamaDist.Core.Backends;
using LlamaDist.Core.Gguf;
using LlamaDist.Engine.Benchmarks;
using LlamaDist.Engine.Chat;
using LlamaDist.Core.Model;
using LlamaDist.Core.Quantization;
using LlamaDist.Core.Tokenization;
using LlamaDist.Gpu;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Formatting;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Perplexity;

namespace LlamaDist.Engine.Models;

/// <summary>
/// A model loaded on this machine: the mapped file, its tokenizer, the weights of every layer and a thread pool.
/// Local inference is the plan with one layer range covering the whole model.
/// </summary>
public sealed class LocalModel : IDisposable, IGenerationModel
{
    private readonly GgufFile file;
    private readonly ComputeThreads threads;
    private readonly IComputeBackend backend;
    private readonly bool readsWholeEmbedding; // the output head is tied to the token embedding table

    private LocalModel(GgufFile file, LlamaConfig config, ITokenizer tokenizer, LlamaWeights weights, ComputeThreads threads,
        IComputeBackend backend, ModelSummary summary, double loadMs, long residentBytesBeforeLoad)
    {
        this.backend = backend;
        this.file = file;
        ResidentBytesBeforeLoad = residentBytesBeforeLoad;
        WeightBytes = file.Tensors.Sum(tensor => tensor.ByteSize);
        // A decoded token reads every matrix once, but of the token embedding table only its own row, unless the
        // output head is tied to it and reads it whole.
        var embedding = file.Tensors.FirstOrDefault(tensor => tensor.Name == LlamaTensorNames.TokenEmbedding)?.ByteSize ?? 0;
        readsWholeEmbedding = file.Tensors.All(tensor => tensor.Name != LlamaTensorNames.Output);
        WeightBytesPerToken = WeightBytes - (readsWholeEmbedding ? 0 : embedding);
        WeightMemory = WeightMemoryModeMapping.FromCore(weights.Memory);
        this.threads = threads;
        Config = config;
        Tokenizer = tokenizer;
        Summary = summary;
        LoadMs = loadMs;
        Forward = backend.Load(config, weights);
        var device = backend.Device;
        Backend = ComputeBackendModeMapping.FromCore(device.Kind);
        DeviceName = device.Name;
        Compute = new LocalBatcher(Forward);
    }

    public ModelSummary Summary { get; }

    /// <summary>Milliseconds spent opening, validating and paging in the model.</summary>
    public double LoadMs { get; }

    public int Threads => threads.ThreadCount;

    /// <summary>Where the layers run: Cpu, Cuda, OpenCL or IlgpuCpu (Auto is resolved at load).</summary>
    public ComputeBackendMode Backend { get; }

    /// <summary>The device the layers run on, as its backend names it.</summary>
    public string DeviceName { get; }

    /// <summary>Where the weight matrices ended up: Mapped or Resident (Auto is resolved at load).</summary>
    public WeightMemoryMode WeightMemory { get; }

    /// <summary>Bytes of every tensor of the model (what llama-bench calls the model size).</summary>
    public long WeightBytes { get; }

    /// <summary>Bytes of weights one decoded token reads: every tensor but the token embedding table (unless the
    /// output head reuses it). Decoding streams them once per token, so bandwidth / this bounds tokens per second.</summary>
    public long WeightBytesPerToken { get; }

    /// <summary>
    /// How fast <see cref="Threads"/> threads read the bytes of <see cref="WeightBytesPerToken"/> where this load
    /// keeps them (the resident copy, regrouped where it was, or the file's mapped pages), streamed as
    /// <see cref="ReadBandwidthProbe"/> reads: the bound of decoding for this load, which a fresh buffer's pages
    /// need not share. Null where the layers run on a device, which holds its own copy.
    /// </summary>
    public ReadBandwidth? MeasureWeightReads(int passes = 3, CancellationToken cancellationToken = default) =>
        Backend != ComputeBackendMode.Cpu ? null : ReadBandwidthProbe.MeasureRanges(WeightRanges(), Threads, passes, cancellationToken);

    /// <summary>
    /// <paramref name="steps"/> decode steps, each after a plain read of the same bytes as
    /// <see cref="MeasureWeightReads"/> reads (<see cref="DecodeBesideReads"/>): decoding's rate and the weights' read
    /// rate in the same seconds. Null where the layers run on a device.
    /// </summary>
    public DecodeBesideReads? MeasureDecodeBesideWeightReads(int steps, CancellationToken cancellationToken = default) =>
        Backend != ComputeBackendMode.Cpu ? null : ExceptionTranslation.Run(Summary.Path, () =>
            DecodeBesideReads.Measure(this, ReadBandwidthProbe.PrepareRanges(WeightRanges(), Threads), steps, cancellationToken));

    /// <summary>Where the bytes of <see cref="WeightBytesPerToken"/> are, as this load keeps them.</summary>
    private unsafe List<MemoryRange> WeightRanges()
    {
        var ranges = new List<MemoryRange>();
        foreach (var tensor in file.Tensors)
        {
            if (tensor.Name == LlamaTensorNames.TokenEmbedding && !readsWholeEmbedding)
            {
                continue;
            }
            byte* start = file.GetRearrangedTensorPointer(tensor);
            ranges.Add(new MemoryRange((nint)(start != null ? start : file.GetTensorPointer(tensor)), tensor.ByteSize));
        }
        return ranges;
    }

    /// <summary>This process's resident set just before the model was loaded: what was there before it.</summary>
    public long ResidentBytesBeforeLoad { get; }

    /// <summary>Bytes of the F16 key and value cache of a sequence of <paramref name="contextSize"/> positions.</summary>
    public long KvCacheBytes(int contextSize) => 2L * Config.LayerCount * contextSize * Config.KvWidth * sizeof(ushort);

    internal LlamaConfig Config { get; }
    internal ITokenizer Tokenizer { get; }
    internal IRangeForward Forward { get; }

    /// <summary>Evaluates the steps of the sequences running on this model at the same time together.</summary>
    internal LocalBatcher Compute { get; }

    LlamaConfig IGenerationModel.Config => Config;
    ITokenizer IGenerationModel.Tokenizer => Tokenizer;

    IGenerationSequence IGenerationModel.Open(int contextSize, int batchSize) => new LocalSequence(Compute, contextSize, batchSize);

    /// <summary>
    /// Maps the model, checks every tensor of the llama architecture, reads the weight matrices into process memory
    /// when <paramref name="weightMemory"/> resolves to Resident, and reads each page of what stays mapped once (as
    /// llama.cpp's prefetching mmap does) so the first token does not pay for disk reads. Progress is the fraction
    /// paged in.
    /// </summary>
    /// <param name="backend">Where the layers run (Cpu by default; Auto tries CUDA, then OpenCL, then the CPU).</param>
    /// <param name="verbose">Receives what Auto found and any weight type converted for a device.</param>
    /// <param name="weightRepacking">
    /// False is llama.cpp's --no-repack: the CPU keeps every matrix in file layout and the row dot's rounding, to
    /// compare with llama.cpp's plain kernels (Q8_0 then rounds as ggml's vec_dot; prompts and decoding of Q4_0,
    /// Q4_K and Q8_0 get slower).
    /// </param>
    public static LocalModel Load(string path, int threads = 0, IProgress<double>? progress = null, CancellationToken cancellationToken = default,
        WeightMemoryMode weightMemory = WeightMemoryMode.Auto, ComputeBackendMode backend = ComputeBackendMode.Cpu, Action<string>? verbose = null,
        bool weightRepacking = true)
    {
        var fullPath = ModelPaths.Resolve(path);
        if (threads < 0)
        {
            throw new LlamaDistException(LlamaErrorKind.InvalidArgument, $"Threads must be positive, not {threads}.", nameof(threads));
        }

        return ExceptionTranslation.Run(fullPath, () =>
        {
            var residentBefore = ResidentMemory.CurrentBytes();
            var stopwatch = Stopwatch.StartNew();
            var file = GgufFile.Open(fullPath);
            ComputeThreads? pool = null;
            IComputeBackend? compute = null;
            try
            {
                var config = LlamaConfig.FromGguf(file);
                var tokenizer = TokenizerFactory.FromGguf(file);
                pool = new ComputeThreads(threads == 0 ? CpuTopology.PhysicalCoreCount : threads);
                compute = ComputeBackends.Open(backend.ToCore(), pool, verbose);
                if (compute is IlgpuBackend device)
                {
                    device.Warning = verbose;
                }
                var weights = LlamaWeights.Load(file, config, new LayerRange(0, config.LayerCount),
                    ComputeBackends.WeightMemoryFor(compute, weightMemory.ToCore()), weightRepacking);
                PageIn(file, progress, cancellationToken);
                // Only the tensors still read through the mapping stay mapped (the file cache's large folios had
                // mapped copied matrices' bytes around them a second time).
                file.ReleaseUnusedMappedPages();
                var summary = ModelInspector.Summarize(file, config);
                // The load's temporary buffers (regrouped rows, tokenizer tables, the file's index) go back to the
                // system now rather than whenever the collector gets to them: the resident set while the model
                // decodes is then its weights, its KV caches and what decoding itself needs.
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                return new LocalModel(file, config, tokenizer, weights, pool, compute, summary, stopwatch.Elapsed.TotalMilliseconds, residentBefore);
            }
            catch
            {
                compute?.Dispose();
                pool?.Dispose();
                file.Dispose();
                throw;
            }
        });
    }

    /// <summary>Token ids of a text, with BOS when the model's tokenizer adds it.</summary>
    public int[] Tokenize(string text, bool addSpecial = true) => Tokenizer.Encode(text, addSpecial);

    public string Detokenize(int[] tokenIds) => Tokenizer.Decode(tokenIds);

    /// <summary>Logits of the last position after evaluating <paramref name="tokenIds"/> from an empty cache.</summary>
    public float[] EvaluateLastLogits(int[] tokenIds)
    {
        ArgumentNullException.ThrowIfNull(tokenIds);
        using var session = Forward.CreateSession(Math.Max(tokenIds.Length, 1), Math.Max(tokenIds.Length, 1));
        var logits = new float[Config.VocabularySize];
        Forward.EvaluateTokens(session, tokenIds, logits, logitsForAllTokens: false);
        return logits;
    }

    public GenerationResult Generate(GenerationRequest request, Action<string>? onText = null, CancellationToken cancellationToken = default) =>
        ExceptionTranslation.Run(Summary.Path, () => new GenerationLoop(this).Run(request, onText, cancellationToken));

    /// <summary>The assistant's reply to a conversation, rendered with the model's chat template (or the one named).</summary>
    public ChatResult Chat(ChatRequest request, Action<string>? onText = null, CancellationToken cancellationToken = default) =>
        ExceptionTranslation.Run(Summary.Path, () => ChatGeneration.Run(this, Summary.ChatTemplate, request, onText, cancellationToken));

    public PerplexityResult MeasurePerplexity(string text, int contextSize, IProgress<double>? progress = null, CancellationToken cancellationToken = default) =>
        ExceptionTranslation.Run(Summary.Path, () => new PerplexityMeter(this).Measure(text, contextSize, progress, cancellationToken));

    /// <summary>llama-bench's pp/tg tests on this model (see <see cref="BenchmarkRunner"/>); generation rows carry
    /// the peak resident set sampled while they ran.</summary>
    public IReadOnlyList<BenchmarkRow> Benchmark(BenchmarkRequest request, IProgress<double>? progress = null, CancellationToken cancellationToken = default) =>
        ExceptionTranslation.Run(Summary.Path, () => new BenchmarkRunner(this, sampleResidentMemory: true).Run(request, progress, cancellationToken));

    /// <summary>
    /// The same tests on this model and with llama.cpp's llama-bench on the same file, alternating round by round
    /// (see <see cref="ReferenceComparison"/>).
    /// </summary>
    public BenchmarkComparison CompareWithLlamaCpp(BenchmarkRequest request, LlamaBench llamaBench, TimeSpan timeoutPerRun,
        IProgress<double>? progress = null, CancellationToken cancellationToken = default) =>
        ExceptionTranslation.Run(Summary.Path, () => ReferenceComparison.Run(
            (roundRequest, token) => new BenchmarkRunner(this, sampleResidentMemory: true).Run(roundRequest, null, token),
            (roundRequest, token) => llamaBench.Run(Summary.Path, Threads, roundRequest, timeoutPerRun, token),
            request, progress, cancellationToken, llamaBench.ProgramPath));

    public void Dispose()
    {
        Forward.Dispose();
        backend.Dispose();
        threads.Dispose();
        file.Dispose();
    }

    private static unsafe void PageIn(GgufFile file, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        const int pageSize = 4096;
        var mapped = file.Tensors.Where(tensor => !file.IsTensorResident(tensor)).ToList();
        long total = mapped.Sum(tensor => tensor.ByteSize), done = 0, lastReported = -1;
        byte checksum = 0;
        foreach (var tensor in mapped)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var data = file.GetTensorPointer(tensor);
            for (long offset = 0; offset < tensor.ByteSize; offset += pageSize)
            {
                checksum ^= data[offset];
            }
            done += tensor.ByteSize;
            var percent = total == 0 ? 100 : done * 100 / total;
            if (progress is not null && percent != lastReported)
            {
                lastReported = percent;
                progress.Report(percent / 100.0);
            }
        }
        GC.KeepAlive(checksum);
    }
}
