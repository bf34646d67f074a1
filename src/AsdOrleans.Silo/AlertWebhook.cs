using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Grains;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo;

/// <summary>
/// Alerts POSTed to a receiver the plant runs (section "Asd:AlertWebhook"; <c>Asd__AlertWebhook__Url</c>): a pager
/// bridge, an incident tool, a work-order system. Off while <see cref="Url"/> is empty. docs/deploy.md, "Alerts to a
/// webhook".
/// </summary>
public sealed class AlertWebhookOptions
{
    public const string Section = "Asd:AlertWebhook";

    /// <summary>The receiver (http or https); empty: no webhook.</summary>
    public string Url { get; set; } = "";
    /// <summary>Key of the HMAC-SHA256 signature of each body (header <see cref="HttpAlertWebhookSender.SignatureHeader"/>);
    /// empty: bodies go unsigned (the silo logs a warning at start).</summary>
    public string Secret { get; set; } = "";
    /// <summary>The silo's HTTP API as the receiver's readers reach it (say https://asd.plant-a.example): makes the
    /// alerts' audio URLs absolute. Empty: they are paths on the API.</summary>
    public string ApiUrl { get; set; } = "";
    /// <summary>Most alerts in one POST.</summary>
    public int BatchSize { get; set; } = 100;
    /// <summary>How long a POST may take before it counts as failed.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>The longest wait between two tries of a failing batch (the wait doubles from 1 s).</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(1);

    public bool Enabled => !string.IsNullOrWhiteSpace(Url);

    /// <summary>What is wrong with the settings, or null.</summary>
    public string? Problem()
    {
        if (!Enabled) return null;
        if (!IsHttpUrl(Url))
            return $"Asd:AlertWebhook:Url '{Url}' is not an absolute http or https URL";
        if (ApiKeyOptions.IsPlaceholder(Secret))
            return $"Asd:AlertWebhook:Secret is still the example's placeholder ('{Secret}'): replace it with a secret of your own";
        if (ApiUrl.Length > 0 && !IsHttpUrl(ApiUrl))
            return $"Asd:AlertWebhook:ApiUrl '{ApiUrl}' is not an absolute http or https URL";
        if (BatchSize is < 1 or > 1_000)
            return $"Asd:AlertWebhook:BatchSize must be between 1 and 1000, got {BatchSize}";
        if (Timeout < TimeSpan.FromSeconds(1) || Timeout > TimeSpan.FromMinutes(5))
            return $"Asd:AlertWebhook:Timeout must be between 00:00:01 and 00:05:00, got {Timeout}";
        if (MaxRetryDelay < TimeSpan.FromSeconds(1) || MaxRetryDelay > TimeSpan.FromHours(1))
            return $"Asd:AlertWebhook:MaxRetryDelay must be between 00:00:01 and 01:00:00, got {MaxRetryDelay}";
        return null;
    }

    private static bool IsHttpUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}

/// <summary>One POST of the alert webhook: a run of one alert-index shard's alerts, oldest first.</summary>
/// <param name="Delivery">"shard-first": the same for every try of the same batch, so a receiver can drop repeats.</param>
/// <param name="Shard">The alert-index shard (0–31); each shard's alerts arrive in order, shards independently.</param>
/// <param name="First">The shard's number of the first alert; the next batch of the shard starts at First + Alerts' count.</param>
/// <param name="Alerts">As <c>GET /api/alerts</c> lists them.</param>
public sealed record AlertWebhookDelivery(string Delivery, long Shard, long First, DateTimeOffset SentAt, IReadOnlyList<AlertView> Alerts);

/// <summary>Posts alert batches as JSON (<see cref="AlertWebhookDelivery"/>), signed when a secret is set.</summary>
public sealed class HttpAlertWebhookSender : IAlertWebhookSender, IDisposable
{
    /// <summary>"sha256=" and the lower-case hex HMAC-SHA256 of the body under <see cref="AlertWebhookOptions.Secret"/>.</summary>
    public const string SignatureHeader = "X-Asd-Signature";
    /// <summary>The batch's <see cref="AlertWebhookDelivery.Delivery"/>.</summary>
    public const string DeliveryHeader = "X-Asd-Delivery";

