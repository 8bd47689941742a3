using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Extensions;
using LLama.Native;

namespace LlamaDist.Engine.Tests.LlamaCpp;

/// <summary>
/// llama.cpp run in process through LLamaSharp's low-level API: the reference our own engine is checked against
/// (tokens, logits, greedy continuations, perplexity) and the baseline the benchmarks compare with.
/// Test-only; one sequence (seq 0) at a time, the memory (KV cache) cleared before every fresh sequence.
/// Not thread-safe: one oracle is used from one thread.
/// </summary>
public sealed class LlamaCppOracle : IDisposable
{
    private static readonly object LoggingGate = new();
    private static bool loggingSilenced;

    // Kept in a static field so the delegate handed to native code is never collected.
    private static readonly NativeLogConfig.LLamaLogCallback SilentLog = static (_, _) => { };

    private readonly SafeLlamaModelHandle model;
    private readonly SafeLLamaContextHandle context;
    private readonly LLamaBatch batch = new();
    private readonly int contextSize;
    private bool disposed;

    private LlamaCppOracle(SafeLlamaModelHandle model, SafeLLamaContextHandle context, int contextSize)
    {
        this.model = model;
        this.context = context;
        this.contextSize = contextSize;
        VocabularySize = model.Vocab.Count;
        BosId = model.Vocab.BOS is { } bos
            ? (int)bos
            : throw new InvalidOperationException("The model defines no BOS token; llama.cpp's perplexity needs one.");
    }

    /// <summary>Number of logits per position (the model's vocabulary size).</summary>
    public int VocabularySize { get; }

    /// <summary>The model's BOS token id as llama.cpp reads it.</summary>
    public int BosId { get; }

    /// <summary>
    /// Loads a GGUF file on the CPU. <paramref name="contextSize"/> is both the KV cache length and the largest
    /// batch (batch = ubatch = context), so any sequence that fits the context is decoded as one batch.
    /// <paramref name="weightRepacking"/> false turns off llama.cpp's CPU weight repacking ("extra buffer types",
    /// llama-cli's --no-repack), so every matrix goes through ggml's plain vec_dot kernels with the reference
    /// activation quantizers; which matrices get repacked otherwise depends on the CPU (Q2_K only with AVX-512).
    /// </summary>
    public static LlamaCppOracle Load(string ggufPath, int contextSize = 512, int threads = 2, bool weightRepacking = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(ggufPath);
        ArgumentOutOfRangeException.ThrowIfLessThan(contextSize, 8);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        if (!File.Exists(ggufPath))
        {
            throw new FileNotFoundException($"GGUF model not found: {ggufPath}", ggufPath);
        }

        SilenceLogging();
        var parameters = new ModelParams(ggufPath)
        {
            ContextSize = (uint)contextSize,
            BatchSize = (uint)contextSize,
            UBatchSize = (uint)contextSize,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
            FlashAttention = false,
        };

        SafeLlamaModelHandle model;
        using (parameters.ToLlamaModelParams(out var modelParameters))
        {
            modelParameters.use_extra_bufts = weightRepacking;
            model = SafeLlamaModelHandle.LoadFromFile(ggufPath, modelParameters);
        }

        try
        {
            parameters.ToLlamaContextParams(out var contextParameters);
            // Flash attention off, set on the native struct so "auto" can never pick it: the plain softmax(QK^T)V
            // path is deterministic and is the path our engine implements, so logits compare like for like.
            // KV cache types (type_k/type_v) stay at llama.cpp's default, F16.
            contextParameters.llama_flash_attn_type = LLamaFlashAttentionType.LLAMA_FLASH_ATTENTION_TYPE_DISABLED;
            var context = SafeLLamaContextHandle.Create(model, contextParameters);
            return new LlamaCppOracle(model, context, contextSize);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>llama.cpp's own tokenizer; special tokens in the text are treated as plain text.</summary>
    public int[] Tokenize(string text, bool addBos)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(text);
        var tokens = context.Tokenize(text, addBos, special: false, System.Text.Encoding.UTF8);
        var ids = new int[tokens.Length];
        for (var i = 0; i < tokens.Length; i++)
        {
            ids[i] = (int)tokens[i];
        }

        return ids;
    }

    /// <summary>Fresh sequence, all tokens in one batch; returns the logits [vocab] of the last position.</summary>
    public float[] EvaluateLastLogits(int[] tokens)
    {
        ThrowIfDisposed();
        StartSequence(tokens);
        DecodeTokens(tokens, startPosition: 0, logitsForAll: false);
        return CopyLogits(tokens.Length - 1);
    }

    /// <summary>Fresh sequence, all tokens in one batch; returns logits [tokens][vocab], one row per position.</summary>
    public float[][] EvaluateAllLogits(int[] tokens)
    {
        ThrowIfDisposed();
        StartSequence(tokens);
        DecodeTokens(tokens, startPosition: 0, logitsForAll: true);
        var rows = new float[tokens.Length][];
        for (var i = 0; i < tokens.Length; i++)
        {
            rows[i] = CopyLogits(i);
        }

        return rows;
    }

    /// <summary>
    /// Fresh sequence: decodes the prompt, then picks the argmax (first maximum) and decodes it, one token at a
    /// time, <paramref name="count"/> times. Does not stop at EOS, so the length is always <paramref name="count"/>.
    /// </summary>
    public int[] GenerateGreedy(int[] promptTokens, int count)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        StartSequence(promptTokens);
        if (promptTokens.Length + count > contextSize + 1)
        {
            throw new ArgumentException(
                $"Prompt ({promptTokens.Length}) + generated ({count}) tokens exceed the context ({contextSize}).",
                nameof(count));
        }

        var generated = new int[count];
        DecodeTokens(promptTokens, startPosition: 0, logitsForAll: false);
        var position = promptTokens.Length;
        var lastBatchIndex = promptTokens.Length - 1;
        for (var i = 0; i < count; i++)
        {
            generated[i] = ArgMax(context.GetLogitsIth(lastBatchIndex));
            if (i == count - 1)
            {
                break; // the last token's logits are never needed
            }

            DecodeSingle(generated[i], position++);
            lastBatchIndex = 0;
        }

        return generated;
    }

