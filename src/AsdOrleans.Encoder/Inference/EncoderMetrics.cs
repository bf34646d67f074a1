using System.Diagnostics.Metrics;

namespace AsdOrleans.Encoder.Inference;

/// <summary>The encoder's instruments on the project's meter "AsdOrleans": batch sizes and forward-pass latency.</summary>
public static class EncoderMetrics
{
    private static readonly Meter Meter = new("AsdOrleans", "1.0");

    private static readonly Histogram<int> BatchSize = Meter.CreateHistogram<int>("asd.encoder.batch.size", "{clip}",
        "Clips per forward pass of the encoder", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128] });

    private static readonly Histogram<double> Latency = Meter.CreateHistogram<double>("asd.encoder.batch.duration", "s",
        "Seconds per forward pass of the encoder (one batch)",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });

    public static void Record(int clips, TimeSpan elapsed)
    {
        BatchSize.Record(clips);
        Latency.Record(elapsed.TotalSeconds);
    }
}
