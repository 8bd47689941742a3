namespace LlamaDist.Core.Model.Tensor;

/// <summary>
/// The all-reduce of a tensor-parallel block: every shard calls <see cref="Sum"/> with its partial attn_out (then
/// ffn_out) [tokens, n_embd], the same number of times in the same order, and gets back in place the sum of all
/// shards' partials, the same values on every shard (so their residual streams stay identical). Two calls per
/// layer.
/// </summary>
public interface ITensorReduction
{
    /// <param name="partial">This shard's partial product [tokens, n_embd]; on return the sum over all shards.</param>
    /// <param name="tokens">Rows of <paramref name="partial"/>.</param>
    void Sum(Span<float> partial, int tokens);
}
