namespace LlamaDist.Core.Quantization;

/// <summary>Argument checks shared by the per-format row functions, so every format rejects bad lengths alike.</summary>
internal static unsafe class RowArguments
{
    /// <summary>Throws when <paramref name="elements"/> is not a whole number of <paramref name="blockSize"/> blocks.</summary>
    public static int BlockCount(int elements, int blockSize, string format, string parameterName)
    {
        if (elements < 0 || elements % blockSize != 0)
        {
            throw new ArgumentException(
                $"{format} rows hold a whole number of {blockSize}-element blocks; {elements} elements is not.",
                parameterName);
        }
        return elements / blockSize;
    }

    /// <summary>Throws when a byte buffer is shorter than the <paramref name="required"/> bytes a row needs.</summary>
    public static void RequireBytes(int available, long required, string format, string parameterName)
    {
        if (available < required)
        {
            throw new ArgumentException(
                $"{format} row needs {required} bytes but the buffer holds {available}.", parameterName);
        }
    }

    /// <summary>Throws when a float buffer is shorter than <paramref name="required"/> elements.</summary>
    public static void RequireElements(int available, int required, string parameterName)
    {
        if (available < required)
        {
            throw new ArgumentException(
                $"Buffer holds {available} elements but {required} are needed.", parameterName);
        }
    }

    /// <summary>
    /// The checked entry of every format's Dot: <paramref name="columns"/> must be whole weight blocks and both rows
    /// long enough (weight blocks of <paramref name="weightBlockBytes"/>, activation blocks of
    /// <paramref name="activationBlockBytes"/>, the same block count), then <paramref name="kernel"/> runs on them.
    /// </summary>
    public static float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int columns, int blockSize,
        string weightFormat, int weightBlockBytes, string activationFormat, int activationBlockBytes,
        delegate*<byte*, byte*, int, float> kernel)
    {
        int blocks = BlockCount(columns, blockSize, weightFormat, nameof(columns));
        RequireBytes(weights.Length, (long)blocks * weightBlockBytes, weightFormat, nameof(weights));
        RequireBytes(activations.Length, (long)blocks * activationBlockBytes, activationFormat, nameof(activations));
        fixed (byte* w = weights)
        fixed (byte* a = activations)
        {
            return kernel(w, a, columns);
        }
    }
}
