using System.Globalization;
using LlamaDist.Engine.Tests.LlamaCpp;
using LlamaDist.LlamaCppRunner;

// llama.cpp baseline for the benchmarks. stdout carries only JSON lines, one per run per test:
//   {"test":"pp128","tokens":128,"ms":12.345,"tps":10368.4}
//   {"test":"tg32","tokens":32,"ms":...,"tps":...}
// Errors go to stderr with exit code 2 (usage) or 1 (failure).
const string Usage =
    "usage: LlamaDist.LlamaCppRunner bench --model <gguf> [--threads N] [--prompt-tokens 128] [--gen-tokens 32] [--repetitions 5]";

if (args.Length == 0 || args[0] != "bench")
{
    Console.Error.WriteLine(Usage);
    return 2;
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args.AsSpan(1));
}
catch (ArgumentException error)
{
    Console.Error.WriteLine(error.Message);
    Console.Error.WriteLine(Usage);
    return 2;
}

try
{
    var contextSize = Math.Max(64, options.PromptTokens + options.GenerateTokens);
    using var oracle = LlamaCppOracle.Load(options.ModelPath, contextSize, options.Threads);
    var prompt = BuildPrompt(oracle, options.PromptTokens);

    oracle.TimeRun(prompt, options.GenerateTokens); // warm-up: first-touch of weights and buffers
    for (var run = 0; run < options.Repetitions; run++)
    {
        var (promptMs, decodeMs) = oracle.TimeRun(prompt, options.GenerateTokens);
        WriteResult($"pp{options.PromptTokens}", options.PromptTokens, promptMs);
        WriteResult($"tg{options.GenerateTokens}", options.GenerateTokens, decodeMs);
    }

    return 0;
}
catch (Exception error) when (error is IOException or InvalidOperationException or ArgumentException
                                  or LLama.Exceptions.RuntimeError)
{
    Console.Error.WriteLine($"bench failed: {error.Message}");
    return 1;
}

// BOS followed by (count - 1) copies of "▁the", the same synthetic prompt on both sides of the comparison.
static int[] BuildPrompt(LlamaCppOracle oracle, int count)
{
    var the = oracle.Tokenize("the", addBos: false);
    if (the.Length != 1)
    {
        throw new InvalidOperationException($"\"the\" is {the.Length} tokens in this vocabulary; expected one.");
    }

    var prompt = new int[count];
    Array.Fill(prompt, the[0]);
    prompt[0] = oracle.BosId;
    return prompt;
}

static void WriteResult(string test, int tokens, double milliseconds)
{
    var tokensPerSecond = tokens * 1000.0 / milliseconds;
    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{{\"test\":\"{test}\",\"tokens\":{tokens},\"ms\":{milliseconds:0.###},\"tps\":{tokensPerSecond:0.##}}}"));
}
