using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace AsdOrleans.Silo;

/// <summary>
/// What a silo checks before it starts anything: every setting binds to its type, lies in a range the silo can use,
/// and the silo-to-silo and gateway ports are free. Each problem stops the start with one line naming the setting
/// (<see cref="SiloConfigurationException"/>), instead of a host failure with a stack trace or a silo that starts and
/// then refuses every clip.
/// </summary>
public static partial class SiloStartupChecks
{
    /// <summary>Binds a configuration section, naming the setting and its value where one does not convert.</summary>
    public static T Bind<T>(IConfiguration configuration, string section) where T : new()
    {
        try
        {
            return configuration.GetSection(section).Get<T>() ?? new T();
        }
        catch (InvalidOperationException e) when (ConversionFailure().Match(e.Message) is { Success: true } failed)
        {
            string key = failed.Groups["key"].Value, type = failed.Groups["type"].Value;
            throw new SiloConfigurationException(
                $"{key} ({key.Replace(":", "__")}): '{configuration[key]}' is not {TypeInWords(type)}", e);
        }
    }

    [GeneratedRegex(@"configuration value (?:'.*' )?at '(?<key>[^']+)' to type '(?<type>[^']+)'")]
    private static partial Regex ConversionFailure();

    private static string TypeInWords(string type) => ValueForms.InWords(type) ?? $"a {type}";

    /// <summary>The first setting of <paramref name="options"/> the silo cannot use, or null.</summary>
    public static string? Problem(SiloOptions options)
    {
        static string? Below(string name, double value, double least, string what)
            => value >= least ? null : $"Asd:{name} (Asd__{name}) must be {what}, got {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        return (options.MachineIdleMinutes > 0 && double.IsFinite(options.MachineIdleMinutes)
                ? null : $"Asd:MachineIdleMinutes (Asd__MachineIdleMinutes) must be a positive number of minutes, got {options.MachineIdleMinutes}")
            ?? Below(nameof(options.MaxClipBytes), options.MaxClipBytes, 1, "at least 1 byte")
            ?? Below(nameof(options.MaxEnrollmentJsonBytes), options.MaxEnrollmentJsonBytes, 1, "at least 1 byte")
            ?? Below(nameof(options.MaxEnrollmentAudioBytes), options.MaxEnrollmentAudioBytes, 1, "at least 1 byte")
            ?? Below(nameof(options.EncoderMaxBatchSize), options.EncoderMaxBatchSize, 1, "at least 1 clip")
            ?? Below(nameof(options.AlertAudioPerMachine), options.AlertAudioPerMachine, 0, "0 (keep none) or more")
            ?? Below(nameof(options.NormalExamplesPerMachine), options.NormalExamplesPerMachine, 0, "0 (keep none) or more")
            ?? Below(nameof(options.LabelledAudioPerMachine), options.LabelledAudioPerMachine, 0, "0 (keep none) or more")
            ?? Below(nameof(options.MaxConcurrentClips), options.MaxConcurrentClips, 1, "at least 1 request")
            ?? Below(nameof(options.QueuedClips), options.QueuedClips, 0, "0 (refuse at once) or more")
            ?? Below(nameof(options.MaxEventStreams), options.MaxEventStreams, 1, "at least 1 stream")
            ?? Below(nameof(options.MaxEventStreamsPerLabeller), options.MaxEventStreamsPerLabeller, 1, "at least 1 stream")
            ?? (options.DeadClientSeconds is >= 0 and <= 3600 ? null
                : $"Asd:DeadClientSeconds (Asd__DeadClientSeconds) must be 0 (the kernel's default) to 3600 seconds, got {options.DeadClientSeconds}")
            ?? (options.SpreadOnJoinSeconds is >= 0 and <= 3600 ? null
                : $"Asd:SpreadOnJoinSeconds (Asd__SpreadOnJoinSeconds) must be 0 (off) to 3600 seconds, got {options.SpreadOnJoinSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}")
            ?? (options.GrainDirectory is "local" or "distributed" ? null
                : $"Asd:GrainDirectory (Asd__GrainDirectory) must be local (the default) or distributed, got '{options.GrainDirectory}'");
    }

    /// <summary>
    /// Refuses an HTTP address of <paramref name="urls"/> (Kestrel's "urls": ';'-separated) that another process listens
    /// on, with one line: Kestrel's own refusal comes after the host has logged its failure with a stack trace. Host
    /// names other than localhost and port 0 are left to Kestrel.
    /// </summary>
    public static void RequireFreeHttpPorts(string? urls)
    {
        foreach (var url in (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var match = UrlHostAndPort().Match(url);
            if (!match.Success || !int.TryParse(match.Groups["port"].Value, out int port) || port is <= 0 or > 65535) continue;
            string host = match.Groups["host"].Value.Trim('[', ']');
            IPAddress? address = host is "*" or "+" or "0.0.0.0" ? IPAddress.Any
                : host == "localhost" ? IPAddress.Loopback
                : IPAddress.TryParse(host, out var parsed) ? parsed : null;
            if (address is not null)
                RequireFreePorts(address, ("--urls", port));
        }
    }

    [GeneratedRegex(@"^https?://(?<host>\[[^\]]+\]|[^:/]+):(?<port>\d+)")]
    private static partial Regex UrlHostAndPort();

    /// <summary>
    /// Refuses a silo or gateway port another process listens on. Orleans listens with address reuse, so a second silo
    /// given a running one's port would share it, and the running silo, told by the membership table that its address
    /// belongs to a newer silo, would stop. The probe reuses only TIME_WAIT addresses (SO_REUSEADDR), so a silo restarted
    /// at once on its old port still starts.
    /// </summary>
    public static void RequireFreePorts(IPAddress listenAddress, params (string Setting, int Port)[] ports)
    {
        foreach (var (setting, port) in ports)
        {
            if (port == 0) continue; // no gateway
            using var probe = new Socket(listenAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (OperatingSystem.IsLinux())
                probe.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
            try
            {
                probe.Bind(new IPEndPoint(listenAddress, port));
                probe.Listen(1);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
            {
                throw new SiloConfigurationException(
                    $"{setting} {port}: {listenAddress}:{port} is {(e.SocketErrorCode == SocketError.AccessDenied ? "not ours to listen on" : "in use (another silo on this host?)")}; "
                    + (setting == "--urls" ? "give this silo another HTTP address (--urls)" : "give this silo other ports (--silo-port, --gateway-port)"), e);
            }
        }
    }
}