    private readonly AlertWebhookOptions _options;
    private readonly ClipAudioStore _audio;
    private readonly JsonSerializerOptions _json;
    private readonly HttpClient _http;
    private readonly byte[]? _key;

    public HttpAlertWebhookSender(AlertWebhookOptions options, ClipAudioStore audio, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json, ILogger<HttpAlertWebhookSender> logger)
    {
        _options = options;
        _audio = audio;
        _json = json.Value.SerializerOptions; // as the API writes its alerts
        // One client for the silo's life; its connections are renewed every few minutes so that a receiver whose name
        // moves to another address (a Kubernetes service, a failover) is found there.
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) }) { Timeout = options.Timeout };
        _key = options.Secret.Length > 0 ? System.Text.Encoding.UTF8.GetBytes(options.Secret) : null;
        if (_key is null)
            logger.LogWarning("alert webhook: Asd:AlertWebhook:Secret is empty, so alerts go to {Url} unsigned", options.Url);
    }

    public string Destination => _options.Url;
    public int BatchSize => _options.BatchSize;
    public TimeSpan MaxRetryDelay => _options.MaxRetryDelay;

    public static string Signature(byte[] key, byte[] body) => "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(key, body));

    public async Task<string?> Send(long shard, long first, IReadOnlyList<IndexedAlert> alerts, CancellationToken cancellation)
    {
        string delivery = $"{shard}-{first}";
        var body = JsonSerializer.SerializeToUtf8Bytes(new AlertWebhookDelivery(delivery, shard, first, DateTimeOffset.UtcNow,
            alerts.Select(a => ConsoleApi.ViewOf(a, _audio, _options.ApiUrl.Length > 0 ? _options.ApiUrl : null)).ToList()), _json);
        using var request = new HttpRequestMessage(HttpMethod.Post, _options.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add(DeliveryHeader, delivery);
        if (_key is not null) request.Headers.Add(SignatureHeader, Signature(_key, body));
        try
        {
            using var response = await _http.SendAsync(request, cancellation);
            return response.IsSuccessStatusCode ? null : $"the receiver answered {(int)response.StatusCode} {response.ReasonPhrase}";
        }
        catch (HttpRequestException e)
        {
            return e.Message;
        }
        catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return $"no answer within {_options.Timeout}";
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>One alert-index shard's webhook delivery (<c>GET /api/alert-webhook</c>).</summary>
/// <param name="Next">The shard's next alert number to deliver.</param>
/// <param name="Written">One past the shard's newest written alert number.</param>
/// <param name="Waiting">Written alerts not yet taken by the receiver.</param>
/// <param name="LastFailure">Why the last POST failed; null when it succeeded.</param>
/// <param name="Silo">The silo its deliverer is active on (null when it is not), as <c>GET /api/cluster</c> names silos.</param>
public sealed record AlertWebhookShardView(long Shard, long Next, long Written, long Waiting, string? LastFailure, string? Silo);

/// <summary>The webhook as the answering silo is configured, and where each shard's delivery stands.</summary>
/// <param name="Url">The receiver; null: this silo has no webhook (then nothing else is filled).</param>
public sealed record AlertWebhookView(string? Url, long Waiting, int FailingShards, IReadOnlyList<AlertWebhookShardView> Shards)
{
    public static async Task<AlertWebhookView> Of(IGrainFactory grains, AlertWebhookOptions? options)
    {
        if (options is null) return new(null, 0, 0, []);
        var management = grains.GetGrain<IManagementGrain>(0);
        var shards = await Task.WhenAll(AlertIndexShards.All(grains).Select(async (index, shard) =>
        {
            var deliverer = grains.GetGrain<IAlertWebhookGrain>(shard);
            var position = await deliverer.Position();
            long written = (await index.Written(position.Next, 1)).End;
            // A deliverer that has not started counts from the first alerts written after it was configured.
            long waiting = position.Started ? Math.Max(0, written - position.Next) : 0;
            var silo = await management.GetActivationAddress(deliverer);
            return new AlertWebhookShardView(shard, position.Started ? position.Next : written, written, waiting, position.LastFailure, silo?.ToString());
        }));
        return new(options.Url, shards.Sum(s => s.Waiting), shards.Count(s => s.LastFailure is not null), shards);
    }
}
