using AsdOrleans.Abstractions;
using AsdOrleans.Method.Budget;
using AsdOrleans.Method.Machines;
using AsdOrleans.Method.Randomness;
using AsdOrleans.Method.Scoring;
using AsdOrleans.Method.Strategies;

namespace AsdOrleans.Grains.Tests.Machines;

/// <summary>Settings name only what they change: null fields keep the named method's values (Core's MachineConfig).</summary>
public class MachineSettingsMappingTests
{
    [Fact]
    public void Empty_settings_are_the_default_method_with_a_seed_from_the_id()
    {
        var config = new MachineSettings().ToConfig("plant.m1");
        Assert.Equal(MachineConfig.Default with { Seed = RandomState.StableHash("plant.m1") }, config);
    }

    [Fact]
    public void The_paper_method_by_name_and_single_fields_over_it()
    {
        var config = new MachineSettings { Method = "paper", Budget = 0.05, Strategy = "qbc" }.ToConfig("m");
        Assert.Equal(MachineConfig.Paper with { Budget = 0.05, Strategy = QueryStrategyKind.Qbc, Seed = RandomState.StableHash("m") }, config);
        var mixed = new MachineSettings { Scoring = "local", BudgetStart = "paper", Method = "paper", EmbeddingPrecision = "fp16", DecisionThresholds = "per-domain" }.ToConfig("m");
        Assert.Equal(DecisionThresholdKind.PerDomain, mixed.DecisionThresholds);
        Assert.Equal(DecisionThresholdKind.Single, config.DecisionThresholds); // the paper's one φ
        Assert.Equal(ScoringKind.Local, mixed.Scoring);
        Assert.Equal(BudgetManagerKind.Paper, mixed.BudgetManager);
        Assert.Equal(EmbeddingPrecision.Fp16, mixed.EmbeddingPrecision);
        Assert.Equal(EmbeddingPrecision.Fp32, config.EmbeddingPrecision);
        Assert.Equal(mixed, mixed.ToSettings().ToConfig("other-id")); // every field travels
    }

    [Theory]
    [InlineData("method")]
    [InlineData("scoring")]
    [InlineData("budget start")]
    [InlineData("embedding precision")]
    [InlineData("embedder")]
    [InlineData("decision threshold")]
    public void Unknown_names_are_refused_naming_the_setting(string setting)
    {
        var settings = setting switch
        {
            "method" => new MachineSettings { Method = "magic" },
            "scoring" => new MachineSettings { Scoring = "magic" },
            "embedding precision" => new MachineSettings { EmbeddingPrecision = "fp8" },
            "embedder" => new MachineSettings { Embedder = "psychic" },
            "decision threshold" => new MachineSettings { DecisionThresholds = "per-clip" },
            _ => new MachineSettings { BudgetStart = "magic" },
        };
        Assert.Contains(setting, Assert.Throws<ArgumentException>(() => settings.ToConfig("m")).Message);
    }

    [Fact]
    public void The_embedder_is_a_setting_of_the_machine_not_of_the_method()
    {
        foreach (var name in new[] { "model", "baseline", "SPECTRAL" })
            Assert.Equal(new MachineSettings().ToConfig("m"), new MachineSettings { Embedder = name }.ToConfig("m"));
        Assert.Equal(["model", "baseline", "spectral"], EmbedderNames.All);
        Assert.Equal(EmbedderKind.Spectral, EmbedderNames.FromFeatureTransform(standardize: false, whiten: true));
        Assert.Equal(EmbedderKind.Baseline, EmbedderNames.FromFeatureTransform(standardize: true, whiten: false));
        Assert.Equal(EmbedderKind.Model, EmbedderNames.FromFeatureTransform(standardize: false, whiten: false));
    }
}
