using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using LlamaDist.Core.Quantization;

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
    /// In-place softmax as ggml_soft_max computes a row of attention scores: subtract the maximum, exponentiate in
    /// vectors of <see cref="VectorExponential.Level"/>'s width (ggml's vector exp, each vector's sum added to a
    /// double), multiply by (float)(1 / sum). The row is taken from a vector boundary and its last vector padded with
    /// masked entries, as llama.cpp's KV length is padded to a multiple of 32. Masked entries of -infinity become
    /// 0; an empty span is left alone.
    /// </summary>
    public static unsafe void Softmax(Span<float> values)
    {
        if (values.IsEmpty)
        {
            return;
        }
        float max = TensorPrimitives.Max(values);
        double sum = VectorExponential.Level switch
        {
            SimdLevel.Vector512 => ExponentiateRow(values, max, 16, &Exponentiate512),
            SimdLevel.Vector256 => ExponentiateRow(values, max, 8, &Exponentiate256),
            SimdLevel.Vector128 => ExponentiateRow(values, max, 4, &Exponentiate128),
            _ => ExponentiateRowScalar(values, max),
        };
        TensorPrimitives.Multiply(values, (float)(1.0 / sum), values);
    }

    /// <summary>
    /// values[i] = exp(values[i] - max) a vector of <paramref name="width"/> at a time, in place; a last partial
    /// vector goes through a copy padded with -infinity (whose exp is 0). Returns the sum of the vectors' sums, in double.
    /// </summary>
    private static unsafe double ExponentiateRow(Span<float> values, float max, int width, delegate*<Span<float>, float, float> exponentiate)
    {
        double sum = 0.0;
        int whole = values.Length / width * width;
        for (int i = 0; i < whole; i += width)
        {
            sum += exponentiate(values.Slice(i, width), max);
        }
        if (whole < values.Length)
        {
            Span<float> part = values[whole..];
            Span<float> chunk = stackalloc float[width];
            chunk.Fill(float.NegativeInfinity);
            part.CopyTo(chunk);
            sum += exponentiate(chunk, max);
            chunk[..part.Length].CopyTo(part);
        }
        return sum;
    }

    // One vector of a softmax row in place: exp(x - max), returning its sum in ggml's order.
    private static float Exponentiate512(Span<float> chunk, float max)
    {
        Vector512<float> exponentials = VectorExponential.Exp(Vector512.Create((ReadOnlySpan<float>)chunk) - Vector512.Create(max));
        exponentials.CopyTo(chunk);
        return VectorExponential.Sum(exponentials);
    }

    private static float Exponentiate256(Span<float> chunk, float max)
    {
        Vector256<float> exponentials = VectorExponential.Exp(Vector256.Create((ReadOnlySpan<float>)chunk) - Vector256.Create(max));
        exponentials.CopyTo(chunk);
        return VectorExponential.Sum(exponentials);
    }

    private static float Exponentiate128(Span<float> chunk, float max)
    {
        Vector128<float> exponentials = VectorExponential.Exp(Vector128.Create((ReadOnlySpan<float>)chunk) - Vector128.Create(max));
        exponentials.CopyTo(chunk);
        return VectorExponential.Sum(exponentials);
    }

    // ggml's scalar build: expf element by element, summed in double.
    private static double ExponentiateRowScalar(Span<float> values, float max)
    {
        double sum = 0.0;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = MathF.Exp(values[i] - max);
            sum += values[i];
        }
        return sum;
    }

    /// <summary>SiLU of one value as ggml_silu_f32 writes it: x / (1 + expf(-x)).</summary>
    public static float Silu(float x) => x / (1f + MathF.Exp(-x));

    /// <summary>
    /// In-place SiLU as ggml_vec_silu_f32 computes it: whole vectors of <see cref="VectorExponential.Level"/>'s width
    /// through ggml's vector exp (x / (1 + exp(0 - x))), the remainder through <see cref="Silu(float)"/>.
    /// </summary>
    public static void Silu(Span<float> values)
    {
        ref float x = ref MemoryMarshal.GetReference(values);
        int i = 0;
        switch (VectorExponential.Level)
        {
            case SimdLevel.Vector512:
                for (; i + 16 <= values.Length; i += 16)
                {
                    Vector512<float> v = Vector512.LoadUnsafe(ref x, (nuint)i);
                    (v / (Vector512.Create(1f) + VectorExponential.Exp(Vector512<float>.Zero - v))).StoreUnsafe(ref x, (nuint)i);
                }
                break;
            case SimdLevel.Vector256:
                for (; i + 8 <= values.Length; i += 8)
                {
                    Vector256<float> v = Vector256.LoadUnsafe(ref x, (nuint)i);
                    (v / (Vector256.Create(1f) + VectorExponential.Exp(Vector256<float>.Zero - v))).StoreUnsafe(ref x, (nuint)i);
                }
                break;
            case SimdLevel.Vector128:
                for (; i + 4 <= values.Length; i += 4)
                {
                    Vector128<float> v = Vector128.LoadUnsafe(ref x, (nuint)i);
                    (v / (Vector128.Create(1f) + VectorExponential.Exp(Vector128<float>.Zero - v))).StoreUnsafe(ref x, (nuint)i);
                }
                break;
        }
        for (; i < values.Length; i++)
        {
            values[i] = Silu(values[i]);
        }
    }

    /// <summary>The llama FFN gate: gate[i] = silu(gate[i]) * up[i], the SiLU rounded to float first (ggml_silu then ggml_mul).</summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        RequireSameLength(gate.Length, up.Length, nameof(up));
        Silu(gate);
        TensorPrimitives.Multiply(gate, up, gate);
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
