namespace AsdOrleans.Application;

/// <summary>One training WAV for <see cref="MachineUseCases.EnrollFromAudio"/>.</summary>
/// <param name="Wav">The file's bytes.</param>
/// <param name="IsTargetDomain">Whether the clip comes from the target domain (DCASE: the few target-domain training clips).</param>
/// <param name="Name">A name for error messages, such as the file name.</param>
public sealed record TrainingClip(byte[] Wav, bool IsTargetDomain, string Name);
