using System.Text;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Worker.State;

/// <summary>
/// Checks on what a caller sends, made before the value is used, and the one way a caller's string appears in a
/// message: <see cref="Quote"/>, shortened and escaped, so no error echoes more than a few dozen characters of
/// input (a 1 MiB hash would otherwise travel back in the status trailer). Every check throws the
/// InvalidArgument of <see cref="WorkerErrors.Invalid"/>.
/// </summary>
internal static class WorkerInput
{
    /// <summary>Characters of a caller's string an error message repeats; the rest is counted, not echoed.</summary>
    public const int EchoedCharacters = 72;

    /// <summary>A range hash: SHA-256 in hex.</summary>
    public const int RangeHashLength = 64;

    public const int MaxSessionIdLength = 128;

    /// <summary>
    /// <paramref name="value"/> in single quotes, control characters escaped (\n, \u0000), cut after
    /// <see cref="EchoedCharacters"/> characters with the full length said: 'aaaa…' (1,048,576 characters).
    /// </summary>
    public static string Quote(string? value)
    {
        if (value is null)
        {
            return "(none)";
        }
        var text = new StringBuilder(EchoedCharacters + 32).Append('\'');
        int shown = Math.Min(value.Length, EchoedCharacters);
        if (shown < value.Length && char.IsHighSurrogate(value[shown - 1]))
        {
            shown--;  // never split a surrogate pair: half a pair is not valid UTF-16 on the wire
        }
        for (int index = 0; index < shown; index++)
        {
            char character = value[index];
            switch (character)
            {
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                case '\'': text.Append("\\'"); break;
                case '\\': text.Append("\\\\"); break;
                default:
                    if (char.IsControl(character) || (char.IsSurrogate(character) && !IsPaired(value, index, shown)))
                    {
                        text.Append("\\u").Append(((int)character).ToString("x4"));
                    }
                    else
                    {
                        text.Append(character);
                    }
                    break;
            }
        }
        text.Append('\'');
        if (shown < value.Length)
        {
            text.Insert(text.Length - 1, '…').Append($" ({value.Length:N0} characters)");
        }
        return text.ToString();
    }

    /// <summary>A range hash as the protocol carries it: 64 hex digits (SHA-256). Returns it for chaining.</summary>
    public static string RangeHash(string? value, string field = "range_hash")
    {
        if (value is null || value.Length != RangeHashLength || !value.All(char.IsAsciiHexDigit))
        {
            throw WorkerErrors.Invalid($"{field} {Quote(value)} is not a SHA-256 in hex ({RangeHashLength} hex digits).");
        }
        return value;
    }

    /// <summary>A session id: 1 to 128 characters, none of them control characters.</summary>
    public static string SessionId(string? value, string field = "session_id")
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxSessionIdLength || value.Any(char.IsControl))
        {
            throw WorkerErrors.Invalid($"{field} {Quote(value)} must be 1 to {MaxSessionIdLength} printable characters.");
        }
        return value;
    }

    /// <summary>A count or size no larger than <paramref name="maximum"/> (and so safe to narrow to long).</summary>
    public static long AtMost(ulong value, long maximum, string field)
    {
        if (value > (ulong)maximum)
        {
            throw WorkerErrors.Invalid($"{field} {value:N0} is more than this worker accepts ({maximum:N0}).");
        }
        return (long)value;
    }

    /// <summary>An activation encoding this worker writes (unspecified: the caller leaves the choice to the worker).</summary>
    public static ActivationEncoding Encoding(ActivationEncoding value, string field)
    {
        if (value is not (ActivationEncoding.Unspecified or ActivationEncoding.F32 or ActivationEncoding.F16 or ActivationEncoding.Q80))
        {
            throw WorkerErrors.Invalid($"{field} {(int)value} is not an activation encoding this worker writes (F32, F16 or Q8_0).");
        }
        return value;
    }

    /// <summary>A string field no longer than <paramref name="maximum"/> characters.</summary>
    public static string Length(string? value, int maximum, string field)
    {
        if (value is not null && value.Length > maximum)
        {
            throw WorkerErrors.Invalid($"{field} {Quote(value)} is longer than {maximum} characters.");
        }
        return value ?? "";
    }

    private static bool IsPaired(string value, int index, int shown)
    {
        // A lone surrogate (from a hostile peer's invalid UTF-16) is escaped; a proper pair is kept.
        return char.IsHighSurrogate(value[index])
            ? index + 1 < shown && char.IsLowSurrogate(value[index + 1])
            : index > 0 && char.IsHighSurrogate(value[index - 1]);
    }
}
