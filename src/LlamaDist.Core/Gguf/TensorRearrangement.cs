namespace LlamaDist.Core.Gguf;

/// <summary>
/// Rewrites a tensor's bytes in place right after <see cref="GgufFile.ReadTensorsIntoMemory"/> read them, into a
/// layout its reader prefers (same size). Returns true when it rewrote them; false leaves the file's bytes as read.
/// </summary>
public unsafe delegate bool TensorRearrangement(GgufTensorInfo tensor, byte* data);
