namespace LlamaDist.Core.Gguf;

/// <summary>
/// Converts boxed metadata values to the CLR type a caller asks for. Integer widths convert with range checks
/// (via Int128, which holds every GGUF integer exactly); floating types accept any numeric value.
/// </summary>
internal static class GgufValueConversion
{
    public static bool TryConvert<T>(object raw, out T value, out string? problem)
    {
        if (raw is T exact)
        {
            value = exact;
            problem = null;
            return true;
        }
        value = default!;
        Type target = typeof(T);
        if (TryAsInteger(raw, out Int128 integer))
        {
            if (TryNarrowInteger(integer, target, out object? narrowed))
            {
                value = (T)narrowed;
                problem = null;
                return true;
            }
            if (target == typeof(float) || target == typeof(double))
            {
                value = (T)(target == typeof(float) ? (float)integer : (object)(double)integer);
                problem = null;
                return true;
            }
            problem = IsIntegerType(target)
                ? $"value {integer} does not fit in {target.Name}."
                : $"holds an integer ({raw.GetType().Name}), not {target.Name}.";
            return false;
        }
        if (raw is float single && target == typeof(double))
        {
            value = (T)(object)(double)single;
            problem = null;
            return true;
        }
        if (raw is double wide && target == typeof(float))
        {
            value = (T)(object)(float)wide;
            problem = null;
            return true;
        }
        problem = $"holds {Describe(raw)}, not {target.Name}.";
        return false;
    }

    public static bool TryConvertArray<T>(GgufArray array, out T[] values, out string? problem)
    {
        if (array.Values is T[] exact)
        {
            values = (T[])exact.Clone();
            problem = null;
            return true;
        }
        values = new T[array.Count];
        for (int i = 0; i < values.Length; i++)
        {
            if (!TryConvert(array.Values.GetValue(i)!, out values[i], out problem))
            {
                values = [];
                problem = $"element {i} {problem}";
                return false;
            }
        }
        problem = null;
        return true;
    }

    private static string Describe(object raw) => raw is GgufArray array ? $"an array ({array})" : $"a {raw.GetType().Name}";

    private static bool IsIntegerType(Type type) =>
        type == typeof(byte) || type == typeof(sbyte) || type == typeof(ushort) || type == typeof(short) ||
        type == typeof(uint) || type == typeof(int) || type == typeof(ulong) || type == typeof(long);

    private static bool TryAsInteger(object raw, out Int128 integer)
    {
        switch (raw)
        {
            case byte v: integer = v; return true;
            case sbyte v: integer = v; return true;
            case ushort v: integer = v; return true;
            case short v: integer = v; return true;
            case uint v: integer = v; return true;
            case int v: integer = v; return true;
            case ulong v: integer = v; return true;
            case long v: integer = v; return true;
            default: integer = 0; return false;
        }
    }

    private static bool TryNarrowInteger(Int128 integer, Type target, out object narrowed)
    {
        narrowed = 0;
        if (target == typeof(int) && InRange(integer, int.MinValue, int.MaxValue)) narrowed = (int)integer;
        else if (target == typeof(long) && InRange(integer, long.MinValue, long.MaxValue)) narrowed = (long)integer;
        else if (target == typeof(uint) && InRange(integer, uint.MinValue, uint.MaxValue)) narrowed = (uint)integer;
        else if (target == typeof(ulong) && InRange(integer, ulong.MinValue, ulong.MaxValue)) narrowed = (ulong)integer;
        else if (target == typeof(short) && InRange(integer, short.MinValue, short.MaxValue)) narrowed = (short)integer;
        else if (target == typeof(ushort) && InRange(integer, ushort.MinValue, ushort.MaxValue)) narrowed = (ushort)integer;
        else if (target == typeof(byte) && InRange(integer, byte.MinValue, byte.MaxValue)) narrowed = (byte)integer;
        else if (target == typeof(sbyte) && InRange(integer, sbyte.MinValue, sbyte.MaxValue)) narrowed = (sbyte)integer;
        else return false;
        return true;
    }

    private static bool InRange(Int128 value, Int128 minimum, Int128 maximum) => value >= minimum && value <= maximum;
}
