using System.Numerics.Tensors;

namespace LlamaDist.Core.Numerics;

/// <summary>
/// Element-wise and reduction helpers of the llama forward pass, computed the way ggml's CPU ops compute them
/// (where ggml accumulates in double, so do we) so intermediate values stay close to llama.cpp's.
/// </summary>
public static class VectorMath
{
    /// <summary>
    /// dst[i] = (x[i] * scale) * weight[i] with scale = 1 / sqrtf(mean(x^2) + eps): ggml_rms_norm (squares taken in
    /// float, summed in double, mean rounded to float) followed by ggml_mul with the norm weight.
    /// <paramref name="destination"/> may be <paramref name="x"/> itself.
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> destination)
    {
        RequireSameLength(x.Length, weight.Length, nameof(weight));
        RequireSameLength(x.Length, destination.Length, nameof(destination));
        float scale = RmsScale(x, eps);
        for (int i = 0; i < x.Length; i++)
        {
            destination[i] = x[i] * scale * weight[i];
        }
    }

    /// <summary>RMS normalization without a weight: dst[i] = x[i] * (1 / sqrtf(mean(x^2) + eps)).</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, float eps, Span<float> destination)
    {
        RequireSameLength(x.Length, destination.Length, nameof(destination));
        float scale = RmsScale(x, eps);
        for (int i = 0; i < x.Length; i++)
        {
            destination[i] = x[i] * scale;
        }
    }

    /// <summary>
    /// In-place softmax like ggml_soft_max: subtract the maximum, exponentiate (vectorized, within an ulp or so
    /// of expf, as ggml's own SIMD exp is), sum in double, multiply by (float)(1 / sum). Masked entries of
    /// -infinity become 0; an empty span is left alone.
    /// </summary>
    public static void Softmax(Span<float> values)
    {
        if (values.IsEmpty)
        {
            return;
        }
        float max = TensorPrimitives.Max(values);
        TensorPrimitives.Subtract(values, max, values);
        TensorPrimitives.Exp(values, values);
        double sum = 0.0;
        foreach (float value in values)
        {
            sum += value;
        }
        TensorPrimitives.Multiply(values, (float)(1.0 / sum), values);
    }

    /// <summary>SiLU of one value as ggml_silu_f32 writes it: x / (1 + expf(-x)).</summary>
    public static float Silu(float x) => x / (1f + MathF.Exp(-x));

    /// <summary>In-place SiLU.</summary>
    public static void Silu(Span<float> values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = Silu(values[i]);
        }
    }

    /// <summary>The llama FFN gate: gate[i] = silu(gate[i]) * up[i] (ggml_swiglu / silu then mul).</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        RequireSameLength(gate.Length, up.Length, nameof(up));
        for (int i = 0; i < gate.Length; i++)
        {
            gate[i] = Silu(gate[i]) * up[i];
        }
    }

    /// <summary>
    /// GeGLU, as ggml computes it: gate[i] = gelu(gate[i]) * up[i], where gelu is the tanh approximation looked up
    /// in ggml's table of half-precision results for the input rounded to half (inputs at or below -10 give 0, at
    /// or above 10 themselves).
    /// </summary>
    public static void GeGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        RequireSameLength(gate.Length, up.Length, nameof(up));
        float[] table = GeluTable.Value;
        for (int i = 0; i < gate.Length; i++)
        {
            float x = gate[i];
            float gelu = x <= -10f ? 0f : x >= 10f ? x : table[Quantization.F16Format.FromSingle(x)];
            gate[i] = gelu * up[i];
        }
    }

    /// <summary>values[i] = cap * tanh(values[i] / cap), as ggml's scale, tanh, scale sequence computes it.</summary>
    public static void SoftCap(Span<float> values, float cap)
    {
        float inverse = 1f / cap;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = MathF.Tanh(values[i] * inverse) * cap;
        }
    }

    /// <summary>gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))), in float as ggml_gelu_f32.</summary>
    public static float Gelu(float x) => 0.5f * x * (1.0f + MathF.Tanh(0.79788456080286535587989211986876f * x * (1.0f + 0.044715f * x * x)));

    // ggml_table_gelu_f16: the half-precision gelu of every half value, widened back to float.
    private static readonly Lazy<float[]> GeluTable = new(() =>
    {
        var table = new float[65536];
        for (int bits = 0; bits < table.Length; bits++)
        {
            float x = Quantization.F16Format.ToSingle((ushort)bits);
            table[bits] = Quantization.F16Format.ToSingle(Quantization.F16Format.FromSingle(Gelu(x)));
        }
        return table;
    });

    /// <summary>dst[i] += src[i] (residual connections).</summary>
    public static void Add(Span<float> destination, ReadOnlySpan<float> source)
    {
        RequireSameLength(destination.Length, source.Length, nameof(source));
        TensorPrimitives.Add(destination, source, destination);
    }

    /// <summary>Float dot product (vectorized; summation order differs from a plain loop in the last bits).</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        RequireSameLength(a.Length, b.Length, nameof(b));
        return TensorPrimitives.Dot(a, b);
    }

    /// <summary>values[i] *= factor.</summary>
    public static void Scale(Span<float> values, float factor) => TensorPrimitives.Multiply(values, factor, values);

    /// <summary>
    /// Index of the first maximum, compared with '&gt;' like llama.cpp's greedy sampler (NaN never wins unless it
    /// is element 0). Throws <see cref="ArgumentException"/> for an empty span.
    /// </summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
        {
            throw new ArgumentException("ArgMax of an empty span is undefined.", nameof(values));
        }
        int best = 0;
        float bestValue = values[0];
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > bestValue)
            {
                bestValue = values[i];
                best = i;
            }
        }
        return best;
    }

    private static float RmsScale(ReadOnlySpan<float> x, float eps)
    {
        if (x.IsEmpty)
        {
            throw new ArgumentException("RMS norm of an empty vector is undefined.", nameof(x));
        }
        double sum = 0.0;
        foreach (float value in x)
        {
            sum += value * value; // square in float, accumulate in double (ggml_float)
        }
        float mean = (float)(sum / x.Length);
        return 1f / MathF.Sqrt(mean + eps);
    }

    private static void RequireSameLength(int expected, int actual, string parameterName)
    {
        if (expected != actual)
        {
            throw new ArgumentException($"Length {actual} does not match the expected length {expected}.", parameterName);
        }
    }
}
