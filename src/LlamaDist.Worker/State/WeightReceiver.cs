using System.Security.Cryptography;
using Grpc.Core;
using LlamaDist.Core.Gguf;
using LlamaDist.Core.Model;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Distributed.Weights;

namespace LlamaDist.Worker.State;

/// <summary>
/// Receives one range's tensors (StreamWeights), hashing as they arrive, then stores them as a GGUF named by the
/// hash in the cache directory and loads it. Data first goes to a scratch file beside the cache so a broken
/// or mismatching stream leaves nothing behind; only a verified range becomes "&lt;hash&gt;.gguf".
/// </summary>
internal sealed class WeightReceiver
{
    private readonly WorkerRuntime runtime;

    public WeightReceiver(WorkerRuntime runtime) => this.runtime = runtime;

    private sealed record ReceivedTensor(string Name, GgmlType Type, long[] Dimensions, long ByteSize, long ScratchOffset);

    public async Task<StreamWeightsReply> ReceiveAsync(IAsyncStreamReader<WeightChunk> chunks, CancellationToken cancellationToken)
    {
        if (!await chunks.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            throw WorkerErrors.Invalid("The weight stream was empty.");
        }
        var range = runtime.TakePending(WorkerInput.RangeHash(chunks.Current.RangeHash));
        Directory.CreateDirectory(runtime.Options.CacheDirectory);
        var scratchPath = Path.Combine(runtime.Options.CacheDirectory, $"{range.Hash}.{Guid.NewGuid():N}.part");
        var tensors = new List<ReceivedTensor>();
        long received = 0;
        try
        {
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            await using (var scratch = new FileStream(scratchPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true))
            {
                ReceivedTensor? current = null;
                long filled = 0;
                do
                {
                    var chunk = chunks.Current;
                    if (chunk.RangeHash != range.Hash)
                    {
                        throw WorkerErrors.Invalid($"A chunk names range {WorkerInput.Quote(chunk.RangeHash)} inside the stream of {range.Hash}.");
                    }
                    if (chunk.Tensor is not null)
                    {
                        if (current is not null && filled != current.ByteSize)
                        {
                            throw WorkerErrors.Invalid($"Tensor {WorkerInput.Quote(current.Name)} ended after {filled} of its {current.ByteSize} bytes.");
                        }
                        current = StartTensor(chunk, range, scratch.Position, tensors.Count);
                        tensors.Add(current);
                        filled = 0;
                        RangeHasher.AppendDescriptor(hash, current.Name, current.Type, current.Dimensions);
                    }
                    if (current is null || chunk.TensorName != current.Name || (long)chunk.Offset != filled)
                    {
                        throw WorkerErrors.Invalid($"Chunk of {WorkerInput.Quote(chunk.TensorName)} at offset {chunk.Offset} is out of order; tensors come whole, in file order.");
                    }
                    if (filled + chunk.Data.Length > current.ByteSize || received + chunk.Data.Length > range.TotalBytes)
                    {
                        throw WorkerErrors.Invalid($"Tensor {WorkerInput.Quote(current.Name)} received more than its {current.ByteSize} bytes (or the range more than the announced {range.TotalBytes}).");
                    }
                    hash.AppendData(chunk.Data.Span);
                    await scratch.WriteAsync(chunk.Data.Memory, cancellationToken).ConfigureAwait(false);
                    filled += chunk.Data.Length;
                    received += chunk.Data.Length;
                }
                while (await chunks.MoveNext(cancellationToken).ConfigureAwait(false));

                if (current is null || filled != current.ByteSize || tensors.Count != range.TensorCount || received != range.TotalBytes)
                {
                    throw WorkerErrors.Invalid($"The stream ended early: {tensors.Count} of {range.TensorCount} tensors and {received:N0} of {range.TotalBytes:N0} announced bytes, the last tensor {filled} bytes into {current?.ByteSize ?? 0}.");
                }
                var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
                if (actual != range.Hash)
                {
                    throw WorkerErrors.Create(StatusCode.DataLoss, WorkerFailure.ModelMismatch,
                        $"The streamed tensors hash to {actual}, not the announced {range.Hash}; nothing was stored.");
                }
            }

            var cachePath = runtime.CacheFile(range.Hash);
            WriteCacheFile(scratchPath, cachePath, range, tensors);
            var reply = runtime.LoadVerifiedCacheFile(range, cachePath);
            return new StreamWeightsReply { RangeHash = range.Hash, BytesReceived = (ulong)received, State = reply.State };
        }
        finally
        {
            File.Delete(scratchPath);
        }
    }

