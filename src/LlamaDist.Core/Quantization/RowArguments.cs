namespace LlamaDist.Core.Quantization;

/// <summary>Argument checks shared by the per-format row functions, so every format rejects bad lengths alike.</summary>
internal static class RowArguments
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
}
