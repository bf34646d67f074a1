using AsdOrleans.Evaluation.Experiments;
using AsdOrleans.Audio.Features;
using AsdOrleans.Datasets.Synthesis;
using AsdOrleans.Encoder.Training;

namespace AsdOrleans.Encoder.Tests;

/// <summary>The encoder learns machine identity from `asd synth`'s sounds (short clips, tiny width).</summary>
public class SyntheticPlantTrainingTests
{
    [Fact]
    public void Training_on_synthetic_machines_lowers_the_loss_and_held_out_clips_find_their_machine()
    {
        var plan = SynthPlan.Create(new SynthSettings { MachineTypes = 3, SourceTrain = 12, TargetTrain = 2, Test = 8, Seconds = 1, Seed = 4 });
        var audio = plan.Clips.ToDictionary(c => c, ClipSynthesizer.Render);
        var train = plan.Clips.Where(c => c.Split == SynthSplit.Train).ToList();
        // One class per machine type keeps this test small; the real classes add attributes (docs/design.md §1).
        var classes = plan.MachineTypes.Select(m => m.Name).ToList();
        var clips = train.Select(c => new TrainingClip(audio[c], classes.IndexOf(c.Machine.Name))).ToList();
        var reports = new List<EpochReport>();
        // A constant margin, so that losses of different epochs are comparable.
        var options = new TrainingOptions { Epochs = 6, BatchSize = 6, CropSeconds = 0.5, LearningRate = 3e-3, Seed = 1, Device = "cpu", MarginWarmupStart = 0, MarginWarmupEnd = 0 };
        using var model = EncoderTrainer.Train(TestAudio.Tiny, LogStftSettings.Paper, classes, clips, options, "synth", reports.Add,
            cancellation: TestContext.Current.CancellationToken);
        Assert.True(reports[^1].Loss < reports[0].Loss, $"loss {reports[0].Loss} → {reports[^1].Loss}");

        var embeddings = model.Embed(plan.Clips.Select(c => audio[c]).ToList());
        var records = plan.Clips.Select((c, i) => new EmbeddingRecord(c.Machine.Name, c.Split == SynthSplit.Test, c.Domain == SynthDomain.Target,
            c.IsAnomaly, c.FileName, embeddings[i])).ToList();
        double accuracy = EmbeddingDiagnostics.NearestNeighbourMachineAccuracy(new EmbeddingTable(records, model.EmbeddingDimension));
        Assert.True(accuracy > 0.6, $"k-NN machine-type accuracy {accuracy:P0} (chance 33%)");
    }
}
