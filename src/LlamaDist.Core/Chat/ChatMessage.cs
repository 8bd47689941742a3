namespace LlamaDist.Core.Chat;

/// <summary>One turn of a conversation: a role ("system", "user", "assistant", or any other the template accepts) and its text.</summary>
public sealed record ChatMessage(string Role, string Content)
{
    public const string SystemRole = "system";
    public const string UserRole = "user";
    public const string AssistantRole = "assistant";
}
