using LlamaDist.Core.Gguf;

namespace LlamaDist.Core.Model;

/// <summary>
/// The file is a readable GGUF but not a model this engine can run: another architecture, a missing or
/// mis-shaped llama tensor, a tensor type without kernels, or a llama feature (rope scaling, biases, experts)
/// the forward pass does not implement. The message names the architecture, tensor or type at fault.
/// </summary>
public class UnsupportedModelException : Exception
{
    public UnsupportedModelException(string message)
        : base(message)
    {
    }

    public UnsupportedModelException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <param name="message">What is wrong, naming the tensor, type or architecture.</param>
    /// <param name="tensorName">The offending tensor, if one is at fault.</param>
    /// <param name="tensorType">The offending tensor's type, when the type is the problem.</param>
    /// <param name="architecture">The file's general.architecture, when the architecture is the problem.</param>
    public UnsupportedModelException(string message, string? tensorName, GgmlType? tensorType = null,
        string? architecture = null)
        : base(message)
    {
        TensorName = tensorName;
        TensorType = tensorType;
        Architecture = architecture;
    }

    /// <summary>The tensor at fault, or null when the problem is not one tensor.</summary>
    public string? TensorName { get; }

    /// <summary>The unsupported tensor type, or null when the type is not the problem.</summary>
    public GgmlType? TensorType { get; }

    /// <summary>The unsupported architecture, or null when the architecture is not the problem.</summary>
    public string? Architecture { get; }
}
