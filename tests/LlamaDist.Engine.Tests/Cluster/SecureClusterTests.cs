using LlamaDist.Engine.Cluster;
using LlamaDist.Engine.Errors;
using LlamaDist.Engine.Generation;
using LlamaDist.Engine.Models;
using LlamaDist.Engine.TestModels;
using LlamaDist.Engine.Workers;

namespace LlamaDist.Engine.Tests.Cluster;

/// <summary>
/// Real workers on loopback with a cluster token and TLS (self-signed certificates, pinned by thumbprint): the
/// ring, worker to worker included, gives the local greedy tokens; a wrong token, no token, or a pin that differs
/// is refused with its own error; a non-loopback address without a token is refused before anything listens.
/// </summary>
[Trait("Category", "Slow")]  // left out of build.ps1 -Task Test -Fast
public sealed class SecureClusterTests : IDisposable
{
    private const string Token = "secure-cluster-test-token-0123456789";
    private const string Prompt = "The quick brown fox jumps over the lazy dog because";
    private readonly string directory = Path.Combine(Path.GetTempPath(), $"llamadist-secure-{Guid.NewGuid():N}");
    private readonly List<EmbeddedWorker> workers = [];
    private readonly List<string> thumbprints = [];
    private readonly string modelPath;

    public SecureClusterTests()
    {
        Directory.CreateDirectory(directory);
        modelPath = Path.Combine(directory, "small-q8_0.gguf");
        TestModelFactory.Create(modelPath, "Small", "Q8_0", seed: 5, vocabularyFrom: null, overwrite: true);
        for (int i = 0; i < 2; i++)
        {
            var certificate = WorkerCertificate.CreateSelfSigned(Path.Combine(directory, $"worker-{i}.pfx"), ["localhost"], ["127.0.0.1"],
                validDays: 2, password: "pfx-password", force: false);
            thumbprints.Add(certificate.Thumbprint);
            workers.Add(EmbeddedWorker.Start(new WorkerStartRequest
            {
                Port = 0, Threads = 1, Name = $"secure-{i}", CacheDirectory = Path.Combine(directory, $"cache-{i}"),
                ModelPath = Directory.CreateDirectory(Path.Combine(directory, $"models-{i}")).FullName,  // empty: layers must be streamed
                Token = Token, CertificatePath = certificate.Path, CertificatePassword = "pfx-password",
            }));
        }
    }

    private string[] Endpoints => workers.Select(worker => worker.Endpoint).ToArray();

    private static GenerationRequest Greedy => new() { Prompt = Prompt, MaxTokens = 8, Temperature = 0, BatchSize = 5 };

    [Fact]
    public void A_token_and_pinned_certificates_give_the_local_greedy_tokens_through_tls_hops()
    {
        Assert.All(Endpoints, endpoint => Assert.StartsWith("https://127.0.0.1:", endpoint, StringComparison.Ordinal));
        Assert.Equal(thumbprints, workers.Select(worker => worker.CertificateThumbprint));
        int[] expected;
        using (var local = LocalModel.Load(modelPath, threads: 1))
        {
            expected = local.Generate(Greedy).TokenIds;
        }
        // The workers have no model of their own: each receives its layers over TLS, and the first forwards to
        // the second over TLS with the pin the coordinator sent.
        using var cluster = ClusterModel.Create(new ClusterRequest
        {
            ModelPath = modelPath, Workers = Endpoints, Split = "Even", ActivationEncoding = "F32",
            Access = new WorkerAccess { Token = Token, CertificateThumbprints = thumbprints },
        });
        Assert.Equal(expected, cluster.Generate(Greedy).TokenIds);
        var status = WorkerInspector.Query(Endpoints[1], new WorkerAccess { Token = Token, CertificateThumbprints = thumbprints });
        Assert.True(status.ForwardMessagesReceived > 0);
    }

    [Fact]
    public void A_tensor_split_links_its_shards_over_tls_and_gives_the_local_greedy_tokens()
    {
        var shards = new List<EmbeddedWorker>();
        try
        {
            var pins = new List<string>();
            for (int i = 0; i < 2; i++)
            {
                var certificate = WorkerCertificate.CreateSelfSigned(Path.Combine(directory, $"shard-{i}.pfx"), ["localhost"], ["127.0.0.1"], 2, null, false);
                pins.Add(certificate.Thumbprint);
                shards.Add(EmbeddedWorker.Start(new WorkerStartRequest
                {
                    Port = 0, Threads = 1, Name = $"shard-{i}", CacheDirectory = Path.Combine(directory, $"shard-cache-{i}"),
                    ModelPath = modelPath, Token = Token, CertificatePath = certificate.Path,
                }));
            }
            int[] expected;
            using (var local = LocalModel.Load(modelPath, threads: 1))
            {
                expected = local.Generate(Greedy).TokenIds;
            }
            // The shards' partial sums cross a TLS link on each worker's peer port, checked against the same pins.
            using var cluster = ClusterModel.Create(new ClusterRequest
            {
                ModelPath = modelPath, Workers = shards.Select(w => w.Endpoint).ToArray(), Split = "Tensor", ActivationEncoding = "F32",
                Access = new WorkerAccess { Token = Token, CertificateThumbprints = pins },
            });
            Assert.Equal(expected, cluster.Generate(Greedy).TokenIds);
        }
        finally
        {
            shards.ForEach(worker => worker.Dispose());
        }
    }

