namespace LlamaDist.Core.Backends;

/// <summary>
/// A layer range (its weights, or a session's KV cache and buffers) does not fit in the device's free memory; thrown
/// before anything is allocated, so nothing already on the device is lost.
/// </summary>
public sealed class DeviceMemoryException : Exception
{
    public DeviceMemoryException(string device, long requiredBytes, long freeBytes, string what)
        : base($"{what} needs {requiredBytes / (1024.0 * 1024.0):F1} MiB but {device} has {freeBytes / (1024.0 * 1024.0):F1} MiB free.")
    {
        RequiredBytes = requiredBytes;
        FreeBytes = freeBytes;
    }

    public long RequiredBytes { get; }

    public long FreeBytes { get; }
}
