using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;

namespace LlamaDist.PowerShell.Completion;

/// <summary>
/// -Split: the modes (Auto, Even, Memory). The parameter also takes layer counts per node ("6,5"), which are not a
/// closed set, so it cannot be a ValidateSet; the modes are completed and the counts typed.
/// </summary>
public sealed class SplitModeCompleter : IArgumentCompleter
{
    private static readonly (string Value, string ToolTip)[] Modes =
    [
        ("Auto", "Auto: layers by each node's measured speed, within its free memory (the default)"),
        ("Even", "Even: the same number of layers per node"),
        ("Memory", "Memory: layers in proportion to each node's free memory"),
        ("Tensor", "Tensor: every worker a slice of every layer, all computing each token at once"),
        ("Hybrid", "Hybrid: tensor-parallel groups (-TensorGroupSize) as the stages of a layer split"),
    ];

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        CompletionText.Matching(wordToComplete, Modes);
}
