using LlamaDist.Core.Backends;
using LlamaDist.Core.Numerics;

namespace LlamaDist.Tests.Shared;

/// <summary>
/// The two runs that compare one backend's forward pass with another's, shared by the GPU tests and the device
/// check (compiled into the device check, which the GPU tests reference): greedy tokens after a prompt, and the logits of every prompt position. Sessions of 64 positions,
/// batches of 16 (prompts stay shorter than both).
/// </summary>
internal static class ForwardRuns
{
    /// <summary>The prompt, then <paramref name="count"/> greedy tokens, each fed back as the next step.</summary>
    public static int[] Greedy(IRangeForward forward, int[] prompt, int count)
    {
        using var session = forward.CreateSession(64, 16);
        var logits = new float[forward.Config.VocabularySize];
        var tokens = new int[count];
        int[] input = prompt;
        for (int i = 0; i < count; i++)
        {
            forward.EvaluateTokens(session, input, logits, logitsForAllTokens: false);
            tokens[i] = VectorMath.ArgMax(logits);
            input = [tokens[i]];
        }
        return tokens;
    }

    /// <summary>Logits of every position of <paramref name="prompt"/>: [prompt.Length x vocabulary].</summary>
    public static float[] AllLogits(IRangeForward forward, int[] prompt)
    {
        using var session = forward.CreateSession(64, 16);
        var logits = new float[prompt.Length * forward.Config.VocabularySize];
        forward.EvaluateTokens(session, prompt, logits, logitsForAllTokens: true);
        return logits;
    }
}
