namespace LlamaDist.PowerShell.Output;

/// <summary>One message of a conversation: system, user, assistant (or another role the template knows) and its text.</summary>
public sealed class LlamaChatMessage
{
    public string Role { get; init; } = "";
    public string Content { get; init; } = "";

    public override string ToString() => $"{Role}: {Content}";
}
