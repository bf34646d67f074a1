using System.Text.Json.Serialization;

namespace AsdOrleans.Encoder.Model;

/// <summary>
/// Which views of a clip the encoder learns from (docs/decisions.md, issue 11 — the encoder recipe).
/// <see cref="Spectrogram"/> is issue 3's encoder: a ResNet over the log-STFT frames, temporal statistics pooling.
/// <see cref="Spectrum"/> sees only the clip's mean and standard deviation over time of each log-STFT bin, through
/// a 1-D convolutional net (cheap, fine frequency resolution). <see cref="Both"/> concatenates the two, each giving
/// half of the embedding (the two-branch design of Wilkinghoff's DCASE systems, with a statistics spectrum).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<EncoderBranches>))]
public enum EncoderBranches
{
    Spectrogram = 0,
    Spectrum = 1,
    Both = 2,
}
