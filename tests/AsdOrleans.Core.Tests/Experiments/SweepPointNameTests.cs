using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Scoring;

namespace AsdOrleans.Core.Tests.Experiments;

/// <summary>What a sweep point is called in tables, figures and evaluator/ folders (stop 52).</summary>
public class SweepPointNameTests
{
    private static ExperimentSettings Sweep(IReadOnlyList<ScoringKind>? scorings, IReadOnlyList<BudgetManagerKind>? starts, MachineConfig? method = null)
        => new() { Method = (method ?? MachineConfig.Default) with { Gamma = 0, Alpha = 0.01, BudgetWindow = 200, RandomShare = 0.1 }, Scorings = scorings, BudgetStarts = starts };

    [Fact]
    public void A_swept_scoring_and_budget_start_are_named_at_every_point_the_papers_values_too()
    {
        // The paper's values used to be left out, so g0_a0.01_w200_v0.1 (paper, paper) read as the default method.
        var settings = Sweep([ScoringKind.Paper, ScoringKind.Margin, ScoringKind.Domain, ScoringKind.Local], [BudgetManagerKind.Paced, BudgetManagerKind.Paper]);
        var names = settings.Points.Select(settings.NameOf).ToList();
        Assert.Equal(8, names.Distinct().Count());
        Assert.Contains("g0_a0.01_w200_v0.1_paper_paper", names);
        Assert.Contains("g0_a0.01_w200_v0.1_paper_paced", names);
        Assert.Contains("g0_a0.01_w200_v0.1_domain_paper", names);
        Assert.Contains("g0_a0.01_w200_v0.1_domain_paced", names);
        Assert.DoesNotContain("g0_a0.01_w200_v0.1", names);
    }

    [Fact]
    public void Only_the_swept_setting_gains_its_paper_value()
    {
        var scorings = Sweep([ScoringKind.Paper, ScoringKind.Domain], null);
        Assert.Equal(["g0_a0.01_w200_v0.1_paper_paced", "g0_a0.01_w200_v0.1_domain_paced"], scorings.Points.Select(scorings.NameOf));
        var paperStarts = Sweep(null, [BudgetManagerKind.Paper, BudgetManagerKind.Paced], MachineConfig.Paper);
        Assert.Equal(["g0_a0.01_w200_v0.1_paper", "g0_a0.01_w200_v0.1_paced"], paperStarts.Points.Select(paperStarts.NameOf));
    }

    [Fact]
    public void A_run_that_sweeps_neither_keeps_the_names_of_earlier_versions()
    {
        var paper = new ExperimentSettings { Method = MachineConfig.Paper, Gammas = [0, 0.5] };
        Assert.Equal(["g0_a0.01_w200_v0.1", "g0.5_a0.01_w200_v0.1"], paper.Points.Select(paper.NameOf));
        var defaults = new ExperimentSettings { Method = MachineConfig.Default with { RandomShare = 0.1 }, Gammas = [0, 1] };
        Assert.Equal(defaults.Points.Select(p => p.Label), defaults.Points.Select(defaults.NameOf));
        Assert.All(defaults.Points.Select(defaults.NameOf), name => Assert.EndsWith("_domain_paced", name));
    }
}
