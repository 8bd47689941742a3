using System.Collections;
using System.Management.Automation;
using LlamaDist.PowerShell.Output;

namespace LlamaDist.PowerShell.Commands;

/// <summary>
/// Reads -Conversation: an Invoke-LlamaChat result, anything with a Messages property (a result read back with
/// Import-Clixml or ConvertFrom-Json), or the messages themselves (objects or hashtables with Role and Content).
/// </summary>
internal static class ChatConversationInput
{
    public static List<LlamaChatMessage> Read(object? conversation)
    {
        var value = Unwrap(conversation);
        if (value is null)
        {
            return [];
        }
        if (value is LlamaChatResult result)
        {
            return [.. result.Messages];
        }
        if (value is not IEnumerable || value is string or IDictionary)
        {
            var messages = Property(value, "Messages");
            if (messages is not null)
            {
                return Read(messages);
            }
        }

        IEnumerable items = value is IEnumerable enumerable && value is not string and not IDictionary ? enumerable : new[] { value };
        var list = new List<LlamaChatMessage>();
        foreach (var item in items)
        {
            var message = Unwrap(item);
            if (message is LlamaChatMessage typed)
            {
                list.Add(typed);
                continue;
            }
            var role = Property(message, "Role") as string ?? Property(message, "Role")?.ToString();
            var content = Property(message, "Content") as string ?? Property(message, "Content")?.ToString();
            if (string.IsNullOrEmpty(role) || content is null)
            {
                throw new ArgumentException(
                    $"Conversation message {list.Count} has no Role and Content; pass an Invoke-LlamaChat result or messages like @{{ Role = 'user'; Content = 'Hi' }}.");
            }
            list.Add(new LlamaChatMessage { Role = role, Content = content });
        }
        return list;
    }

    // Scripts' own objects ([pscustomobject], ConvertFrom-Json) stay wrapped so their properties can be read.
    private static object? Unwrap(object? value) =>
        value is PSObject wrapped && wrapped.BaseObject is not PSCustomObject ? Unwrap(wrapped.BaseObject) : value;

    private static object? Property(object? value, string name) => value switch
    {
        null => null,
        IDictionary dictionary => dictionary.Contains(name) ? dictionary[name] : FindKey(dictionary, name),
        PSObject psObject => psObject.Properties[name]?.Value,
        _ => PSObject.AsPSObject(value).Properties[name]?.Value,
    };

    private static object? FindKey(IDictionary dictionary, string name)
    {
        foreach (DictionaryEntry entry in dictionary)
        {
            if (string.Equals(entry.Key as string, name, StringComparison.OrdinalIgnoreCase))
            {
                return entry.Value;
            }
        }
        return null;
    }
}
