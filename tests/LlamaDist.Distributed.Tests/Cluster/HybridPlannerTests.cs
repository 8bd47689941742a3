using LlamaDist.Core.Model;
using LlamaDist.Distributed.Cluster;

namespace LlamaDist.Distributed.Tests.Cluster;

/// <summary>The hybrid prediction and -Split Auto's choice between layer, tensor and hybrid, on TinyLlama-sized Q8_0 figures.</summary>
public sealed class HybridPlannerTests
{
    private const double LayerBytes = 46.8e6;
    private const double HeadBytes = 69.6e6;
    private const int Layers = 22;
    private const int Embd = 2048;
    private static readonly LinkFigures Fast = new(0.05e-3, 1e9);
    private static readonly LinkFigures Gigabit = new(0.3e-3, 125e6);
    private static readonly LinkFigures WiFi = new(5e-3, 6.25e6);
    private static readonly HybridPlanner.ModelFigures Model = new(Layers, LayerBytes, HeadBytes, Embd, ActivationBytes: 4, PartialBytes: 4);

    [Fact]
    public void Hybrid_adds_each_groups_tensor_time_and_the_hidden_state_between_groups()
    {
        var prediction = SplitCostModel.Hybrid(
        [
            new SplitCostModel.HybridStage([25e9, 25e9], [0.5, 0.5], 11, Gigabit),
            new SplitCostModel.HybridStage([25e9], [1.0], 11, Gigabit),
        ], LayerBytes, HeadBytes, Embd, activationBytes: 4, partialBytes: 4);

        double hidden = Embd * 4 / 125e6;
        // Each all-reduce costs a stream round trip (here the call's 0.3 ms: the link has no stream figure) plus its bytes.
        double first = 0.5 * 11 * LayerBytes / 25e9 + 2 * 11 * (0.3e-3 + Embd * 4 / 125e6) + 0.3e-3 + hidden;
        double second = (11 * LayerBytes + HeadBytes) / 25e9 + 0.3e-3 + hidden;
        Assert.Equal("Hybrid", prediction.Split);
        Assert.Equal((first + second) * 1000, prediction.MillisecondsPerToken, 9);
        Assert.Equal([first * 1000, first * 1000, second * 1000], prediction.NodeMilliseconds.ToArray(), new ToleranceComparer(1e-9));
        Assert.Throws<ArgumentException>(() => SplitCostModel.Hybrid([new SplitCostModel.HybridStage([25e9], [1.0], 22, Gigabit)],
            LayerBytes, HeadBytes, Embd, 4, 4));
    }

    [Fact]
    public void A_grouping_gets_layers_by_group_speed_and_the_slowest_members_link()
    {
        var plan = HybridPlanner.Predict([[0, 1], [2]], [25e9, 25e9, 25e9], [Fast, WiFi, Fast], Model);

        Assert.Equal([new LayerRange(0, 15), new LayerRange(15, 22)], plan.Ranges);
        Assert.Equal([0.5, 0.5], plan.Shares[0]);
        // The first group's reductions run at its slower member's Wi-Fi pace.
        double reductions = 2 * 15 * WiFi.MessageSeconds(Embd * 4);
        Assert.True(plan.Prediction.NodeMilliseconds[0] > reductions * 1000);
        Assert.Equal("[w0 w1] 0-14, [w2] 15-21", plan.Describe(i => $"w{i}"));
    }

    [Fact]
    public void Auto_picks_hybrid_when_two_workers_share_a_fast_link_and_two_sit_on_wifi()
    {
        double[] speeds = [25e9, 25e9, 25e9, 25e9];
        LinkFigures[] links = [Fast, Fast, WiFi, WiFi];
        var layer = SplitCostModel.Layer(speeds, [6, 6, 5, 5], LayerBytes, HeadBytes, Embd, 4, WiFi);
        var tensor = SplitCostModel.Tensor(speeds, [0.25, 0.25, 0.25, 0.25], Layers * LayerBytes, HeadBytes, Layers, Embd, 4, WiFi);
        var hybrid = HybridPlanner.Best(speeds, links, Model, (_, _) => true);

        Assert.NotNull(hybrid);
        // The fast pair is one group; the Wi-Fi workers run alone (no reductions over Wi-Fi).
        Assert.Equal([[0, 1], [2], [3]], hybrid.Groups.Select(group => group.ToArray()).ToArray());
        Assert.True(hybrid.Prediction.MillisecondsPerToken < HybridPlanner.Advantage * layer.MillisecondsPerToken);
        Assert.Same(hybrid.Prediction, HybridPlanner.Choose(layer, tensor, hybrid.Prediction));
    }

