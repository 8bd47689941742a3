using LlamaDist.Core.Model;
using LlamaDist.Core.Tokenization;

namespace LlamaDist.Engine.Generation;

/// <summary>
/// What the generation loop needs from a model, wherever its layers run: this process (<see cref="Models.LocalModel"/>)
/// or a ring of workers (<see cref="Cluster.ClusterModel"/>). Tokenizing and sampling stay with the caller.
/// </summary>
internal interface IGenerationModel
{
    LlamaConfig Config { get; }

    ITokenizer Tokenizer { get; }

    int Threads { get; }

    double LoadMs { get; }

    /// <summary>A fresh sequence (empty KV cache) of <paramref name="contextSize"/> tokens, steps of up to <paramref name="batchSize"/>.</summary>
    IGenerationSequence Open(int contextSize, int batchSize);
}

/// <summary>One sequence being evaluated: its KV cache wherever the layers are.</summary>
internal interface IGenerationSequence : IDisposable
{
    /// <summary>Tokens evaluated so far.</summary>
    int Position { get; }

    /// <summary>Evaluates tokens and writes the last position's logits ([n_vocab]).</summary>
    void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits);

    /// <summary>Evaluates tokens and returns the argmax of the last position's logits (all greedy decoding needs).</summary>
    int EvaluateGreedy(ReadOnlySpan<int> tokens);

    /// <summary>Per-node figures so far; empty when everything ran in this process.</summary>
    IReadOnlyList<StageStatistics> Stages { get; }
}
