using LlamaDist.Core.Model;
using LlamaDist.Core.Tokenization;
using LlamaDist.Engine.Generation;

namespace LlamaDist.Engine.Tests.Generation;

/// <summary>
/// A model that "predicts" a fixed script of tokens, one per step, over a small SentencePiece vocabulary: lets tests
/// decide exactly which pieces the generation loop sees (a stop string split across two tokens, an end-of-turn token).
/// </summary>
internal sealed class ScriptedGenerationModel : IGenerationModel
{
    // id: 0 <unk>, 1 <s>, 2 </s>, 3 <|im_end|>, 4 ▁He, 5 llo, 6 ▁St, 7 OP, 8 ▁world, 9 <|eot_id|>
    public static readonly string[] Tokens = ["<unk>", "<s>", "</s>", "<|im_end|>", "▁He", "llo", "▁St", "OP", "▁world", "<|eot_id|>"];
    public const int He = 4, Llo = 5, St = 6, Op = 7, World = 8, ImEnd = 3, EotId = 9;

    private readonly int[] script;

    public ScriptedGenerationModel(int[] script, SentencePieceOptions? options = null)
    {
        this.script = script;
        Tokenizer = new SentencePieceTokenizer(Tokens, null, [2, 3, 3, 1, 1, 1, 1, 1, 1, 1], options);
        Config = new LlamaConfig(embeddingLength: 8, layerCount: 1, feedForwardLength: 8, headCount: 1, kvHeadCount: 1,
            rmsEpsilon: 1e-5f, contextLength: 64, vocabularySize: Tokens.Length);
    }

    public LlamaConfig Config { get; }
    public ITokenizer Tokenizer { get; }
    public int Threads => 1;
    public double LoadMs => 0;

    public IGenerationSequence Open(int contextSize, int batchSize) => new Sequence(script);

    private sealed class Sequence(int[] script) : IGenerationSequence
    {
        private int step;

        public int Position { get; private set; }
        public IReadOnlyList<StageStatistics> Stages => [];

        public void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits)
        {
            logits.Clear();
            logits[EvaluateGreedy(tokens)] = 10f;
        }

        // The prompt pass yields the script's first token, every later single-token step the next one.
        public int EvaluateGreedy(ReadOnlySpan<int> tokens)
        {
            Position += tokens.Length;
            return script[Math.Min(step++, script.Length - 1)];
        }

        public void Dispose()
        {
        }
    }
}
