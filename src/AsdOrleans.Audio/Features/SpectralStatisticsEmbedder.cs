using System.Globalization;

namespace AsdOrleans.Audio.Features;

/// <summary>
/// Settings of the training-free spectral-statistics baseline: 16 kHz, 1024-point FFT with a periodic Hann window of
/// the same length, hop 512, frames centred on t·hop with FFT/2 zeros padded at both ends (librosa's center=True,
/// pad_mode="constant"), power spectrum |X|², 128 Slaney mel bands with Slaney normalisation over 0–8000 Hz
/// (<see cref="MelFilterbank"/>), value ln(mel + ε) with ε = 1e-10 (librosa.power_to_db's amin, without its top_db clip).
/// </summary>
public sealed record SpectralStatisticsSettings
{
    public int SampleRate { get; init; } = 16_000;
    public int FftSize { get; init; } = 1024;
    public int Hop { get; init; } = 512;
    public int MelBands { get; init; } = 128;
    public double LogFloor { get; init; } = 1e-10;
    /// <summary>Also each band's maximum over time, and the maximum of its <see cref="SmoothingFrames"/>-frame moving
    /// average (the <c>spectral</c> embedder; the baseline has means and deviations only). The two maxima tell a one-frame
    /// peak from a sound that lasts a few frames.</summary>
    public bool IncludeMaximum { get; init; }
    /// <summary>Also the peak of each of 16 band envelopes' modulation spectra (<see cref="EnvelopeModulation"/>; the
    /// <c>spectral</c> embedder): a sound that beats or knocks at a steady rate, at whatever speed the machine runs.</summary>
    public bool IncludeEnvelopeModulation { get; init; }

    /// <summary>Frames of the moving average whose maximum follows the plain maximum: 5 frames, 160 ms at hop 512.</summary>
    public const int SmoothingFrames = 5;

    /// <summary>The embedding: MelBands means, MelBands standard deviations, then (with <see cref="IncludeMaximum"/>)
    /// MelBands maxima and MelBands maxima of the moving average, then (with <see cref="IncludeEnvelopeModulation"/>)
    /// 16 envelope-modulation peaks.</summary>
    public int Dimension => (IncludeMaximum ? 4 : 2) * MelBands + (IncludeEnvelopeModulation ? EnvelopeModulation.Bands : 0);

    /// <summary>Frames of a clip of <paramref name="samples"/> samples: 1 + samples / hop (center=True).</summary>
    public int FrameCount(int samples) => 1 + samples / Hop;

    /// <summary>
    /// Names the embedding: equal ids give equal embeddings (the embedding cache's key, the model version an embedding
    /// records). Bump the "v" when the computation changes.
    /// </summary>
    public string Id => string.Create(CultureInfo.InvariantCulture,
        $"{(IncludeMaximum ? "spectral" : "baseline")}-logmel-stats-v1-sr{SampleRate}-n{FftSize}-h{Hop}-m{MelBands}-slaney-floor{LogFloor:R}{(IncludeMaximum ? $"-max-smax{SmoothingFrames}" : "")}{(IncludeEnvelopeModulation ? EnvelopeModulationId : "")}");

    private const string EnvelopeModulationId = "-envmod-n256-h64-b16-w256-f2to110";


    public SpectralStatisticsSettings Validate()
    {
        if (SampleRate <= 0) throw new ArgumentException($"sample rate must be positive, got {SampleRate}");
        if (FftSize < 2 || (FftSize & (FftSize - 1)) != 0) throw new ArgumentException($"FFT size must be a power of two, got {FftSize}");
        if (Hop <= 0) throw new ArgumentException($"hop must be positive, got {Hop}");
        if (MelBands < 1) throw new ArgumentException($"mel bands must be at least 1, got {MelBands}");
        if (!(LogFloor > 0)) throw new ArgumentException($"log floor must be positive, got {LogFloor}");
        return this;
    }

    public static SpectralStatisticsSettings Default { get; } = new();
    /// <summary>The <c>spectral</c> embedder's settings: the baseline's, plus each band's maximum and smoothed maximum, and
    /// the envelope-modulation peaks.</summary>
    public static SpectralStatisticsSettings Spectral { get; } = new() { IncludeMaximum = true, IncludeEnvelopeModulation = true };

    /// <summary>The <c>spectral</c> embedder before the envelope-modulation peaks (until 2026-12-04): its 512 values are
    /// the first 512 of <see cref="Spectral"/>'s, which is how machines enrolled under it keep scoring.</summary>
    public static SpectralStatisticsSettings SpectralWithoutModulation { get; } = new() { IncludeMaximum = true };
}