    /// <summary>
    /// Exactly llama-perplexity (non-strided): chunks = tokens / contextSize; each chunk starts a fresh sequence with
    /// its first token replaced by BOS and is decoded with all logits; positions j = contextSize/2 .. contextSize-2
    /// score token j+1 by its negative log-softmax (in double). Perplexity = exp(mean NLL); uncertainty is the
    /// standard error of the mean NLL scaled by the perplexity, as llama.cpp prints it ("+/-").
    /// </summary>
    public (double Perplexity, double Uncertainty, int ScoredTokens, int Chunks) Perplexity(int[] tokens, int contextSize)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentOutOfRangeException.ThrowIfLessThan(contextSize, 4);
        if (contextSize > this.contextSize)
        {
            throw new ArgumentOutOfRangeException(nameof(contextSize),
                $"Perplexity context {contextSize} exceeds the oracle's context {this.contextSize}.");
        }

        var chunks = tokens.Length / contextSize;
        if (chunks == 0)
        {
            throw new ArgumentException(
                $"Perplexity needs at least {contextSize} tokens (one chunk); got {tokens.Length}.", nameof(tokens));
        }

        var first = contextSize / 2;
        double nll = 0, nllSquared = 0;
        var count = 0;
        var chunk = new int[contextSize];
        for (var c = 0; c < chunks; c++)
        {
            Array.Copy(tokens, c * contextSize, chunk, 0, contextSize);
            chunk[0] = BosId;
            context.MemoryClear(true);
            DecodeTokens(chunk, startPosition: 0, logitsForAll: true);
            for (var j = first; j < contextSize - 1; j++)
            {
                var tokenNll = NegativeLogSoftmax(context.GetLogitsIth(j), tokens[c * contextSize + j + 1]);
                nll += tokenNll;
                nllSquared += tokenNll * tokenNll;
                count++;
            }
        }