    private static ReceivedTensor StartTensor(WeightChunk chunk, PendingRange range, long scratchOffset, int index)
    {
        var descriptor = chunk.Tensor;
        if (chunk.Offset != 0 || index >= range.TensorCount)
        {
            throw WorkerErrors.Invalid($"Tensor {WorkerInput.Quote(chunk.TensorName)} is unexpected (offset {chunk.Offset}, tensor {index + 1} of {range.TensorCount}).");
        }
        if (!BelongsToRange(chunk.TensorName, range.Layers, range.Config))
        {
            throw WorkerErrors.Invalid($"Tensor {WorkerInput.Quote(chunk.TensorName)} is not part of layers {range.Layers}.");
        }
        var type = (GgmlType)descriptor.GgmlType;
        string tensor = WorkerInput.Quote(chunk.TensorName);
        if (!GgmlTypeInfo.IsKnown(type) || descriptor.Dimensions.Count is 0 or > 4 || descriptor.Dimensions.Any(d => d == 0 || d > int.MaxValue))
        {
            throw WorkerErrors.Invalid($"Tensor {tensor} has type {descriptor.GgmlType} and shape " +
                $"[{string.Join(", ", descriptor.Dimensions.Take(4))}{(descriptor.Dimensions.Count > 4 ? ", …" : "")}], which this worker cannot store.");
        }
        var dimensions = descriptor.Dimensions.Select(d => (long)d).ToArray();
        long expected;
        try
        {
            // Four dimensions of up to 2^31-1 overflow 64 bits; such a tensor is malformed, not a worker failure.
            long elements = dimensions.Aggregate(1L, (a, b) => checked(a * b));
            expected = checked(GgmlTypeInfo.RowBytes(type, dimensions[0]) * (elements / dimensions[0]));
        }
        catch (OverflowException)
        {
            throw WorkerErrors.Invalid($"Tensor {tensor} of shape [{string.Join(", ", dimensions)}] has more bytes than a file can hold.");
        }
        catch (ArgumentException exception)
        {
            throw WorkerErrors.Invalid($"Tensor {tensor} of type {type} cannot have shape [{string.Join(", ", dimensions)}]: {exception.Message}");
        }
        if (expected > range.TotalBytes || (long)descriptor.ByteSize != expected)
        {
            throw WorkerErrors.Invalid($"Tensor {tensor} announces {descriptor.ByteSize} bytes; its type and shape make {expected} " +
                $"(the range announced {range.TotalBytes} in all).");
        }
        return new ReceivedTensor(chunk.TensorName, type, dimensions, expected, scratchOffset);
    }

    private static bool BelongsToRange(string name, LayerRange layers, LlamaConfig config)
    {
        int layerCount = config.LayerCount;
        if (name is LlamaTensorNames.TokenEmbedding || config.Traits.SharedTensors.Contains(name))
        {
            return true;  // first range, or the tied head of the last; tensors every range reads
        }
        if (name is LlamaTensorNames.OutputNorm or LlamaTensorNames.Output)
        {
            return layers.IncludesOutput(layerCount);
        }
        for (int layer = layers.Start; layer < layers.EndExclusive; layer++)
        {
            if (name.StartsWith(LlamaTensorNames.BlockPrefix(layer), StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// A GGUF holding the range's tensors and the hyperparameters under its architecture's keys, written beside
    /// the cache and renamed into place so a reader never sees half a file.
    /// </summary>
    private static void WriteCacheFile(string scratchPath, string cachePath, PendingRange range, List<ReceivedTensor> tensors)
    {
        var writer = new GgufWriter();
        var config = range.Config;
        string prefix = config.Architecture + ".";
        writer.SetMetadata("general.architecture", config.Architecture);
        writer.SetMetadata("general.name", $"{range.FileName} layers {range.Layers}");
        writer.SetMetadata(prefix + "embedding_length", (uint)config.EmbeddingLength);
        writer.SetMetadata(prefix + "block_count", (uint)config.LayerCount);
        writer.SetMetadata(prefix + "feed_forward_length", (uint)config.FeedForwardLength);
        writer.SetMetadata(prefix + "attention.head_count", (uint)config.HeadCount);
        writer.SetMetadata(prefix + "attention.head_count_kv", (uint)config.KvHeadCount);
        writer.SetMetadata(prefix + "attention.key_length", (uint)config.HeadDimension);
        writer.SetMetadata(prefix + "attention.layer_norm_rms_epsilon", config.RmsEpsilon);
        writer.SetMetadata(prefix + "rope.freq_base", config.RopeFreqBase);
        writer.SetMetadata(prefix + "rope.dimension_count", (uint)config.RopeDimensionCount);
        writer.SetMetadata(prefix + "context_length", (uint)config.ContextLength);
        writer.SetMetadata(prefix + "vocab_size", (uint)config.VocabularySize);
        if (config.SlidingWindow > 0)
        {
            writer.SetMetadata(prefix + "attention.sliding_window", (uint)config.SlidingWindow);
        }
        if (config.Traits.LongRopeFactors)
        {
            writer.SetMetadata(prefix + "rope.scaling.original_context_length", (uint)config.RopeOriginalContext);
            writer.SetMetadata(prefix + "rope.scaling.attn_factor", config.RopeAttentionFactor);
        }
        if (config.Traits.SoftCapping)
        {
            writer.SetMetadata(prefix + "attn_logit_softcapping", config.AttentionSoftCap);
            writer.SetMetadata(prefix + "final_logit_softcapping", config.FinalSoftCap);
        }
        using var scratch = new FileStream(scratchPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        foreach (var tensor in tensors)
        {
            writer.AddTensor(tensor.Name, tensor.Type, tensor.Dimensions, destination =>
            {
                scratch.Position = tensor.ScratchOffset;
                CopyExactly(scratch, destination, tensor.ByteSize);
            });
        }
        var temporary = cachePath + ".tmp";
        writer.WriteTo(temporary);
        File.Move(temporary, cachePath, overwrite: true);
    }

    private static void CopyExactly(Stream source, Stream destination, long count)
    {
        var buffer = new byte[Math.Min(count, 1 << 20)];
        while (count > 0)
        {
            int read = source.Read(buffer, 0, (int)Math.Min(buffer.Length, count));
            if (read == 0)
            {
                throw new EndOfStreamException("The scratch file is shorter than the tensors it should hold.");
            }
            destination.Write(buffer, 0, read);
            count -= read;
        }
    }
}