    [Fact]
    public void Auto_keeps_tensor_on_one_fast_link_and_layers_on_wifi()
    {
        double[] speeds = [25e9, 25e9, 25e9, 25e9];
        var fastModel = Model with { PartialBytes = 4 };
        var tensor = SplitCostModel.Tensor(speeds, [0.25, 0.25, 0.25, 0.25], Layers * LayerBytes, HeadBytes, Layers, Embd, 4, Fast);
        var layer = SplitCostModel.Layer(speeds, [6, 6, 5, 5], LayerBytes, HeadBytes, Embd, 4, Fast);
        var hybrid = HybridPlanner.Best(speeds, [Fast, Fast, Fast, Fast], fastModel, (_, _) => true)!;
        Assert.Same(tensor, HybridPlanner.Choose(layer, tensor, hybrid.Prediction));

        var wifiLayer = SplitCostModel.Layer(speeds, [6, 6, 5, 5], LayerBytes, HeadBytes, Embd, 4, WiFi);
        var wifiTensor = SplitCostModel.Tensor(speeds, [0.25, 0.25, 0.25, 0.25], Layers * LayerBytes, HeadBytes, Layers, Embd, 4, WiFi);
        var wifiHybrid = HybridPlanner.Best(speeds, [WiFi, WiFi, WiFi, WiFi], fastModel, (_, _) => true)!;
        Assert.Same(wifiLayer, HybridPlanner.Choose(wifiLayer, wifiTensor, wifiHybrid.Prediction));
    }

    [Fact]
    public void Groupings_the_model_cannot_slice_are_skipped()
    {
        double[] speeds = [25e9, 25e9, 25e9, 25e9];
        LinkFigures[] links = [Fast, Fast, WiFi, WiFi];
        // Only single-member groups fit (a model with one KV head): the 3-group candidate has a pair, so nothing fits.
        Assert.Null(HybridPlanner.Best(speeds, links, Model, (members, _) => members == 1));
        Assert.Null(HybridPlanner.Best([25e9, 25e9], [Fast, Fast], Model, (_, _) => true));
        var onlyPairs = HybridPlanner.Best(speeds, links, Model, (members, _) => members == 2);
        Assert.Equal([[0, 1], [2, 3]], onlyPairs!.Groups.Select(group => group.ToArray()).ToArray());
    }

    [Fact]
    public void Choose_needs_a_clear_advantage_over_the_layer_plan()
    {
        var layer = new SplitPrediction("Layer", 100, [50, 50]);
        Assert.Same(layer, HybridPlanner.Choose(layer, new SplitPrediction("Tensor", 97, [97, 97]), new SplitPrediction("Hybrid", 96, [96, 96, 96])));
        // Two 1-thread workers on loopback: tensor predicted at 93% of the layer plan, and measured the faster.
        var loopbackLayer = new SplitPrediction("Layer", 39.0, [19.5, 19.5]);
        var loopbackTensor = new SplitPrediction("Tensor", 36.3, [36.3, 36.3]);
        Assert.Same(loopbackTensor, HybridPlanner.Choose(loopbackLayer, loopbackTensor, null));
        var hybrid = new SplitPrediction("Hybrid", 80, [80, 80, 80]);
        Assert.Same(hybrid, HybridPlanner.Choose(layer, new SplitPrediction("Tensor", 85, [85, 85]), hybrid));
        var tensor = new SplitPrediction("Tensor", 80, [80, 80]);
        Assert.Same(tensor, HybridPlanner.Choose(layer, tensor, new SplitPrediction("Hybrid", 80, [80, 80, 80])));
        Assert.Same(layer, HybridPlanner.Choose(layer, null, null));
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(double value) => 0;
    }
}
