using LlamaDist.Core.Gguf;
namespace LlamaDist.Core.TestModels;

/// <summary>
/// One tensor of a synthetic model: llama.cpp name, shape (ne0 first: ne0 = row length = fan-in), storage
/// type and the distribution its values are drawn from, or the exact <see cref="Values"/> of a computed tensor
/// (rope_freqs.weight).
/// </summary>
internal sealed record SyntheticTensor(string Name, long[] Dimensions, GgmlType Type, float Mean, float Std,
    float[]? Values = null)
{
    public int Columns => (int)Dimensions[0];

    public long Rows => Dimensions.Length == 1 ? 1 : Dimensions[1];

    public long ByteSize => GgmlTypeInfo.RowBytes(Type, Columns) * Rows;
}

/// <summary>
/// The tensor list of a model in llama.cpp naming, laid out as <see cref="ArchitectureTraits"/> says, with scales
/// chosen so a forward pass stays well conditioned: projections have std 1/sqrt(fan-in) (activations stay O(1)
/// through the residual stream), token embeddings std 1 (the first RMSNorm sees unit-scale input), norm weights
/// 1 ± 0.05 (Gemma's converter adds its 1 to the stored norms, so they look the same), biases std 0.5, and the
/// output head std 3/sqrt(embedding) so logits spread with a standard deviation near 3 and greedy argmax has
/// clear margins. With tied embeddings token_embd.weight is that head, so it takes the head's scale.
/// </summary>
internal static class TestModelTensorPlan
{
    private const float NormStd = 0.05f;
    private const float BiasStd = 0.5f;
    private const float OutputLogitStd = 3.0f;

    public static List<SyntheticTensor> Build(TestModelShape shape, GgmlType matrixType, ArchitectureTraits traits)
    {
        long embd = shape.EmbeddingLength;
        long ffn = shape.FeedForwardLength;
        long vocab = shape.VocabularySize;
        long headWidth = traits.HeadWidth(shape);
        long queryWidth = traits.QueryWidth(shape);
        long kvWidth = traits.KvWidth(shape);
        float outputStd = OutputLogitStd / MathF.Sqrt(embd);
        var tensors = new List<SyntheticTensor>
        {
            new("token_embd.weight", [embd, vocab], matrixType, 0f, traits.TiedEmbeddings ? outputStd : 1f),
        };
        if (traits.Llama3RopeScaling)
        {
            float ropeBase = traits.RopeFreqBase ?? 10000f;
            tensors.Add(new SyntheticTensor("rope_freqs.weight", [headWidth / 2], GgmlType.F32, 0f, 0f,
                Llama3RopeFactors.Compute((int)headWidth, ropeBase)));
        }
        if (traits.LongRope)
        {
            tensors.Add(new SyntheticTensor("rope_factors_long.weight", [headWidth / 2], GgmlType.F32, 0f, 0f,
                LongRopeFactors.Long((int)headWidth)));
            tensors.Add(new SyntheticTensor("rope_factors_short.weight", [headWidth / 2], GgmlType.F32, 0f, 0f,
                LongRopeFactors.Short((int)headWidth)));
        }
        for (int layer = 0; layer < shape.LayerCount; layer++)
        {
            string block = $"blk.{layer}.";
            tensors.Add(Norm(block + "attn_norm.weight", embd));
            if (traits.FusedQkv)
            {
                tensors.Add(Projection(block + "attn_qkv.weight", embd, queryWidth + 2 * kvWidth, matrixType));
            }
            else
            {
                tensors.Add(Projection(block + "attn_q.weight", embd, queryWidth, matrixType));
                tensors.Add(Projection(block + "attn_k.weight", embd, kvWidth, matrixType));
                tensors.Add(Projection(block + "attn_v.weight", embd, kvWidth, matrixType));
            }
            if (traits.AttentionBiases)
            {
                tensors.Add(Bias(block + "attn_q.bias", queryWidth));
                tensors.Add(Bias(block + "attn_k.bias", kvWidth));
                tensors.Add(Bias(block + "attn_v.bias", kvWidth));
            }
            if (traits.QueryKeyNorms)
            {
                tensors.Add(Norm(block + "attn_q_norm.weight", headWidth));
                tensors.Add(Norm(block + "attn_k_norm.weight", headWidth));
            }
            tensors.Add(Projection(block + "attn_output.weight", queryWidth, embd, matrixType));
            if (traits.PostNorms)
            {
                tensors.Add(Norm(block + "post_attention_norm.weight", embd));
            }
            tensors.Add(Norm(block + "ffn_norm.weight", embd));
            if (traits.FusedGateUp)
            {
                tensors.Add(Projection(block + "ffn_down.weight", ffn, embd, matrixType));
                tensors.Add(Projection(block + "ffn_up.weight", embd, 2 * ffn, matrixType)); // gate rows, then up rows
            }
            else
            {
                tensors.Add(Projection(block + "ffn_gate.weight", embd, ffn, matrixType));
                tensors.Add(Projection(block + "ffn_down.weight", ffn, embd, matrixType));
                tensors.Add(Projection(block + "ffn_up.weight", embd, ffn, matrixType));
            }
            if (traits.PostNorms)
            {
                tensors.Add(Norm(block + "post_ffw_norm.weight", embd));
            }
        }
        tensors.Add(Norm("output_norm.weight", embd));
        if (!traits.TiedEmbeddings)
        {
            tensors.Add(new SyntheticTensor("output.weight", [embd, vocab], matrixType, 0f, outputStd));
        }
        return tensors.ConvertAll(tensor => KQuantTensorTypes.Adjust(tensor, matrixType, traits.TiedEmbeddings));
    }

    private static SyntheticTensor Norm(string name, long length) =>
        new(name, [length], GgmlType.F32, 1f, NormStd);

    private static SyntheticTensor Bias(string name, long length) =>
        new(name, [length], GgmlType.F32, 0f, BiasStd);

    /// <summary>A [fanIn, outputs] matrix: <paramref name="outputs"/> rows of <paramref name="fanIn"/> values.</summary>
    private static SyntheticTensor Projection(string name, long fanIn, long outputs, GgmlType type) =>
        new(name, [fanIn, outputs], type, 0f, 1f / MathF.Sqrt(fanIn));
}
