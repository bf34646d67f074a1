namespace AsdOrleans.Application;

/// <summary>One training WAV for <see cref="MachineUseCases.EnrollFromAudio(string, IReadOnlyList{TrainingClip}, bool, IClipAudio?)"/>.</summary>
/// <param name="Wav">The file's bytes.</param>
/// <param name="IsTargetDomain">Whether the clip comes from the target domain (DCASE: the few target-domain training clips).</param>
/// <param name="Name">A name for error messages, such as the file name.</param>
public sealed record TrainingClip(byte[] Wav, bool IsTargetDomain, string Name);

/// <summary>A training WAV whose bytes are read only when its turn to be embedded comes, so that an enrollment holds the
/// clips in flight rather than the whole training set (the silo's HTTP API reads them back from a spool file).</summary>
/// <param name="ReadWav">Reads the file's bytes; a failure counts as this clip's.</param>
/// <param name="IsTargetDomain">As <see cref="TrainingClip.IsTargetDomain"/>.</param>
/// <param name="Name">As <see cref="TrainingClip.Name"/>.</param>
public sealed record TrainingClipSource(Func<Task<byte[]>> ReadWav, bool IsTargetDomain, string Name);