    [Fact]
    public void A_wrong_or_missing_token_is_refused_as_an_authentication_failure()
    {
        foreach (var token in new[] { "not-the-cluster-token-0123456789", null })
        {
            var error = Assert.Throws<LlamaDistException>(() => ClusterModel.Create(new ClusterRequest
            {
                ModelPath = modelPath, Workers = Endpoints, Access = new WorkerAccess { Token = token, CertificateThumbprints = thumbprints },
            }));
            Assert.Equal(LlamaErrorKind.WorkerAuthenticationFailed, error.Kind);
            Assert.Equal(Endpoints[0], error.Target);
        }
    }

    [Fact]
    public void A_certificate_that_matches_no_pin_is_refused()
    {
        var error = Assert.Throws<LlamaDistException>(() => WorkerInspector.Query(Endpoints[0], new WorkerAccess { Token = Token, CertificateThumbprints = [new string('A', 64)] }));
        Assert.Equal(LlamaErrorKind.WorkerCertificateRejected, error.Kind);
        // Without a pin the system's certificate authorities decide, and they do not know a self-signed certificate.
        error = Assert.Throws<LlamaDistException>(() => WorkerInspector.Query(Endpoints[0], new WorkerAccess { Token = Token }));
        Assert.Equal(LlamaErrorKind.WorkerCertificateRejected, error.Kind);
        Assert.Equal("secure-0", WorkerInspector.Query(Endpoints[0], new WorkerAccess { Token = Token, CertificateThumbprints = [thumbprints[0]] }).Name);
    }

    [Fact]
    public void Workers_that_require_client_certificates_serve_a_coordinator_that_presents_one()
    {
        var client = WorkerCertificate.CreateSelfSigned(Path.Combine(directory, "coordinator.pfx"), ["coordinator"], ["127.0.0.1"], 2, null, false);
        var mutual = new List<EmbeddedWorker>();
        try
        {
            var certificates = Enumerable.Range(0, 2).Select(i => WorkerCertificate.CreateSelfSigned(Path.Combine(directory, $"mutual-{i}.pfx"),
                ["localhost"], ["127.0.0.1"], 2, null, false)).ToList();
            // Each worker trusts the coordinator and the other workers (a stage presents its own certificate onward).
            string[] trusted = [client.Thumbprint, .. certificates.Select(c => c.Thumbprint)];
            mutual.AddRange(certificates.Select((certificate, i) => EmbeddedWorker.Start(new WorkerStartRequest
            {
                Port = 0, Threads = 1, Name = $"mutual-{i}", CacheDirectory = Path.Combine(directory, $"mutual-cache-{i}"),
                ModelPath = Directory.CreateDirectory(Path.Combine(directory, $"mutual-models-{i}")).FullName,
                Token = Token, CertificatePath = certificate.Path, TrustedClientThumbprints = trusted,
            })));
            var pins = certificates.Select(c => c.Thumbprint).ToArray();
            int[] expected;
            using (var local = LocalModel.Load(modelPath, threads: 1))
            {
                expected = local.Generate(Greedy).TokenIds;
            }
            using (var cluster = ClusterModel.Create(new ClusterRequest
            {
                ModelPath = modelPath, Workers = mutual.Select(w => w.Endpoint).ToArray(), Split = "Even", ActivationEncoding = "F32",
                Access = new WorkerAccess { Token = Token, CertificateThumbprints = pins, ClientCertificatePath = client.Path },
            }))
            {
                Assert.Equal(expected, cluster.Generate(Greedy).TokenIds);
            }
            var refused = Assert.Throws<LlamaDistException>(() => WorkerInspector.Query(mutual[0].Endpoint, new WorkerAccess { Token = Token, CertificateThumbprints = pins }));
            Assert.Contains(refused.Kind, new[] { LlamaErrorKind.WorkerCertificateRejected, LlamaErrorKind.WorkerUnreachable });
            var stranger = WorkerCertificate.CreateSelfSigned(Path.Combine(directory, "stranger.pfx"), ["stranger"], ["127.0.0.1"], 2, null, false);
            Assert.Throws<LlamaDistException>(() => WorkerInspector.Query(mutual[0].Endpoint,
                new WorkerAccess { Token = Token, CertificateThumbprints = pins, ClientCertificatePath = stranger.Path }));
        }
        finally
        {
            mutual.ForEach(worker => worker.Dispose());
        }
    }

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    public void A_non_loopback_address_without_a_token_is_refused_before_listening(string address)
    {
        var error = Assert.Throws<LlamaDistException>(() => EmbeddedWorker.Start(new WorkerStartRequest { Address = address, Port = 0, Threads = 1 }));
        Assert.Equal(LlamaErrorKind.InsecureBinding, error.Kind);
        Assert.Contains("without a cluster token", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_short_token_is_refused()
    {
        var error = Assert.Throws<LlamaDistException>(() => EmbeddedWorker.Start(new WorkerStartRequest { Port = 0, Threads = 1, Token = "short" }));
        Assert.Equal(LlamaErrorKind.InvalidArgument, error.Kind);
    }

    public void Dispose()
    {
        workers.ForEach(worker => worker.Dispose());
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
