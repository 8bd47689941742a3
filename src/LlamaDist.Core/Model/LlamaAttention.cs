using LlamaDist.Core.Gguf;
using LlamaDist.Core.Numerics;
using System.Runtime.Intrinsics.X86;
using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model;

/// <summary>
/// Causal grouped-query self-attention over the F16 KV cache, computed the way llama.cpp's CPU graph computes it
/// without flash attention (llm_graph_context::build_attn_mha):
/// <code>
/// kq          = K · q          K: f16 cache rows, q rounded to f16 (ggml converts src1 to K's vec_dot type)
/// kq_soft_max = softmax(kq * 1/sqrt(n_embd_head) + causal mask)     in float, sum in double
/// kqv         = V · kq_soft_max   V: transposed f16 cache, probabilities rounded to f16 for the same reason
/// </code>
/// Query head h reads KV head h / (n_head / n_head_kv). Heads are split across the compute threads; each head
/// loops over the tokens of the batch, token t attending to positions 0 .. position + t.
/// </summary>
internal static unsafe class LlamaAttention
{
    /// <summary>
    /// Reads Qcur [tokens, Q] from the buffers and the cache (keys and values of this pass already stored), writes
    /// kqv_out [tokens, Q] to <see cref="SessionBuffers.AttentionOutput"/>, and reports kq / kq_soft_max to
    /// <paramref name="trace"/> when set.
    /// </summary>
    public static void Run(ComputeThreads threads, LlamaConfig config, LlamaSession session, int slot, int layer,
        int tokens, int position, TraceHook? trace) =>
        Run(threads, config, session, slot, layer, tokens, position, trace,
            session.Buffers.Query.Pointer, session.Buffers.AttentionOutput.Pointer);

    /// <summary>
    /// As above, with Qcur [tokens, Q] read from <paramref name="query"/> and kqv_out written to
    /// <paramref name="output"/>: the rows of one session inside a batch of several (<see cref="BatchedForward"/>).
    /// The session's own scratch (scores, rounded query) is used, so sessions of one batch never share it.
    /// </summary>
    public static void Run(ComputeThreads threads, LlamaConfig config, LlamaSession session, int slot, int layer,
        int tokens, int position, TraceHook? trace, float* query, float* output)
    {
        AttentionScratch scratch = session.Attention;
        KvCache cache = session.Cache;
        int kvLength = position + tokens;
        float* traceScores = null;
        float* traceProbabilities = null;
        if (trace is not null)
        {
            var (scores, probabilities) = scratch.TraceAttention((long)config.HeadCount * tokens * kvLength);
            traceScores = scores.Pointer;
            traceProbabilities = probabilities.Pointer;
        }

        var work = new HeadWork
        {
            // One F16 x F16 row dot serves both products, at the SIMD level MatrixKernels uses for F16 weights
            // (ggml_vec_dot_f16's lane layout and reduction).
            Dot = F16Format.RoundedSingleDotKernel(Quantizer.DefaultLevel(GgmlType.F16)),
            Query = query,
            Keys = cache.Keys(slot),
            ValuesTransposed = cache.ValuesTransposed(slot),
            Output = output,
            Scores = scratch.Scores.Pointer,
            RoundedQuery = scratch.RoundedQuery.Pointer,
            TraceScores = traceScores,
            TraceProbabilities = traceProbabilities,
            Tokens = tokens,
            Position = position,
            HeadDimension = config.HeadDimension,
            HeadsPerKvHead = config.HeadsPerKvHead,
            QueryWidth = config.QueryWidth,
            KvWidth = config.KvWidth,
            ContextSize = cache.ContextSize,
            // kq_scale as llama.cpp builds it: 1.0f / sqrtf(float(n_embd_head)); 1 where the query was scaled already.
            Scale = config.Traits.ScalesQuery ? 1f : 1f / MathF.Sqrt(config.HeadDimension),
            // gemma2: kq = cap * tanh(kq / cap) before the softmax; its even layers see only the last n_swa positions.
            SoftCap = config.AttentionSoftCap,
            Window = config.UsesSlidingWindow(layer) ? config.SlidingWindow : 0,
            // The grouped path's converted-row dots reproduce the row dot of the level attention runs at.
            Grouped = (F16Format.RunsRowsAtAvx2 || WideDots) && cache.ContextSize <= MaxGroupedContext,
            Wide = WideDots,
        };
        threads.For(config.HeadCount, work);

        if (trace is not null)
        {
            int elements = config.HeadCount * tokens * kvLength;
            trace(TraceNames.Scores, layer, tokens, new ReadOnlySpan<float>(traceScores, elements));
            trace(TraceNames.Probabilities, layer, tokens, new ReadOnlySpan<float>(traceProbabilities, elements));
        }
    }

