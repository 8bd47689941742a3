using LlamaDist.Core.Quantization;

namespace LlamaDist.Core.Model;

/// <summary>
/// The keys and values of every evaluated position, per layer of a range, stored as F16 like llama.cpp's default
/// cache (type_k = type_v = f16), so attention reads the same rounded values llama.cpp reads.
/// <para>Keys are [contextSize, n_head_kv * n_embd_head]: row p is position p, so the kq dot for one head walks a
/// contiguous run of n_embd_head halves. Values are stored transposed, [n_head_kv * n_embd_head, contextSize], as
/// llama.cpp stores V when flash attention is off: the kqv product for one output dimension is then one
/// contiguous F16 dot over positions, the same ggml_vec_dot_f16 llama.cpp runs.</para>
/// </summary>
internal sealed unsafe class KvCache
{
    private readonly PinnedArray<ushort>[] _keys;
    private readonly PinnedArray<ushort>[] _values;

    public KvCache(int layerCount, int contextSize, int kvWidth)
    {
        ContextSize = contextSize;
        KvWidth = kvWidth;
        long elements = (long)contextSize * kvWidth;
        _keys = new PinnedArray<ushort>[layerCount];
        _values = new PinnedArray<ushort>[layerCount];
        for (int i = 0; i < layerCount; i++)
        {
            // Uninitialized: attention only reads positions below the session position, all written before.
            _keys[i] = new PinnedArray<ushort>(elements, "key cache of one layer", zeroed: false);
            _values[i] = new PinnedArray<ushort>(elements, "value cache of one layer", zeroed: false);
        }
        Bytes = 2L * layerCount * elements * sizeof(ushort);
    }

    public int ContextSize { get; }

    public int KvWidth { get; }

    /// <summary>Total bytes of keys and values.</summary>
    public long Bytes { get; }

    /// <summary>Keys of layer slot <paramref name="slot"/> (0 = first layer of the range): [contextSize, KvWidth].</summary>
    public ushort* Keys(int slot) => _keys[slot].Pointer;

    /// <summary>Values of layer slot <paramref name="slot"/>, transposed: [KvWidth, contextSize].</summary>
    public ushort* ValuesTransposed(int slot) => _values[slot].Pointer;

    /// <summary>
    /// Rounds Kcur and Vcur ([tokens, KvWidth] floats, K already rotated) to F16 and writes them at positions
    /// <paramref name="position"/> .. position + tokens - 1 (ggml_cpy f32 -> f16 into the cache views).
    /// </summary>
    public void Store(int slot, float* keys, float* values, int tokens, int position)
    {
        ushort* keyCache = Keys(slot);
        ushort* valueCache = ValuesTransposed(slot);
        int width = KvWidth;
        for (int t = 0; t < tokens; t++)
        {
            int p = position + t;
            float* keyRow = keys + (long)t * width;
            float* valueRow = values + (long)t * width;
            ushort* keyDestination = keyCache + (long)p * width;
            for (int i = 0; i < width; i++)
            {
                keyDestination[i] = F16Format.FromSingle(keyRow[i]);
                valueCache[(long)i * ContextSize + p] = F16Format.FromSingle(valueRow[i]);
            }
        }
    }
}
