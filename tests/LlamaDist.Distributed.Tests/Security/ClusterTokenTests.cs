using System.Text;
using LlamaDist.Distributed.Client;
using LlamaDist.Distributed.Security;
using LlamaDist.Worker.Hosting;

namespace LlamaDist.Distributed.Tests.Security;

/// <summary>Token checks, handshake proofs, thumbprint pins and the worker's security options.</summary>
public sealed class ClusterTokenTests : IDisposable
{
    private const string Token = "0123456789abcdef-token";
    private readonly string directory = Directory.CreateTempSubdirectory("llamadist-token-").FullName;

    [Theory]
    [InlineData("Bearer 0123456789abcdef-token", true)]
    [InlineData("Bearer 0123456789abcdef-tokeN", false)]
    [InlineData("Bearer 0123456789abcdef-toke", false)]
    [InlineData("bearer 0123456789abcdef-token", false)]
    [InlineData("0123456789abcdef-token", false)]
    [InlineData("Bearer ", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Only_the_exact_bearer_token_matches(string? header, bool matches) =>
        Assert.Equal(matches, ClusterToken.Matches(Token, header));

    [Fact]
    public void A_proof_verifies_only_for_its_token_and_challenge()
    {
        var challenge = ClusterToken.NewChallenge();
        var proof = ClusterToken.Prove(Token, challenge);
        Assert.Equal(32, proof.Length);
        Assert.True(ClusterToken.VerifyProof(Token, challenge, proof));
        Assert.False(ClusterToken.VerifyProof(Token + "x", challenge, proof));
        Assert.False(ClusterToken.VerifyProof(Token, ClusterToken.NewChallenge(), proof));
        Assert.False(ClusterToken.VerifyProof(Token, challenge, proof.AsSpan(0, 31)));
        Assert.False(ClusterToken.VerifyProof(Token, challenge, []));
        Assert.NotEqual(challenge, ClusterToken.NewChallenge());
    }

    [Theory]
    [InlineData("short")]
    [InlineData("has a space in it somewhere")]
    [InlineData("non-ascii-token-ééééééééé")]
    public void Weak_or_malformed_tokens_are_refused(string token) =>
        Assert.Throws<ArgumentException>(() => ClusterToken.Validate(token, "test"));

    [Fact]
    public void A_token_file_gives_its_first_non_empty_line_trimmed()
    {
        var path = Path.Combine(directory, "token");
        File.WriteAllText(path, "\n  " + Token + "  \r\nignored\n");
        Assert.Equal(Token, ClusterToken.ReadFile(path));
        File.WriteAllText(path, "\n\n");
        Assert.Throws<ArgumentException>(() => ClusterToken.ReadFile(path));
    }

    [Fact]
    public void Thumbprints_normalise_and_malformed_ones_are_refused()
    {
        var hex = string.Concat(Enumerable.Repeat("ab", 32));
        Assert.Equal(hex.ToUpperInvariant(), CertificatePins.Normalize(string.Join(":", Enumerable.Repeat("ab", 32))));
        Assert.Throws<ArgumentException>(() => CertificatePins.Normalize("abcd"));
        Assert.Throws<ArgumentException>(() => CertificatePins.Normalize(new string('g', 64)));
        var credentials = WorkerCredentials.Create(null, [hex, hex.ToUpperInvariant()]);
        Assert.Single(credentials.CertificateThumbprints);
    }

    [Fact]
    public void Https_endpoints_parse_and_print_with_their_scheme()
    {
        var endpoint = WorkerEndpoint.Parse("https://pc1:50060/");
        Assert.True(endpoint.Tls);
        Assert.Equal("https://pc1:50060", endpoint.ToString());
        Assert.Equal("https://pc1:50060/", endpoint.ToUri().ToString());
        Assert.Equal(endpoint, WorkerEndpoint.Parse(endpoint.ToString()));
        Assert.False(WorkerEndpoint.Parse("pc1:50060").Tls);
        Assert.Equal("https://[::1]:50052", WorkerEndpoint.Parse("https://[::1]").ToString());
    }

    [Fact]
    public void The_worker_reads_its_token_from_a_file_or_the_environment_never_an_argument()
    {
        var path = Path.Combine(directory, "cluster.token");
        File.WriteAllText(path, Token + "\n");
        var passwordFile = Path.Combine(directory, "pfx.password");
        File.WriteAllText(passwordFile, "pfx secret\n");
        var fromFile = WorkerCommandLine.Parse(["--token-file", path, "--allow-insecure", "true", "--certificate", "w.pfx",
            "--certificate-password-file", passwordFile], _ => null)!;
        Assert.Equal(Token, fromFile.Token);
        Assert.True(fromFile.AllowInsecure);
        Assert.Equal(Path.GetFullPath("w.pfx"), fromFile.CertificatePath);
        Assert.Equal("pfx secret", fromFile.CertificatePassword);
        Assert.DoesNotContain(Token, fromFile.ToString(), StringComparison.Ordinal);

        var variables = new Dictionary<string, string> { ["LLAMADIST_TOKEN"] = Token, ["LLAMADIST_CERTIFICATE_PASSWORD"] = "p" };
        var fromEnvironment = WorkerCommandLine.Parse([], name => variables.GetValueOrDefault(name))!;
        Assert.Equal(Token, fromEnvironment.Token);
        Assert.Equal("p", fromEnvironment.CertificatePassword);
        Assert.Null(WorkerCommandLine.Parse([], _ => null)!.Token);

        Assert.Throws<FormatException>(() => WorkerCommandLine.Parse(["--token-file", Path.Combine(directory, "missing")], _ => null));
        File.WriteAllText(path, "short");
        Assert.Throws<FormatException>(() => WorkerCommandLine.Parse(["--token-file", path], _ => null));
        Assert.Throws<FormatException>(() => WorkerCommandLine.Parse(["--token", Token], _ => null));
        Assert.Throws<FormatException>(() => WorkerCommandLine.Parse(["--allow-insecure", "yes"], _ => null));
    }

    [Fact]
    public async Task A_wildcard_address_without_a_token_is_refused_before_listening()
    {
        var error = await Assert.ThrowsAsync<WorkerStartException>(() => WorkerHost.StartAsync(new WorkerOptions { Address = "0.0.0.0", Port = 0, Threads = 1 }));
        Assert.Equal(WorkerStartFailure.InsecureBinding, error.Failure);
        Assert.Equal(5, LlamaDist.Worker.Program.ExitCodeFor(error.Failure));
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