    // Longest V row HeadWork converts to floats on the stack (64 KB).
    private const int MaxGroupedContext = 16384;

    // Largest K (and V) block ExecuteGroupedBlocks converts per thread: 2 MB of floats each, 6 MB with the V block
    // by position (8,192 positions of a 64-wide head); longer contexts convert row by row instead.
    private const int MaxConvertedBlockFloats = 1 << 19;

    /// <summary>Each compute thread's converted K and V blocks; they grow to the largest pass and stay.</summary>
    private static class BlockScratch
    {
        [ThreadStatic]
        private static float[]? t_buffer;

        public static float[] Get(int minimumFloats) => PinnedThreadBuffer.Get(ref t_buffer, minimumFloats);
    }

    // Attention's F16 dots run at AVX-512 (DotVector512), so the grouped path uses the 512-bit converted dots.
    private static readonly bool WideDots = SimdCapabilities.Best == SimdLevel.Vector512 && Avx2.IsSupported;

    /// <summary>Attention of query heads [start, end) for every token of the pass.</summary>
    private struct HeadWork : IRangeWork
    {
        public bool Grouped;
        public bool Wide;
        public delegate*<byte*, byte*, int, float> Dot;
        public float* Query;               // [Tokens, QueryWidth]
        public ushort* Keys;               // [ContextSize, KvWidth] f16
        public ushort* ValuesTransposed;   // [KvWidth, ContextSize] f16
        public float* Output;              // [Tokens, QueryWidth]
        public float* Scores;              // [n_head, ContextSize] scratch, one row per head
        public float* RoundedQuery;        // [n_head, HeadDimension] scratch
        public float* TraceScores;         // [n_head, Tokens, Position + Tokens] or null
        public float* TraceProbabilities;  // same layout or null
        public int Tokens;
        public int Position;
        public int HeadDimension;
        public int HeadsPerKvHead;
        public int QueryWidth;
        public int KvWidth;
        public int ContextSize;
        public float Scale;
        public float SoftCap;
        public int Window;

        public readonly void Execute(int start, int end)
        {
            if (Grouped && Tokens > 1 && (long)(Position + Tokens) * HeadDimension <= MaxConvertedBlockFloats)
            {
                ExecuteGroupedBlocks(start, end);
            }
            else if (Grouped)
            {
                ExecuteGrouped(start, end);
            }
            else
            {
                ExecuteByHead(start, end);
            }
        }

        /// <summary>
        /// On AVX2 and AVX-512: the query heads of [start, end) that share a KV head (TinyLlama: up to 8) meet each K
        /// row and each transposed V row converted to floats once, instead of once per query head, and three (AVX2,
        /// <see cref="F16Format.DotConverted1x3"/>) or four (AVX-512, <see cref="F16Format.DotConverted512x4"/>)
        /// heads' dots share each loaded weight vector. Every score and output is
        /// the same F16 row dot as <see cref="ExecuteByHead"/> computes (the converted dots keep its accumulators,
        /// reduction and leftovers), in the same order per head.
        /// </summary>
        private readonly void ExecuteGrouped(int start, int end)
        {
            int headDimension = HeadDimension;
            float* keyRow = stackalloc float[headDimension];
            float* valueRow = stackalloc float[Position + Tokens]; // the longest V row read, at most 64 KB
            for (int t = 0; t < Tokens; t++)
            {
                int length = Position + t + 1; // causal: positions 0 .. own position
                for (int head = start; head < end; head++)
                {
                    F16Format.RoundActivationRow(Query + (long)t * QueryWidth + head * headDimension,
                        RoundedQuery + (long)head * headDimension, headDimension);
                }
                for (int groupStart = start; groupStart < end;)
                {
                    int kvHead = groupStart / HeadsPerKvHead;
                    int groupEnd = Math.Min(end, (kvHead + 1) * HeadsPerKvHead);
                    int groupHeads = groupEnd - groupStart;

                    // kq: each cached key row converted once for the group's heads.
                    ushort* keys = Keys + kvHead * headDimension;
                    for (int p = 0; p < length; p++)
                    {
                        F16Format.ConvertRowToSingle((byte*)(keys + (long)p * KvWidth), keyRow, headDimension);
                        DotHeads(Wide, keyRow, RoundedQuery + (long)groupStart * headDimension, headDimension, headDimension,
                            groupHeads, Scores + (long)groupStart * ContextSize + p, ContextSize);
                    }
                    for (int head = groupStart; head < groupEnd; head++)
                    {
                        ScoresToProbabilities(Scores + (long)head * ContextSize, head, t, length);
                    }

                    // kqv: each transposed V row converted once for the group's heads.
                    ushort* values = ValuesTransposed + (long)kvHead * headDimension * ContextSize;
                    float* output = Output + (long)t * QueryWidth + groupStart * headDimension;
                    for (int d = 0; d < headDimension; d++)
                    {
                        F16Format.ConvertRowToSingle((byte*)(values + (long)d * ContextSize), valueRow, length);
                        DotHeads(Wide, valueRow, Scores + (long)groupStart * ContextSize, ContextSize, length, groupHeads,
                            output + d, headDimension);
                    }
                    groupStart = groupEnd;
                }
            }
        }

