namespace LlamaDist.Engine.Chat;

/// <summary>One message of a conversation: "system", "user", "assistant" (or another role the template knows) and its text.</summary>
public sealed record ChatTurn(string Role, string Content);
