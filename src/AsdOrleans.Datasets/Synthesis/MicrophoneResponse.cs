namespace AsdOrleans.Datasets.Synthesis;

/// <summary>
/// The recording chain's colouring: a low cut, a high shelf (tilt above <see cref="ShelfHz"/>) and
/// one peaking resonance (mounting, enclosure). Source and target domains use different microphones.
/// </summary>
public sealed record MicrophoneResponse(double LowCutHz, double ShelfHz, double ShelfDb, double PeakHz, double PeakQ, double PeakDb)
{
    public void Apply(Span<double> signal, int sampleRate)
    {
        var lowCut = Biquad.HighPass(sampleRate, LowCutHz);
        var shelf = Biquad.HighShelf(sampleRate, ShelfHz, ShelfDb);
        var peak = Biquad.Peaking(sampleRate, PeakHz, PeakQ, PeakDb);
        for (int i = 0; i < signal.Length; i++)
            signal[i] = peak.Process(shelf.Process(lowCut.Process(signal[i])));
    }
}
