namespace LlamaDist.Core.Backends;

/// <summary>
/// The backend asked for cannot run here; the message names what is missing (no CUDA driver or device, no
/// OpenCL platform, a device that cannot compile the kernels).
/// </summary>
public sealed class BackendUnavailableException : Exception
{
    public BackendUnavailableException(ComputeBackendKind kind, string message, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
    }

    public ComputeBackendKind Kind { get; }
}
