using LlamaDist.Distributed.Cluster;

namespace LlamaDist.Distributed.Tests.Cluster;

/// <summary>The decode-time predictions the Auto split chooses between, on TinyLlama-sized Q8_0 figures.</summary>
public sealed class SplitCostModelTests
{
    // TinyLlama Q8_0: 22 blocks of ~46.8 MB, a 69.6 MB head, n_embd 2048.
    private const double LayerBytes = 46.8e6;
    private const double HeadBytes = 69.6e6;
    private const int Layers = 22;
    private const int Embd = 2048;
    private static readonly double[] TwoEqualNodes = [25e9, 25e9];

    private static readonly LinkFigures Gigabit = new(0.3e-3, 125e6);
    private static readonly LinkFigures WiFi = new(5e-3, 6.25e6);

    [Fact]
    public void Layer_split_adds_stage_times_and_one_message_per_hop()
    {
        var prediction = SplitCostModel.Layer(TwoEqualNodes, [11, 11], LayerBytes, HeadBytes, Embd, activationBytes: 2, Gigabit);

        double hop = 0.15e-3 + Embd * 2 / 125e6;
        double first = 11 * LayerBytes / 25e9 + hop;
        double last = (11 * LayerBytes + HeadBytes) / 25e9 + hop + 0.15e-3;
        Assert.Equal(first * 1000, prediction.NodeMilliseconds[0], 9);
        Assert.Equal(last * 1000, prediction.NodeMilliseconds[1], 9);
        Assert.Equal((first + last) * 1000, prediction.MillisecondsPerToken, 9);
    }

    [Fact]
    public void Tensor_split_takes_the_slowest_shard_plus_two_reductions_per_layer()
    {
        // A stream round trip of 0.1 ms beside the call's 0.3 ms: each all-reduce costs the former plus its bytes.
        var link = Gigabit with { StreamRoundTripSeconds = 0.1e-3 };
        var prediction = SplitCostModel.Tensor(TwoEqualNodes, [0.5, 0.5], Layers * LayerBytes, HeadBytes, Layers, Embd, partialBytes: 4, link);

        double compute = 0.5 * (Layers * LayerBytes + HeadBytes) / 25e9;
        double reduce = 2 * Layers * (0.1e-3 + Embd * 4 / 125e6);
        Assert.Equal((compute + reduce + 0.3e-3) * 1000, prediction.MillisecondsPerToken, 9);
        Assert.All(prediction.NodeMilliseconds, ms => Assert.Equal(prediction.MillisecondsPerToken, ms, 9));
    }

    [Fact]
    public void A_link_without_a_stream_figure_prices_an_exchange_at_the_calls_round_trip()
    {
        Assert.Equal(0.3e-3, Gigabit.StreamRoundTripSeconds);
        Assert.Equal(0.3e-3 + 4096 / 125e6, Gigabit.ExchangeSeconds(4096), 12);
        Assert.Equal(0.15e-3 + 4096 / 125e6, Gigabit.MessageSeconds(4096), 12);
    }

    [Fact]
    public void Links_used_together_go_at_the_slowest_ones_pace()
    {
        var slowest = LinkFigures.Slowest([new LinkFigures(0.2e-3, 1e9) { StreamRoundTripSeconds = 0.05e-3 }, new LinkFigures(0.5e-3, 2e9) { StreamRoundTripSeconds = 0.04e-3 }]);
        Assert.Equal(0.5e-3, slowest.RoundTripSeconds);
        Assert.Equal(1e9, slowest.BytesPerSecond);
        Assert.Equal(0.05e-3, slowest.StreamRoundTripSeconds);
    }

    [Fact]
    public void A_fast_link_favours_tensor_and_a_slow_one_layers()
    {
        var fast = new LinkFigures(0.1e-3, 1e9);
        Assert.Equal("Tensor", Choose(fast, partialBytes: 4).Split);
        Assert.Equal("Layer", Choose(WiFi, partialBytes: 4).Split);
        // Q8_0 partials (34 bytes per 32 values) shrink the reductions but on Wi-Fi latency still decides.
        Assert.Equal("Layer", Choose(WiFi, partialBytes: 34.0 / 32).Split);
    }

    [Fact]
    public void Shares_follow_speed_only_when_nodes_really_differ()
    {
        Assert.Equal([0.5, 0.5], SplitCostModel.Shares([25e9, 22e9]));
        Assert.Equal([2.0 / 3, 1.0 / 3], SplitCostModel.Shares([20e9, 10e9]));

        // With shares proportional to speed, each shard of a 2:1 pair computes for the same time.
        var skewed = SplitCostModel.Tensor([20e9, 10e9], SplitCostModel.Shares([20e9, 10e9]), Layers * LayerBytes, HeadBytes, Layers, Embd, 4, Gigabit);
        var even = SplitCostModel.Tensor([20e9, 10e9], [0.5, 0.5], Layers * LayerBytes, HeadBytes, Layers, Embd, 4, Gigabit);
        Assert.True(skewed.MillisecondsPerToken < even.MillisecondsPerToken);
    }

    [Fact]
    public void Unmeasured_nodes_and_links_are_refused()
    {
        Assert.Throws<ArgumentException>(() => SplitCostModel.Layer([0.0, 1e9], [1, 1], 1, 1, Embd, 2, Gigabit));
        Assert.Throws<ArgumentException>(() => SplitCostModel.Tensor([1e9], [1.0], 1, 1, 1, Embd, 4, new LinkFigures(1e-3, 0)));
        Assert.Throws<ArgumentException>(() => SplitCostModel.Layer([1e9, 1e9], [2], 1, 1, Embd, 2, Gigabit));
    }

    private static SplitPrediction Choose(LinkFigures link, double partialBytes) => SplitCostModel.Best(
        SplitCostModel.Layer(TwoEqualNodes, [11, 11], LayerBytes, HeadBytes, Embd, 2, link),
        SplitCostModel.Tensor(TwoEqualNodes, [0.5, 0.5], Layers * LayerBytes, HeadBytes, Layers, Embd, partialBytes, link));
}
