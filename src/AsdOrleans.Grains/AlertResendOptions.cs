namespace AsdOrleans.Grains;

/// <summary>How often a machine whose stored alerts wait for the alert index is woken to send them
/// (<see cref="Telemetry.AlertResendReminder"/>); at least Orleans' minimum reminder period.</summary>
public sealed class AlertResendOptions
{
    public static readonly TimeSpan DefaultWakePeriod = TimeSpan.FromMinutes(10);

    public TimeSpan WakePeriod { get; set; } = DefaultWakePeriod;
}
