using System.Text;

namespace LlamaDist.Engine.Generation;

/// <summary>
/// Watches generated text for stop strings, which may arrive split across tokens. Text is released only once it
/// cannot be the start of a stop string, so streamed output never shows part of one; on a match the text ends just
/// before it (the llama-server behaviour). Matching is ordinal on UTF-16 text; the earliest match wins.
/// </summary>
internal sealed class StopStringMatcher
{
    private readonly string[] stops;
    private readonly StringBuilder pending = new();

    public StopStringMatcher(IReadOnlyList<string> stops)
    {
        this.stops = stops.Where(stop => stop.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>The stop string that ended the text, or null while none has.</summary>
    public string? Matched { get; private set; }

    /// <summary>Adds generated text; returns what may now be shown. After a match the rest is discarded.</summary>
    public string Push(string text)
    {
        if (Matched is not null)
        {
            return "";
        }
        if (stops.Length == 0)
        {
            return text;
        }

        pending.Append(text);
        string window = pending.ToString();

        // The earliest complete stop string ends the text.
        int matchAt = -1;
        foreach (string stop in stops)
        {
            int at = window.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (matchAt < 0 || at < matchAt))
            {
                matchAt = at;
                Matched = stop;
            }
        }
        if (matchAt >= 0)
        {
            pending.Clear();
            return window[..matchAt];
        }

        // Hold back the longest tail that some stop string starts with.
        int held = 0;
        foreach (string stop in stops)
        {
            for (int length = Math.Min(stop.Length - 1, window.Length); length > held; length--)
            {
                if (window.AsSpan(window.Length - length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    held = length;
                    break;
                }
            }
        }

        pending.Remove(0, window.Length - held);
        return window[..^held];
    }

    /// <summary>At the end of generation: the held-back text that turned out not to be a stop string.</summary>
    public string Flush()
    {
        string rest = Matched is null ? pending.ToString() : "";
        pending.Clear();
        return rest;
    }
}
