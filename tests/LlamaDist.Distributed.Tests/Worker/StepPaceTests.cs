using LlamaDist.Worker.State;

namespace LlamaDist.Distributed.Tests.Worker;

/// <summary>A session is due again within one and a half of its step period, and only once it has a period.</summary>
public sealed class StepPaceTests
{
    [Fact]
    public void A_session_is_due_only_after_two_steps_and_for_one_and_a_half_periods()
    {
        var pace = new StepPace();
        Assert.False(pace.IsDueBy(1_000));
        pace.Mark(1_000);
        Assert.False(pace.IsDueBy(1_001));  // one step: no pace yet
        pace.Mark(1_100);                   // period 100
        Assert.True(pace.IsDueBy(1_100));
        Assert.True(pace.IsDueBy(1_249));
        Assert.False(pace.IsDueBy(1_250));  // half a period late: paused, not waited for
        pace.Mark(1_400);                   // a slower step: period 300
        Assert.True(pace.IsDueBy(1_849));
        Assert.False(pace.IsDueBy(1_850));
    }
}
