namespace LlamaDist.Core.Backends;

/// <summary>
/// What a backend computes on, as workers report it and the planner reads it: the kind, the device's name
/// ("NVIDIA H200", "AMD EPYC 7763 (16 threads)") and its memory in bytes (total and free now; for the CPU backend
/// the machine's memory available to this process).
/// </summary>
public sealed record ComputeDeviceInfo(ComputeBackendKind Kind, string Name, long TotalMemoryBytes, long FreeMemoryBytes);
