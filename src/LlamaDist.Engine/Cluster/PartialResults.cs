using LlamaDist.Core.Tokenization;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Cluster;

/// <summary>
/// Turns a prompt that lost its ring for good into an error that names the failed node (the target) and carries
/// what was generated so far: the tokens evaluated after the prompt (the last decode step's token included, it
/// was generated before its step failed) and their text, plus the failovers made before.
/// </summary>
internal static class PartialResults
{
    public static LlamaDistException Describe(ClusterModel cluster, GenerationRequest request, FailoverExhaustedException exhausted)
    {
        var prompt = request.PromptTokenIds?.ToArray() ?? cluster.Tokenizer.Encode(request.Prompt, addSpecial: true);
        var generated = exhausted.EvaluatedTokens.Length > prompt.Length ? exhausted.EvaluatedTokens[prompt.Length..] : [];
        var decoder = new Utf8StreamDecoder();
        var text = new System.Text.StringBuilder();
        foreach (var token in generated)
        {
            text.Append(decoder.Push(cluster.Tokenizer.TokenToBytes(token)));
        }
        text.Append(decoder.Flush());
        var partial = new GenerationResult
        {
            Text = text.ToString(), PromptTokenIds = prompt, TokenIds = generated, StopReason = StopReason.NodeFailed, Seed = request.Seed ?? 0,
            Threads = cluster.Threads, ContextSize = request.ContextSize, LoadMs = cluster.LoadMs, PromptEvalMs = 0, EvalRuns = Math.Max(0, generated.Length - 1),
            EvalMs = 0, SampleMs = 0, TotalMs = 0, Failovers = exhausted.Failovers,
        };
        return new LlamaDistException(LlamaErrorKind.WorkerUnreachable,
            $"{exhausted.Message} Generated so far: {generated.Length} tokens (on the error's PartialResult).", exhausted.Endpoint, exhausted)
        {
            PartialResult = partial,
        };
    }
}
