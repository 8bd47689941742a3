using LlamaDist.Core.Gguf;
namespace LlamaDist.Core.TestModels;

/// <summary>
/// One tensor of a synthetic llama model: llama.cpp name, shape (ne0 first: ne0 = row length = fan-in), storage
/// type and the distribution its values are drawn from.
/// </summary>
internal sealed record SyntheticTensor(string Name, long[] Dimensions, GgmlType Type, float Mean, float Std)
{
    public int Columns => (int)Dimensions[0];

    public long Rows => Dimensions.Length == 1 ? 1 : Dimensions[1];

    public long ByteSize => GgmlTypeInfo.RowBytes(Type, Columns) * Rows;
}

/// <summary>
/// The tensor list of a llama model in llama.cpp naming, with scales chosen so a forward pass stays well
/// conditioned: projections have std 1/sqrt(fan-in) (activations stay O(1) through the residual stream), token
/// embeddings std 1 (the first RMSNorm sees unit-scale input), norm weights 1 ± 0.05, and the output head
/// std 3/sqrt(embedding) so logits spread with a standard deviation near 3 and greedy argmax has clear margins.
/// </summary>
internal static class TestModelTensorPlan
{
    private const float NormStd = 0.05f;
    private const float OutputLogitStd = 3.0f;

    public static List<SyntheticTensor> Build(TestModelShape shape, GgmlType matrixType)
    {
        long embd = shape.EmbeddingLength;
        long ffn = shape.FeedForwardLength;
        long vocab = shape.VocabularySize;
        long kvWidth = shape.KvWidth;
        var tensors = new List<SyntheticTensor>
        {
            new("token_embd.weight", [embd, vocab], matrixType, 0f, 1f),
        };
        for (int layer = 0; layer < shape.LayerCount; layer++)
        {
            string block = $"blk.{layer}.";
            tensors.Add(Norm(block + "attn_norm.weight", embd));
            tensors.Add(Projection(block + "attn_q.weight", embd, embd, matrixType));
            tensors.Add(Projection(block + "attn_k.weight", embd, kvWidth, matrixType));
            tensors.Add(Projection(block + "attn_v.weight", embd, kvWidth, matrixType));
            tensors.Add(Projection(block + "attn_output.weight", embd, embd, matrixType));
            tensors.Add(Norm(block + "ffn_norm.weight", embd));
            tensors.Add(Projection(block + "ffn_gate.weight", embd, ffn, matrixType));
            tensors.Add(Projection(block + "ffn_down.weight", ffn, embd, matrixType));
            tensors.Add(Projection(block + "ffn_up.weight", embd, ffn, matrixType));
        }
        tensors.Add(Norm("output_norm.weight", embd));
        tensors.Add(new SyntheticTensor("output.weight", [embd, vocab], matrixType, 0f,
            OutputLogitStd / MathF.Sqrt(embd)));
        return tensors.ConvertAll(tensor => KQuantTensorTypes.Adjust(tensor, matrixType));
    }

    private static SyntheticTensor Norm(string name, long length) =>
        new(name, [length], GgmlType.F32, 1f, NormStd);

    /// <summary>A [fanIn, outputs] matrix: <paramref name="outputs"/> rows of <paramref name="fanIn"/> values.</summary>
    private static SyntheticTensor Projection(string name, long fanIn, long outputs, GgmlType type) =>
        new(name, [fanIn, outputs], type, 0f, 1f / MathF.Sqrt(fanIn));
}
