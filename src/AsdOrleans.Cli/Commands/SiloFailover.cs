using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// Failover across the silos of one <c>--url</c> list (any silo serves any machine): a request goes to the current silo,
/// and a silo that is not serving moves the cursor to the next one, round robin. Inside the retry handler of
/// <see cref="ClusterHttp"/>, so that <c>--retries</c> counts tries as before; only where more than one silo is listed.
/// <list type="bullet">
/// <item>A silo that could not be reached (no connection made: refused, no such host, TLS, a connect timeout) got
/// nothing, so the same try goes on at once to the next silo, once around the list, whatever the call: that is what
/// a list promises even with <c>--retries 0</c>.</item>
/// <item>An answer that says this silo is not serving (502/503/504: stopping, not ready, the cluster's store lost or
/// not durable, at its clip-work or event-stream limit) or a connection lost after the request went out: the next try
/// (a retry, or the command's next call) goes to the next silo, for calls that are safe to send again
/// (<see cref="SafeToRepeat"/>) only. Busy moves on too: the limit is the silo's own, and the answer came before the
/// body was read; the retry still waits the Retry-After the silo asked for, so gateways refused everywhere do not
/// hammer the cluster.</item>
/// </list>
/// </summary>
internal sealed partial class SiloFailover(IReadOnlyList<Uri> silos, TextWriter? notices) : DelegatingHandler
{
    /// <summary>Where each try of one call went and why it failed, for the error that names every silo tried.</summary>
    internal static readonly HttpRequestOptionsKey<List<(Uri Silo, string Why)>> Failures = new("asd.silo-failures");
    /// <summary>The silo whose event id a <c>Last-Event-ID</c> header carries: ids are numbered per silo.</summary>
    internal static readonly HttpRequestOptionsKey<Uri> EventIdFrom = new("asd.event-id-from");
    /// <summary>How long a connection to one silo may take before the next is tried (the operating system's is about 2 min).</summary>
    internal static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    private int _current;

    public IReadOnlyList<Uri> Silos => silos;

    /// <summary>The silo the next request goes to.</summary>
    public Uri Current => silos[Volatile.Read(ref _current)];

    /// <summary>Moves the cursor past <paramref name="silo"/> if it is still the current one (concurrent calls that
    /// failed on the same silo move it once).</summary>
    public void MoveOnFrom(Uri silo)
    {
        int index = IndexOf(silo);
        if (index >= 0) MoveOn(index);
    }

    private void MoveOn(int index) => Interlocked.CompareExchange(ref _current, (index + 1) % silos.Count, index);

    private int IndexOf(Uri silo)
    {
        for (int i = 0; i < silos.Count; i++)
            if (SameSilo(silos[i], silo)) return i;
        return -1;
    }