        var mean = nll / count;
        var perplexity = Math.Exp(mean);
        var meanSquared = nllSquared / count;
        var uncertainty = count > 1
            ? Math.Sqrt(Math.Max(0, meanSquared - mean * mean) / (count - 1)) * perplexity
            : 0;
        return (perplexity, uncertainty, count, chunks);
    }

    /// <summary>
    /// Benchmark timing on a fresh sequence: one decode of the whole prompt (prompt processing), then
    /// <paramref name="generate"/> single-token greedy decodes (text generation). Wall-clock milliseconds of each.
    /// </summary>
    public (double PromptMs, double DecodeMs) TimeRun(int[] promptTokens, int generate)
    {
        ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegative(generate);
        StartSequence(promptTokens);
        if (promptTokens.Length + generate > contextSize)
        {
            throw new ArgumentException(
                $"Prompt ({promptTokens.Length}) + generated ({generate}) tokens exceed the context ({contextSize}).",
                nameof(generate));
        }

        var watch = Stopwatch.StartNew();
        DecodeTokens(promptTokens, startPosition: 0, logitsForAll: false);
        var next = ArgMax(context.GetLogitsIth(promptTokens.Length - 1));
        var promptMs = watch.Elapsed.TotalMilliseconds;

        watch.Restart();
        var position = promptTokens.Length;
        for (var i = 0; i < generate; i++)
        {
            DecodeSingle(next, position++);
            next = ArgMax(context.GetLogitsIth(0));
        }

        var decodeMs = watch.Elapsed.TotalMilliseconds;
        return (promptMs, decodeMs);
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        context.Dispose();
        model.Dispose();
    }

    /// <summary>Validates a sequence against the context and clears the memory so it starts at position 0.</summary>
    private void StartSequence(int[] tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (tokens.Length == 0)
        {
            throw new ArgumentException("At least one token is needed.", nameof(tokens));
        }

        if (tokens.Length > contextSize)
        {
            throw new ArgumentException(
                $"{tokens.Length} tokens do not fit the context ({contextSize}) as one batch.", nameof(tokens));
        }

        foreach (var token in tokens)
        {
            if ((uint)token >= (uint)VocabularySize)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), token,
                    $"Token id outside the vocabulary [0, {VocabularySize}).");
            }
        }

        context.MemoryClear(true);
    }

    /// <summary>Decodes tokens at positions startPosition.. as one batch in seq 0; logits for all or only the last.</summary>
    private void DecodeTokens(int[] tokens, int startPosition, bool logitsForAll)
    {
        batch.Clear();
        for (var i = 0; i < tokens.Length; i++)
        {
            batch.Add((LLamaToken)tokens[i], (LLamaPos)(startPosition + i), (LLamaSeqId)0,
                logitsForAll || i == tokens.Length - 1);
        }

        Decode();
    }

    private void DecodeSingle(int token, int position)
    {
        batch.Clear();
        batch.Add((LLamaToken)token, (LLamaPos)position, (LLamaSeqId)0, true);
        Decode();
    }

    private void Decode()
    {
        var result = context.Decode(batch);
        if (result != DecodeResult.Ok)
        {
            throw new InvalidOperationException(
                $"llama_decode failed with code {(int)result} ({result}) for a batch of {batch.TokenCount} tokens.");
        }
    }

    /// <summary>Copies the logits of batch index <paramref name="batchIndex"/> out of llama.cpp's buffer.</summary>
    private float[] CopyLogits(int batchIndex)
    {
        var span = context.GetLogitsIth(batchIndex);
        if (span.Length != VocabularySize)
        {
            throw new InvalidOperationException(
                $"llama.cpp returned {span.Length} logits for batch index {batchIndex}; expected {VocabularySize}.");
        }

        return span.ToArray();
    }

    /// <summary>-log softmax(logits)[target], computed like llama-perplexity: max-shifted, sum in double.</summary>
    private static double NegativeLogSoftmax(ReadOnlySpan<float> logits, int target)
    {
        var max = float.NegativeInfinity;
        foreach (var value in logits)
        {
            max = Math.Max(max, value);
        }

        double sumExp = 0;
        foreach (var value in logits)
        {
            sumExp += MathF.Exp(value - max); // expf, as llama-perplexity does, accumulated in double
        }

        return -(logits[target] - max - Math.Log(sumExp));
    }

    /// <summary>Index of the largest logit; the first one wins a tie (llama.cpp's greedy sampler).</summary>
    private static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }

        return best;
    }

    /// <summary>Routes llama.cpp's log to a no-op before the native library is first used (process-wide).</summary>
    internal static void SilenceLogging()
    {
        lock (LoggingGate)
        {
            if (loggingSilenced)
            {
                return;
            }

            if (!NativeLibraryConfig.LLama.LibraryHasLoaded)
            {
                NativeLibraryConfig.All.WithLogCallback(SilentLog);
            }

            NativeLogConfig.llama_log_set(SilentLog);
            loggingSilenced = true;
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(disposed, this);
}
