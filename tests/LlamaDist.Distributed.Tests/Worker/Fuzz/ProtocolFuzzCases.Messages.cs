using Google.Protobuf;
using Grpc.Core;
using LlamaDist.Distributed.Protocol;

namespace LlamaDist.Distributed.Tests.Worker.Fuzz;

/// <summary>The cases of valid messages with hostile values on the unary calls and StreamWeights.</summary>
internal sealed partial class ProtocolFuzzCases
{
    private string HostileHash() => random.Next(3) switch
    {
        0 => random.UnknownHash(),
        _ => random.HostileString(),
    };

    private HandshakeRequest HostileHandshake() => new()
    {
        Protocol = random.OneIn(4) ? null : new ProtocolVersion { Major = random.HostileUInt32(), Minor = random.HostileUInt32() },
        AuthToken = random.OneIn(2) ? "" : random.HostileString(),
        ClientName = random.HostileString(),
    };

    private LoadRangeRequest HostileLoadRange()
    {
        var request = models.LoadRequest(models.F32Path, random.Pick(loaded).Range);
        request.WorkerPath = random.Next(4) switch
        {
            0 => "",
            1 => models.F32Path,  // a real model whose layers hash differently from the hostile hash below
            2 => Path.Combine(Path.GetTempPath(), $"llamadist-fuzz-missing-{random.NextUInt64():x}.gguf"),
            _ => random.HostileString(),
        };
        request.Model.RangeHash = HostileHash();
        if (random.OneIn(3))
        {
            request.Model.FileName = random.HostileString();
        }
        if (random.OneIn(3))
        {
            request.Layers = random.OneIn(4) ? null : new LayerSpan
            {
                Start = random.HostileUInt32(), EndExclusive = random.HostileUInt32(), ModelLayerCount = random.HostileUInt32(),
                OutputElsewhere = random.OneIn(2),
            };
        }
        if (random.OneIn(3))
        {
            request.Config = random.OneIn(4) ? null : HostileConfig(request.Config);
        }
        if (random.OneIn(2))
        {
            request.Stream = new WeightStreamSource { TotalBytes = random.HostileUInt64(), TensorCount = random.HostileUInt32() };
        }
        return request;
    }

    private ModelConfig HostileConfig(ModelConfig valid)
    {
        var config = valid.Clone();
        switch (random.Next(8))
        {
            case 0: config.EmbeddingLength = random.HostileUInt32(); break;
            case 1: config.LayerCount = random.HostileUInt32(); break;
            case 2: config.HeadCount = random.HostileUInt32(); break;
            case 3: config.KvHeadCount = random.HostileUInt32(); break;
            case 4: config.VocabularySize = random.HostileUInt32(); break;
            case 5: config.FeedForwardLength = random.HostileUInt32(); break;
            case 6: config.Architecture = random.HostileString(); break;
            default: config.RmsEpsilon = random.OneIn(2) ? float.NaN : -1f; break;
        }
        return config;
    }

    private async Task StreamWeightsAsync()
    {
        // Most streams fill a range a LoadRange is really waiting for, so the chunks get past the first check.
        string hash = random.UnknownHash();
        if (!random.OneIn(4))
        {
            var announce = models.LoadRequest(models.F32Path, random.Pick(loaded).Range);
            announce.WorkerPath = "";
            announce.Model.RangeHash = hash;
            announce.Stream = new WeightStreamSource
            {
                TotalBytes = random.OneIn(2) ? (ulong)random.Next(1 << 20) : random.HostileUInt64(),
                TensorCount = (uint)(1 + random.Next(20)),
            };
            using var load = worker.Client.LoadRangeAsync(announce, Options());
            await load.ResponseAsync.ConfigureAwait(false);
        }

        using var call = worker.Client.StreamWeights(Options());
        var chunks = new List<WeightChunk>();
        for (int count = random.Next(5); count > 0; count--)
        {
            chunks.Add(HostileChunk(hash));
        }
        await WriteAllAsync(call.RequestStream, chunks).ConfigureAwait(false);
        await call.ResponseAsync.ConfigureAwait(false);
    }

    private WeightChunk HostileChunk(string hash)
    {
        var chunk = new WeightChunk
        {
            RangeHash = random.OneIn(6) ? HostileHash() : hash,
            TensorName = random.OneIn(5) ? random.HostileString() : random.Pick(TensorNames),
            Offset = random.OneIn(2) ? 0 : random.HostileUInt64(),
            Data = ByteString.CopyFrom(random.Bytes(512)),
        };
        if (!random.OneIn(3))
        {
            var descriptor = new TensorDescriptor { GgmlType = random.OneIn(3) ? random.HostileUInt32() : (uint)random.Pick(new[] { 0, 1, 8, 2, 12 }) };
            for (int d = random.Next(6); d > 0; d--)
            {
                descriptor.Dimensions.Add(random.OneIn(2) ? random.HostileUInt64() : (ulong)(1 + random.Next(128)));
            }
            descriptor.ByteSize = random.OneIn(2) ? (ulong)chunk.Data.Length : random.HostileUInt64();
            chunk.Tensor = descriptor;
        }
        return chunk;
    }

    private async Task OpenSessionAsync()
    {
        var request = new OpenSessionRequest
        {
            SessionId = random.OneIn(3) ? random.HostileString() : Guid.NewGuid().ToString("N"),
            RangeHash = random.OneIn(2) ? random.Pick(loaded).Hash : HostileHash(),
            ContextSize = random.OneIn(2) ? (uint)(1 + random.Next(256)) : random.HostileUInt32(),
            MaxBatchTokens = random.OneIn(2) ? (uint)(1 + random.Next(64)) : random.HostileUInt32(),
            NextEndpoint = random.Next(4) switch
            {
                0 => random.HostileString(),
                1 => $"worker-b:{random.Next(70000)}",
                _ => "",
            },
        };
        using (var open = worker.Client.OpenSessionAsync(request, Options()))
        {
            await open.ResponseAsync.ConfigureAwait(false);
        }
        // Opened: close it again, so the cases do not pile up sessions (idle ones would be collected anyway).
        using var close = worker.Client.CloseSessionAsync(new CloseSessionRequest { SessionId = request.SessionId }, Options());
        await close.ResponseAsync.ConfigureAwait(false);
    }
}
