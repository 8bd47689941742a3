namespace LlamaDist.Core.Backends;

/// <summary>
/// The state of one sequence on one layer range of one backend: its KV cache and activation buffers, allocated
/// once when the session is created (on the backend's device), and the position the next token gets.
/// Created by <see cref="IRangeForward.CreateSession"/> and only usable with the forward pass that created it.
/// </summary>
public interface IForwardSession : IDisposable
{
    /// <summary>Positions the KV cache holds; evaluating past it throws.</summary>
    int ContextSize { get; }

    /// <summary>Tokens evaluated per pass (inputs longer than this are cut into passes with identical results).</summary>
    int MicroBatch { get; }

    /// <summary>Tokens evaluated so far; the next token is evaluated at this position.</summary>
    int Position { get; }

    /// <summary>Positions still free in the cache.</summary>
    int RemainingCapacity { get; }

    /// <summary>Bytes held by the KV cache (keys and values, all layers of the range).</summary>
    long KvCacheBytes { get; }

    /// <summary>True after <see cref="IDisposable.Dispose"/>.</summary>
    bool IsDisposed { get; }

    /// <summary>Forgets every evaluated token: the next evaluation starts at position 0. Buffers are kept.</summary>
    void Reset();
}
