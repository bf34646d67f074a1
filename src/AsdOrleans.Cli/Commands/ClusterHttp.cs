using Polly;
using System.CommandLine;
using System.Net.Http.Headers;
using System.Text.Json;

namespace AsdOrleans.Cli.Commands;

/// <summary>
/// The CLI talks to a silo through its HTTP API, as devices and labelling services do: the same API keys and
/// roles apply, and it needs no Orleans gateway access (the .NET client library is for services inside the plant).
/// </summary>
public sealed class ClusterHttp : IDisposable
{
    private readonly HttpClient _http;
    /// <summary>Where --url lists several silos: the handler that moves between them; null for one.</summary>
    private readonly SiloFailover? _failover;
    /// <summary>The silo that served the last event stream opened (a reconnect goes to the next one).</summary>
    private Uri? _streamSilo;

    /// <param name="url">A silo's address, or several separated by commas (any silos of one cluster): a call goes to
    /// the current one and moves on to the next where a silo is not serving (<see cref="SiloFailover"/>).</param>
    /// <param name="retries">Retries of a failed call (connection errors, 408, 429, 5xx such as 503 + Retry-After),
    /// with exponential back-off and jitter (Microsoft.Extensions.Http.Resilience); 0: none. A call that is not safe to
    /// send twice (<see cref="SiloFailover.SafeToRepeat"/>: an enrollment, a decline, …) is retried only where it did
    /// not reach a silo.</param>
    /// <param name="retryNotices">Where each retry is announced (why, and when the next try is), so a command that waits
    /// for a cluster says so instead of falling silent; with several silos, also each move to the next; null: nowhere.</param>
    public ClusterHttp(string url, string key, int retries = 0, TextWriter? retryNotices = null)
    {
        var silos = Silos(url);
        var uri = silos[0];
        if (string.IsNullOrWhiteSpace(key))
            throw new UsageException("--key: an API key is required");
        HttpMessageHandler handler = new SocketsHttpHandler();
        if (silos.Count > 1)
        {
            // A silo that takes no connection is skipped after ConnectTimeout, not the operating system's 2 minutes.
            _failover = new SiloFailover(silos, retryNotices) { InnerHandler = new SocketsHttpHandler { ConnectTimeout = SiloFailover.ConnectTimeout } };
            handler = _failover;
        }
        if (retries > 0)
        {
            var failover = _failover;
            var transient = new Microsoft.Extensions.Http.Resilience.HttpRetryStrategyOptions().ShouldHandle; // the library's own: connection errors, timeouts, 408, 429, 5xx
            var pipeline = new Polly.ResiliencePipelineBuilder<HttpResponseMessage>()
                .AddRetry(new Microsoft.Extensions.Http.Resilience.HttpRetryStrategyOptions
                {
                    MaxRetryAttempts = retries,
                    Delay = TimeSpan.FromMilliseconds(500),
                    BackoffType = Polly.DelayBackoffType.Exponential,
                    UseJitter = true,
                    ShouldHandle = async args => await transient(args)
                        && (args.Context.GetRequestMessage() is not { } sent || SiloFailover.SafeToRepeat(sent)
                            || args.Outcome.Exception is { } e && SiloFailover.NotReached(e, args.Context.CancellationToken) is not null),
                    OnRetry = retry =>
                    {
                        string why = retry.Outcome.Result is { } answer
                            ? $"{(int)answer.StatusCode} {answer.ReasonPhrase}" + (answer.Headers.RetryAfter?.Delta is { } after ? $" (Retry-After {after.TotalSeconds:0} s)" : "")
                            : retry.Outcome.Exception?.GetBaseException().Message ?? "no answer";
                        var request = retry.Context.GetRequestMessage();
                        string path = retry.Outcome.Result?.RequestMessage?.RequestUri?.AbsolutePath ?? (failover is null ? uri.ToString() : request?.RequestUri?.AbsolutePath ?? "");
                        if (failover is null)
                            retryNotices?.WriteLine($"{path}: {why}; try {retry.AttemptNumber + 2} of {retries + 1} in {retry.RetryDelay.TotalSeconds:0.#} s");
                        else
                        {
                            // The silo that failed this try (a whole pass that reached none names them all in its message).
                            string failed = retry.Outcome.Result?.RequestMessage?.RequestUri is { } answered ? SiloFailover.Name(answered)
                                : request is not null && SiloFailover.FailuresOf(request) is { Count: > 0 } failures ? SiloFailover.Name(failures[^1].Silo) : "the silo";
                            retryNotices?.WriteLine($"{path}: {why} from {failed}; try {retry.AttemptNumber + 2} of {retries + 1} in {retry.RetryDelay.TotalSeconds:0.#} s, at {SiloFailover.Name(failover.Current)}");
                        }
                        return ValueTask.CompletedTask;
                    },
                })
                .Build();
            handler = new Microsoft.Extensions.Http.Resilience.ResilienceHandler(pipeline) { InnerHandler = handler };
        }
        _http = new HttpClient(handler) { BaseAddress = uri, Timeout = TimeSpan.FromMinutes(30) };
        _http.DefaultRequestHeaders.Add(AsdOrleans.Silo.ApiKeys.Header, key);
    }