        /// <summary>
        /// A batch (prompt), at AVX-512 or AVX2: each group's K block [kvLength, n_embd_head] and transposed V block
        /// [n_embd_head, kvLength] are converted to floats once for the whole pass, where
        /// <see cref="ExecuteGrouped"/> converts every row again for every token; then each head's scores (one dot
        /// per position) and outputs (one dot per dimension) are taken sixteen (eight) at a time through
        /// <see cref="ConvertedRowDots"/>. The same dots, so the same floats, as the other paths.
        /// </summary>
        private readonly void ExecuteGroupedBlocks(int start, int end)
        {
            int headDimension = HeadDimension;
            int kvLength = Position + Tokens;
            long blockFloats = (long)kvLength * headDimension;
            float[] scratch = BlockScratch.Get((int)(3 * blockFloats + ConvertedRowDots.ScratchFloats));
            fixed (float* scratchBase = scratch)
            {
                float* keyBlock = scratchBase;                      // [kvLength, headDimension]
                float* valueBlock = keyBlock + blockFloats;         // [headDimension, kvLength]
                float* valuesByPosition = valueBlock + blockFloats; // [kvLength, headDimension], for the leftovers
                float* sums = valuesByPosition + blockFloats;
                for (int groupStart = start; groupStart < end;)
                {
                    int kvHead = groupStart / HeadsPerKvHead;
                    int groupEnd = Math.Min(end, (kvHead + 1) * HeadsPerKvHead);
                    ushort* keys = Keys + kvHead * headDimension;
                    for (int p = 0; p < kvLength; p++)
                    {
                        F16Format.ConvertRowToSingle((byte*)(keys + (long)p * KvWidth), keyBlock + (long)p * headDimension,
                            headDimension);
                    }
                    ushort* values = ValuesTransposed + (long)kvHead * headDimension * ContextSize;
                    for (int d = 0; d < headDimension; d++)
                    {
                        float* valueRow = valueBlock + (long)d * kvLength;
                        F16Format.ConvertRowToSingle((byte*)(values + (long)d * ContextSize), valueRow, kvLength);
                        for (int p = 0; p < kvLength; p++)
                        {
                            valuesByPosition[(long)p * headDimension + d] = valueRow[p];
                        }
                    }
                    for (int t = 0; t < Tokens; t++)
                    {
                        int length = Position + t + 1; // causal: positions 0 .. own position
                        for (int head = groupStart; head < groupEnd; head++)
                        {
                            float* query = RoundedQuery + (long)head * headDimension;
                            float* scores = Scores + (long)head * ContextSize;
                            F16Format.RoundActivationRow(Query + (long)t * QueryWidth + head * headDimension, query,
                                headDimension);
                            DotRows(Wide, keyBlock, headDimension, query, headDimension, length, scores, sums, null);
                            ScoresToProbabilities(scores, head, t, length);
                            DotRows(Wide, valueBlock, kvLength, scores, length, headDimension,
                                Output + (long)t * QueryWidth + head * headDimension, sums, valuesByPosition);
                        }
                    }
                    groupStart = groupEnd;
                }
            }
        }