/// <summary>
/// The training-free baseline embedder (issue 11): per clip, the mean and the standard deviation over time (population,
/// ddof = 0) of each band of a log-mel spectrogram (<see cref="SpectralStatisticsSettings"/>), 2 × 128 = 256 values.
/// No parameters are learnt; a machine standardises the dimensions on its own training clips
/// (AsdOrleans.Method.Enrollment.FeatureStandardizer) before cosine scoring. Thread-safe: every call uses its own buffers.
/// </summary>
public sealed class SpectralStatisticsEmbedder
{
    private readonly double[] _window;
    private readonly EnvelopeModulation? _modulation;

    public SpectralStatisticsEmbedder(SpectralStatisticsSettings? settings = null)
    {
        Settings = (settings ?? SpectralStatisticsSettings.Default).Validate();
        Filterbank = new MelFilterbank(Settings.SampleRate, Settings.FftSize, Settings.MelBands);
        _window = Windows.PeriodicHann(Settings.FftSize);
        if (Settings.IncludeEnvelopeModulation) _modulation = new EnvelopeModulation(Settings.SampleRate);
    }

    public SpectralStatisticsSettings Settings { get; }
    public MelFilterbank Filterbank { get; }
    public int Dimension => Settings.Dimension;
    public string Id => Settings.Id;

    /// <summary>The embedding of one clip of 16 kHz mono samples: band means, band standard deviations, then band maxima and
    /// smoothed maxima, and envelope-modulation peaks, if set.</summary>
    public float[] Embed(ReadOnlySpan<float> samples)
    {
        var logMel = LogMel(samples, out int frames);
        int bands = Settings.MelBands;
        var embedding = new float[Settings.Dimension];
        for (int m = 0; m < bands; m++)
        {
            var row = logMel.AsSpan(m * frames, frames);
            double mean = 0;
            foreach (double v in row) mean += v;
            mean /= frames;
            double squares = 0, maximum = double.NegativeInfinity;
            foreach (double v in row)
            {
                squares += (v - mean) * (v - mean);
                maximum = Math.Max(maximum, v);
            }
            embedding[m] = (float)mean;
            embedding[bands + m] = (float)Math.Sqrt(squares / frames);
            if (Settings.IncludeMaximum)
            {
                embedding[2 * bands + m] = (float)maximum;
                embedding[3 * bands + m] = (float)SmoothedMaximum(row);
            }
        }
        _modulation?.Peaks(samples, embedding.AsSpan(embedding.Length - EnvelopeModulation.Bands));
        return embedding;
    }

    /// <summary>The largest mean of <see cref="SpectralStatisticsSettings.SmoothingFrames"/> consecutive frames (windows
    /// that fit inside the clip); the mean of all frames when the clip has fewer.</summary>
    public static double SmoothedMaximum(ReadOnlySpan<double> row)
    {
        int width = Math.Min(SpectralStatisticsSettings.SmoothingFrames, row.Length);
        double sum = 0;
        for (int t = 0; t < width; t++) sum += row[t];
        double best = sum;
        for (int t = width; t < row.Length; t++)
        {
            sum += row[t] - row[t - width];
            best = Math.Max(best, sum);
        }
        return best / width;
    }

    /// <summary>
    /// The log-mel spectrogram, row-major [bands × frames]: band m of frame t is at <c>m * frames + t</c>.
    /// </summary>
    public double[] LogMel(ReadOnlySpan<float> samples, out int frames)
    {
        if (samples.Length == 0) throw new ArgumentException("the clip has no samples", nameof(samples));
        int n = Settings.FftSize, hop = Settings.Hop, pad = n / 2, bands = Settings.MelBands;
        frames = Settings.FrameCount(samples.Length);
        var output = new double[bands * frames];
        var mel = new double[bands];
        int frameCount = frames; // an out parameter cannot be captured
        // Centred frames: frame t's middle is sample t·hop, the signal zero outside the clip.
        new PairedPowerSpectra(n).ForEachFrame(samples, _window, hop, firstSample: -pad, frames, (t, power) =>
        {
            Filterbank.Apply(power, mel);
            for (int m = 0; m < bands; m++)
                output[m * frameCount + t] = Math.Log(mel[m] + Settings.LogFloor);
        });
        return output;
    }
}