    public static bool SameSilo(Uri a, Uri b)
        => string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase) && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    /// <summary>A silo's address as the messages name it.</summary>
    public static string Name(Uri silo) => silo.GetLeftPart(UriPartial.Authority);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellation)
    {
        int start = Volatile.Read(ref _current);
        for (int step = 0; ; step++)
        {
            int index = (start + step) % silos.Count;
            var silo = silos[index];
            Point(request, silo);
            try
            {
                var response = await base.SendAsync(request, cancellation).ConfigureAwait(false);
                if (NotServing(response) && SafeToRepeat(request))
                {
                    Record(request, silo, $"{(int)response.StatusCode} {response.ReasonPhrase}");
                    MoveOn(index);
                }
                return response;
            }
            catch (Exception e) when (NotReached(e, cancellation) is { } why)
            {
                // Nothing reached this silo: the same try goes on to the next one, once around the list.
                Record(request, silo, why);
                MoveOn(index);
                if (step + 1 >= silos.Count)
                    throw new HttpRequestException(HttpRequestError.ConnectionError,
                        "no silo of the list could be reached: " + string.Join("; ", FailuresOf(request).Select(f => $"{Name(f.Silo)}: {f.Why}")), e);
                notices?.WriteLine($"{request.RequestUri!.AbsolutePath}: the silo at {Name(silo)} cannot be reached ({why}); trying {Name(silos[(index + 1) % silos.Count])}");
            }
            catch (Exception e) when (e is HttpRequestException or IOException && !cancellation.IsCancellationRequested)
            {
                // It may have reached the silo (a connection lost while it answered): a retry moves on only for calls
                // that are safe to send again; the others stay where they were (and are not retried: ClusterHttp).
                Record(request, silo, e.GetBaseException().Message);
                if (SafeToRepeat(request)) MoveOn(index);
                throw;
            }
        }
    }

    /// <summary>Points the request at <paramref name="silo"/> (scheme, host, port; the path and query stay), and keeps an
    /// event id for the silo that numbered it: another silo is asked from id 0, which it answers with a reset (the
    /// follower then reads what it missed from the lists), never with its own events after a number that was not its.</summary>
    private static void Point(HttpRequestMessage request, Uri silo)
    {
        request.RequestUri = new UriBuilder(request.RequestUri!) { Scheme = silo.Scheme, Host = silo.Host, Port = silo.Port }.Uri;
        if (request.Options.TryGetValue(EventIdFrom, out var from) && request.Options.TryGetValue(LastEventId, out var id))
        {
            request.Headers.Remove("Last-Event-ID");
            request.Headers.Add("Last-Event-ID", SameSilo(from, silo) ? id : "0");
        }
    }

    /// <summary>The event id as the caller gave it (the header is rewritten per silo).</summary>
    internal static readonly HttpRequestOptionsKey<string> LastEventId = new("asd.last-event-id");

    private static void Record(HttpRequestMessage request, Uri silo, string why)
    {
        if (!request.Options.TryGetValue(Failures, out var failures))
            request.Options.Set(Failures, failures = []);
        lock (failures) failures.Add((silo, why));
    }

    public static IReadOnlyList<(Uri Silo, string Why)> FailuresOf(HttpRequestMessage request)
        => request.Options.TryGetValue(Failures, out var failures) ? failures : [];

    /// <summary>502/503/504: the silo (or what stands in front of it) is not serving now.</summary>
    private static bool NotServing(HttpResponseMessage response)
        => response.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout;

    /// <summary>Why no connection was made to the silo (so the request never reached it); null when one was.</summary>
    internal static string? NotReached(Exception e, CancellationToken cancellation) => e switch
    {
        HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError } http
            => (http.InnerException as SocketException)?.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => "connection refused",
                SocketError.HostNotFound or SocketError.NoData => "no such host",
                _ => http.GetBaseException().Message,
            },
        // SocketsHttpHandler's ConnectTimeout: a cancellation whose cause is a TimeoutException, while the caller's token is not cancelled.
        OperationCanceledException { InnerException: TimeoutException } when !cancellation.IsCancellationRequested
            => $"no connection within {ConnectTimeout.TotalSeconds:0} s",
        _ => null,
    };

    /// <summary>
    /// Whether a call may be sent again, to this silo or another (they serve the same machines, so one is as safe as the
    /// other), after it may have reached a silo: reads; PUT of a machine's settings; a clip with its clip id (a repeat is
    /// answered with its first verdict, not scored twice); a label answer (the same answer again is "already applied",
    /// another is a conflict); a claim or its release (the same labeller's lease, renewed). Not safe: an enrollment (it
    /// replaces the model and starts the stream over), a decline, retiring a machine, accepting a store's loss, and
    /// anything else.
    /// </summary>
    public static bool SafeToRepeat(HttpRequestMessage request)
    {
        string path = request.RequestUri?.AbsolutePath ?? "";
        if (request.Method == HttpMethod.Get || request.Method == HttpMethod.Head || request.Method == HttpMethod.Options)
            return true;
        if (request.Method == HttpMethod.Put)
            return MachinePath().IsMatch(path);
        if (request.Method == HttpMethod.Post)
            return ClipPath().IsMatch(path) && (request.RequestUri?.Query.Contains("clipId=", StringComparison.Ordinal) ?? false)
                || AnswerPath().IsMatch(path);
        if (request.Method == HttpMethod.Delete)
            return ClaimPath().IsMatch(path);
        return false;
    }

    [GeneratedRegex("^/api/machines/[^/]+$")]
    private static partial Regex MachinePath();
    [GeneratedRegex("^/api/machines/[^/]+/clips$")]
    private static partial Regex ClipPath();
    [GeneratedRegex("^/api/machines/[^/]+/clips/[^/]+/(label|claim)$")]
    private static partial Regex AnswerPath();
    [GeneratedRegex("^/api/machines/[^/]+/clips/[^/]+/claim$")]
    private static partial Regex ClaimPath();
}