        // ConvertedRowDots at the level attention's dots run at.
        private static void DotRows(bool wide, float* rows, long rowStride, float* shared, int columns, int count,
            float* y, float* scratch, float* columnsOfRows)
        {
            if (wide)
            {
                ConvertedRowDots.Rows512(rows, rowStride, shared, columns, count, y, scratch, columnsOfRows);
            }
            else
            {
                ConvertedRowDots.Rows256(rows, rowStride, shared, columns, count, y, scratch, columnsOfRows);
            }
        }

        /// <summary>
        /// y[i * yStride] = dot(shared, rows + i * rowStride) for i in [0, count): four at a time at 512 bits
        /// (<paramref name="wide"/>), three at a time at 256.
        /// </summary>
        private static void DotHeads(bool wide, float* shared, float* rows, long rowStride, int columns, int count, float* y,
            long yStride)
        {
            int i = 0;
            if (wide)
            {
                for (; i + 4 <= count; i += 4)
                {
                    F16Format.DotConverted512x4(shared, rows + i * rowStride, rowStride, columns, y + i * yStride, yStride);
                }
                for (; i < count; i++)
                {
                    y[i * yStride] = F16Format.DotConvertedVector512(shared, rows + i * rowStride, columns);
                }
                return;
            }
            for (; i + 3 <= count; i += 3)
            {
                F16Format.DotConverted1x3(shared, rows + i * rowStride, rowStride, columns, y + i * yStride, yStride);
            }
            for (; i < count; i++)
            {
                y[i * yStride] = F16Format.DotConvertedVector256(shared, rows + i * rowStride, columns);
            }
        }

        /// <summary>
        /// kq_soft_max on the scores of one head and token ([length], the unmasked positions; masked ones would be
        /// exp(-inf) = 0): scale, softmax, then rounded to half as the F16 kqv product reads them. Traced on the way.
        /// </summary>
        private readonly void ScoresToProbabilities(float* scores, int head, int token, int length)
        {
            Span<float> row = new(scores, length);
            if (SoftCap > 0f)
            {
                VectorMath.SoftCap(row, SoftCap);
            }
            if (Window > 0 && length > Window)
            {
                // Positions n_swa or more behind this token are masked (probability 0), as llama.cpp's window mask.
                row[..(length - Window)].Fill(float.NegativeInfinity);
            }
            if (TraceScores != null)
            {
                CopyTraceRow(TraceScores, head, token, row, float.NegativeInfinity);
            }
            VectorMath.Scale(row, Scale);
            VectorMath.Softmax(row);
            if (TraceProbabilities != null)
            {
                CopyTraceRow(TraceProbabilities, head, token, row, 0f);
            }
            F16Format.RoundActivationRow(scores, scores, length);
        }

        /// <summary>One query head at a time through the F16 row dot (any SIMD level).</summary>
        private readonly void ExecuteByHead(int start, int end)
        {
            int headDimension = HeadDimension;
            for (int head = start; head < end; head++)
            {
                int kvHead = head / HeadsPerKvHead;
                ushort* keys = Keys + kvHead * headDimension;                                   // column block of the head
                ushort* values = ValuesTransposed + (long)kvHead * headDimension * ContextSize; // row block of the head
                float* scores = Scores + (long)head * ContextSize;
                float* query = RoundedQuery + (long)head * headDimension;

                for (int t = 0; t < Tokens; t++)
                {
                    int length = Position + t + 1; // causal: positions 0 .. own position
                    F16Format.RoundActivationRow(Query + (long)t * QueryWidth + head * headDimension, query, headDimension);

                    // kq: one f16 dot per cached position.
                    for (int p = 0; p < length; p++)
                    {
                        scores[p] = Dot((byte*)(keys + (long)p * KvWidth), (byte*)query, headDimension);
                    }
                    ScoresToProbabilities(scores, head, t, length);

                    // kqv: each output dimension is an f16 dot of the probabilities with one transposed V row.
                    float* output = Output + (long)t * QueryWidth + head * headDimension;
                    for (int d = 0; d < headDimension; d++)
                    {
                        output[d] = Dot((byte*)(values + (long)d * ContextSize), (byte*)scores, length);
                    }
                }
            }
        }

        private readonly void CopyTraceRow(float* destination, int head, int token, ReadOnlySpan<float> row, float masked)
        {
            int kvLength = Position + Tokens;
            var target = new Span<float>(destination + ((long)head * Tokens + token) * kvLength, kvLength);
            row.CopyTo(target);
            target[row.Length..].Fill(masked);
        }
    }
}
