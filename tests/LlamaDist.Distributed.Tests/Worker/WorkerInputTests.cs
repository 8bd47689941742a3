using Grpc.Core;
using LlamaDist.Distributed.Protocol;
using LlamaDist.Worker.State;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>The central checks and quoting every worker handler uses on caller input.</summary>
public sealed class WorkerInputTests
{
    [Fact]
    public void Quote_cuts_long_input_and_says_how_long_it_was()
    {
        string quoted = WorkerInput.Quote(new string('x', 1 << 20));
        Assert.Equal($"'{new string('x', WorkerInput.EchoedCharacters)}…' (1,048,576 characters)", quoted);
    }

    [Theory]
    [InlineData("abc", "'abc'")]
    [InlineData("a\nb\r\tc", "'a\\nb\\r\\tc'")]
    [InlineData("nul\0esc\u001b", "'nul\\u0000esc\\u001b'")]
    [InlineData("it's", "'it\\'s'")]
    [InlineData("pair 😀", "'pair 😀'")]
    [InlineData("", "''")]
    [InlineData(null, "(none)")]
    public void Quote_escapes_what_would_confuse_a_log_or_a_terminal(string? input, string expected) =>
        Assert.Equal(expected, WorkerInput.Quote(input));

    [Fact]
    public void Quote_escapes_a_lone_surrogate()
    {
        // Built at run time: an attribute argument cannot carry a lone surrogate (it is stored as UTF-8).
        string input = "lone " + (char)0xD800 + " high";
        Assert.Equal("'lone \\ud800 high'", WorkerInput.Quote(input));
    }

    [Fact]
    public void Quote_never_splits_a_surrogate_pair()
    {
        string input = new string('x', WorkerInput.EchoedCharacters - 1) + "😀" + "tail";
        string quoted = WorkerInput.Quote(input);
        Assert.DoesNotContain("\\ud83d", quoted);
        Assert.StartsWith("'" + new string('x', WorkerInput.EchoedCharacters - 1) + "…'", quoted);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0")]
    public void RangeHash_refuses_anything_but_64_hex_digits(string hash)
    {
        var error = Assert.Throws<RpcException>(() => WorkerInput.RangeHash(hash));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("range_hash", error.Status.Detail);
    }

    [Fact]
    public void RangeHash_and_SessionId_pass_valid_values_through()
    {
        string hash = new string('a', 32) + new string('F', 32);
        Assert.Equal(hash, WorkerInput.RangeHash(hash));
        Assert.Equal("session-1", WorkerInput.SessionId("session-1"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("with\nnewline")]
    public void SessionId_refuses_empty_and_control_characters(string id) =>
        Assert.Equal(StatusCode.InvalidArgument, Assert.Throws<RpcException>(() => WorkerInput.SessionId(id)).StatusCode);

    [Fact]
    public void SessionId_refuses_more_than_128_characters() =>
        Assert.Equal(StatusCode.InvalidArgument, Assert.Throws<RpcException>(() => WorkerInput.SessionId(new string('s', 129))).StatusCode);

    [Fact]
    public void AtMost_refuses_counts_beyond_the_bound()
    {
        Assert.Equal(10L, WorkerInput.AtMost(10, 10, "count"));
        Assert.Contains("18,446,744,073,709,551,615", Assert.Throws<RpcException>(() => WorkerInput.AtMost(ulong.MaxValue, long.MaxValue, "total_bytes")).Status.Detail);
    }

    [Fact]
    public void Encoding_accepts_only_what_the_worker_writes()
    {
        Assert.Equal(ActivationEncoding.F16, WorkerInput.Encoding(ActivationEncoding.F16, "reply_encoding"));
        Assert.Equal(StatusCode.InvalidArgument, Assert.Throws<RpcException>(() => WorkerInput.Encoding((ActivationEncoding)4, "reply_encoding")).StatusCode);
    }

    [Fact]
    public void Every_status_message_is_bounded()
    {
        var error = WorkerErrors.Invalid(new string('m', 100_000));
        Assert.Equal(WorkerErrors.MaxMessageCharacters, error.Status.Detail.Length);
        Assert.EndsWith("…", error.Status.Detail);
        Assert.Equal("short", WorkerErrors.Invalid("short").Status.Detail);
    }
}