    public async Task<JsonElement> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellation, string? key = null)
    {
        using var document = JsonDocument.Parse(await SendForBytesAsync(method, path, content, cancellation, key));
        return document.RootElement.Clone();
    }

    /// <summary>The response body as bytes (e.g. a clip's audio); a non-2xx answer is a <see cref="UsageException"/> with the problem's detail.</summary>
    public async Task<byte[]> SendForBytesAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellation, string? key = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (key is not null)
        {
            request.Headers.Remove(AsdOrleans.Silo.ApiKeys.Header);
            request.Headers.Add(AsdOrleans.Silo.ApiKeys.Header, key);
        }
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellation);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(request, e);
        }
        using (response)
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellation);
            if (!response.IsSuccessStatusCode)
                throw Refused(method, path, response, bytes);
            return bytes;
        }
    }

    /// <summary>
    /// A Server-Sent Events response body (<c>/api/events</c>), read as it arrives; <paramref name="lastEventId"/>
    /// resumes after that event. Disposing the stream ends the request. <c>ServerTime</c>: the response's <c>Date</c>
    /// header (the silo's clock, to the second), null where none came.
    /// </summary>
    /// <remarks>With several silos, a stream opened after another goes to the silo after the one that served the last
    /// (it dropped: that silo may be stopping), and <c>Silo</c> says which one answered. Event ids are numbered per silo:
    /// <paramref name="lastEventFrom"/> names the silo that sent <paramref name="lastEventId"/>, and another silo is
    /// asked from id 0, which it answers with a <c>reset</c> (the caller reads what it missed from the lists).</remarks>
    public async Task<(Stream Body, DateTimeOffset? ServerTime, Uri Silo)> OpenEventStreamAsync(string path, string? lastEventId, CancellationToken cancellation,
        Uri? lastEventFrom = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        if (_failover is not null)
        {
            // Once, right after that stream: a later try starts where the cursor is (a silo that refused this one, or
            // could not be reached, already moved it), or two silos would have the follower skip the one that is up
            // each time, back to the one that keeps refusing.
            if (_streamSilo is not null) _failover.MoveOnFrom(_streamSilo);
            _streamSilo = null;
            if (lastEventId is not null && lastEventFrom is not null)
            {
                request.Options.Set(SiloFailover.LastEventId, lastEventId);
                request.Options.Set(SiloFailover.EventIdFrom, lastEventFrom);
            }
        }
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(request, e);
        }
        if (response.IsSuccessStatusCode)
        {
            var silo = _failover is null ? _http.BaseAddress! : new Uri(SiloFailover.Name(response.RequestMessage?.RequestUri ?? _failover.Current));
            if (_failover is not null) _streamSilo = silo;
            return (await response.Content.ReadAsStreamAsync(cancellation), response.Headers.Date, silo);
        }
        using (response)
            throw Refused(HttpMethod.Get, path, response, await response.Content.ReadAsByteArrayAsync(cancellation));
    }

    /// <summary>"cannot reach the silo at X" as before for one silo; with several, every silo this call tried.</summary>
    private UsageException Unreachable(HttpRequestMessage request, HttpRequestException e)
    {
        if (_failover is null)
            return new UsageException($"cannot reach the silo at {_http.BaseAddress}: {e.Message}");
        var tried = SiloFailover.FailuresOf(request).Select(f => SiloFailover.Name(f.Silo)).Distinct().ToList();
        if (tried.Count == 0) tried.Add(SiloFailover.Name(request.RequestUri ?? _failover.Current));
        return new UsageException($"cannot reach the silo{(tried.Count > 1 ? "s" : "")} at {string.Join(", ", tried)} (of --url {string.Join(",", _failover.Silos.Select(SiloFailover.Name))}): {e.Message}");
    }

    /// <summary>
    /// The silos of a --url: one address, or several separated by commas (any silos of one cluster). Each must be an
    /// http(s) address; a silo listed twice is refused (a typo'd list is more likely than a wish to try one silo twice).
    /// </summary>
    /// <param name="option">The option that gave the list, as errors name it.</param>
    public static IReadOnlyList<Uri> Silos(string url, string option = "--url")
    {
        if (!url.Contains(','))
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var single) || single.Scheme is not ("http" or "https"))
                throw new UsageException($"{option}: '{url}' is not an http(s) address");
            return [single];
        }
        var silos = new List<Uri>();
        foreach (string part in url.Split(','))
        {
            string address = part.Trim();
            if (address.Length == 0)
                throw new UsageException($"{option}: '{url}' has an empty address in its list (addresses are separated by single commas)");
            if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new UsageException($"{option}: '{address}' (in the list '{url}') is not an http(s) address");
            if (silos.FirstOrDefault(s => SiloFailover.SameSilo(s, uri)) is { } listed)
                throw new UsageException($"{option}: {SiloFailover.Name(listed)} is listed twice in '{url}'");
            silos.Add(uri);
        }
        return silos;
    }

    private static SiloRefusedException Refused(HttpMethod method, string path, HttpResponseMessage response, byte[] body)
    {
        string text = System.Text.Encoding.UTF8.GetString(body);
        string detail = text;
        string? code = null;
        try
        {
            var problem = JsonDocument.Parse(text).RootElement;
            code = OptionalString(problem, "code");
            detail = problem.GetProperty("detail").GetString() ?? text;
        }
        catch (JsonException) { } catch (KeyNotFoundException) { } catch (InvalidOperationException) { }
        var retryAfter = response.Headers.RetryAfter is { } header ? header.Delta ?? header.Date - DateTimeOffset.UtcNow : null;
        return new SiloRefusedException((int)response.StatusCode, detail, $"{method} {path}: {(int)response.StatusCode} {response.ReasonPhrase}: {detail}", code)
        {
            RetryAfter = retryAfter > TimeSpan.Zero ? retryAfter : null,
        };
    }

    /// <summary>An answer's queryReason (a verdict's or a label request's): uncertain, random, committee, budget-floor;
    /// "unrecorded" where the silo gives none (a request stored before machines kept it).</summary>
    public static string QueryReason(JsonElement answer) => OptionalString(answer, "queryReason") ?? "unrecorded";

    /// <summary>A string property that an older silo may not send, or sends as null.</summary>
    public static string? OptionalString(JsonElement answer, string name)
        => answer.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public static ByteArrayContent Wav(byte[] bytes)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("audio/wav");
        return content;
    }

    /// <summary>Where the key comes from when --key is not given: an argument is visible to every local user in the
    /// process list and stays in shell history.</summary>
    public const string KeyVariable = "ASD_KEY";

    /// <summary>The --url and --key options of every command that talks to a silo's HTTP API; <paramref name="role"/>
    /// names the key it needs in the help.</summary>
    public static (Option<string> Url, Option<string> Key) Options(string role)
    {
        // No default value: help prints an option's default, and $ASD_KEY's is a secret (KeyOf reads it instead).
        var key = new Option<string>("--key")
        {
            Description = $"{role} API key; default: ${KeyVariable} (preferred: a --key argument shows in the process list and the shell's history)",
        };
        key.Validators.Add(result =>
        {
            if (string.IsNullOrEmpty(result.GetValueOrDefault<string>()))
                result.AddError(KeyNeeded(role));
        });
        KeyRoles.AddOrUpdate(key, role);
        return (new Option<string>("--url")
        {
            Description = "silo address (any silo of a cluster), e.g. http://127.0.0.1:5080; or several, comma-separated "
                + "(http://a:5080,http://b:5080): a silo that cannot be reached or is not serving (503) is skipped for the next",
            Required = true,
        }, key);
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Option<string>, string> KeyRoles = [];

    private static string KeyNeeded(string role) => $"a {role} API key is needed: set {KeyVariable} (or pass --key)";

    /// <summary>The key of an <see cref="Options"/> pair: --key, else $ASD_KEY; neither is a usage error naming the role.</summary>
    public static string KeyOf(ParseResult parse, Option<string> key)
        => parse.GetValue(key) is { Length: > 0 } given ? given
            : Environment.GetEnvironmentVariable(KeyVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment
            : throw new UsageException(KeyNeeded(KeyRoles.TryGetValue(key, out var role) ? role : "silo"));

    /// <summary>Names the labeller on every request from here on (<c>X-Labeller</c>; the machine records it with each answer);
    /// null names nobody.</summary>
    public ClusterHttp AsLabeller(string? name)
    {
        if (name is null) return this;
        if (!AsdOrleans.Method.Vocabulary.Identifiers.IsValidLabellerName(name))
            throw new UsageException("--labeller: " + AsdOrleans.Method.Vocabulary.Identifiers.InvalidLabellerName(name));
        _http.DefaultRequestHeaders.Add(AsdOrleans.Silo.MachineApi.LabellerHeader, name);
        return this;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>A non-2xx answer from the silo: its status and the problem's detail, for callers that expect some refusals.</summary>
public sealed class SiloRefusedException(int status, string detail, string message, string? code = null) : UsageException(message)
{
    public int Status { get; } = status;
    public string Detail { get; } = detail;
    /// <summary>The problem's <c>code</c>, where the silo names the refusal (e.g. <c>carry-raced</c>); else null.</summary>
    public string? Code { get; } = code;
    /// <summary>The answer's <c>Retry-After</c>, where the silo said how long to wait (a silo at one of its limits); else null.</summary>
    public TimeSpan? RetryAfter { get; init; }
}
