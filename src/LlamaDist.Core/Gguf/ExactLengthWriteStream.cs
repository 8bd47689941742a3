namespace LlamaDist.Core.Gguf;

/// <summary>
/// A write-only window onto the GGUF file handed to a tensor's data callback: it forwards writes and refuses to
/// let the callback write more (or, at the end, fewer) bytes than the tensor's declared size, which would shift
/// every following tensor.
/// </summary>
internal sealed class ExactLengthWriteStream : Stream
{
    private readonly Stream _inner;
    private readonly long _expectedBytes;
    private readonly string _tensorName;
    private long _written;

    public ExactLengthWriteStream(Stream inner, long expectedBytes, string tensorName)
    {
        _inner = inner;
        _expectedBytes = expectedBytes;
        _tensorName = tensorName;
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _expectedBytes;

    public override long Position
    {
        get => _written;
        set => throw new NotSupportedException("Tensor data is written sequentially.");
    }

    public void EnsureComplete()
    {
        if (_written != _expectedBytes)
        {
            throw new InvalidOperationException(
                $"Tensor '{_tensorName}' wrote {_written} bytes but its shape and type need {_expectedBytes}.");
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length > _expectedBytes - _written)
        {
            throw new InvalidOperationException(
                $"Tensor '{_tensorName}' tried to write more than its {_expectedBytes} bytes.");
        }
        _inner.Write(buffer);
        _written += buffer.Length;
    }

    public override void WriteByte(byte value) => Write([value]);

    public override void Flush() { }

    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("Tensor data streams are write-only.");

    public override long Seek(long offset, SeekOrigin origin) =>
        throw new NotSupportedException("Tensor data is written sequentially.");

    public override void SetLength(long value) =>
        throw new NotSupportedException("Tensor data has a fixed length.");
}
