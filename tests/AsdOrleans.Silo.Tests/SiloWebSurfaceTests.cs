using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using AsdOrleans.Abstractions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A real silo listening on 127.0.0.1 and, where this machine has one, on a non-loopback address of its own, so a
/// request can arrive from a client that is not loopback.
/// </summary>
public sealed class WebSurfaceFixture : IAsyncLifetime
{
    public const string OperatorKey = "web-operator", DeviceKey = "web-device";
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-web-").FullName;
    public WebApplication App { get; private set; } = null!;
    public HttpClient Loopback { get; } = new();
    /// <summary>The silo's address on a non-loopback interface; null when this machine has none.</summary>
    public Uri? Remote { get; private set; }

    public static IPAddress? NonLoopbackAddress() => NetworkInterface.GetAllNetworkInterfaces()
        .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
        .SelectMany(n => n.GetIPProperties().UnicastAddresses.Select(a => a.Address))
        .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));

    public async ValueTask InitializeAsync()
    {
        var other = NonLoopbackAddress();
        var settings = new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = Path.Combine(_dir, "data"),
            ["Asd:ApiKeys:Operator:0"] = OperatorKey,
            ["Asd:ApiKeys:Device:0"] = DeviceKey,
        };
        if (other is not null) settings["urls"] = $"http://127.0.0.1:0;http://{other}:0";
        (App, _) = await SiloApp.StartOnLoopbackAsync(settings);
        var urls = App.Urls.Select(u => new Uri(u)).ToList();
        Loopback.BaseAddress = urls.First(u => IPAddress.IsLoopback(IPAddress.Parse(u.Host)));
        Remote = urls.FirstOrDefault(u => !IPAddress.IsLoopback(IPAddress.Parse(u.Host)));
        // Some grains for the dashboard to show.
        using var configure = new HttpRequestMessage(HttpMethod.Put, "/api/machines/web.m1") { Content = JsonContent.Create(new MachineSettings()) };
        configure.Headers.Add("X-Api-Key", OperatorKey);
        (await Loopback.SendAsync(configure)).EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Loopback.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

public sealed class SiloWebSurfaceTests(WebSurfaceFixture silo) : IClassFixture<WebSurfaceFixture>
{
    private static async Task<HttpResponseMessage> Get(HttpClient http, string path, string? key = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null) request.Headers.Add("X-Api-Key", key);
        return await http.SendAsync(request);
    }

    [Fact]
    public async Task The_dashboard_page_and_its_data_answer_loopback_clients()
    {
        var page = await Get(silo.Loopback, "/dashboard/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<script", await page.Content.ReadAsStringAsync());

        // The dashboard collects its counters every second: the first answer after start-up may still be empty.
        JsonElement json = default;
        for (var deadline = DateTime.UtcNow.AddSeconds(15); DateTime.UtcNow < deadline; await Task.Delay(250))
        {
            var counters = await Get(silo.Loopback, "/dashboard/DashboardCounters");
            Assert.Equal(HttpStatusCode.OK, counters.StatusCode);
            json = JsonDocument.Parse(await counters.Content.ReadAsStringAsync()).RootElement;
            if (json.GetProperty("totalActiveHostCount").GetInt32() > 0 && json.GetProperty("simpleGrainStats").GetArrayLength() > 0) break;
        }
        Assert.Equal(1, json.GetProperty("totalActiveHostCount").GetInt32());
        // The machine grain configured by the fixture is among the grain statistics.
        Assert.Contains(json.GetProperty("simpleGrainStats").EnumerateArray(), g => g.GetProperty("grainType").GetString()!.Contains("MachineGrain"));
    }

    [Fact]
    public async Task A_loopback_request_for_another_host_name_needs_an_operator_key()
    {
        // What a page whose name was rebound to 127.0.0.1 sends from the operator's browser.
        foreach (var path in new[] { "/dashboard/DashboardCounters", "/dashboard/" })
        {
            using var rebound = new HttpRequestMessage(HttpMethod.Get, path);
            rebound.Headers.Host = "attacker.example";
            var refused = await silo.Loopback.SendAsync(rebound);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            using var withKey = new HttpRequestMessage(HttpMethod.Get, path);
            withKey.Headers.Host = "attacker.example";
            withKey.Headers.Add("X-Api-Key", WebSurfaceFixture.OperatorKey);
            Assert.Equal(HttpStatusCode.OK, (await silo.Loopback.SendAsync(withKey)).StatusCode);
        }
    }

    [Fact]
    public async Task A_remote_client_needs_an_operator_key()
    {
        if (silo.Remote is null) Assert.Skip("this machine has no non-loopback IPv4 address to send a remote request from");
        using var remote = new HttpClient { BaseAddress = silo.Remote };
        var keyless = await Get(remote, "/dashboard/DashboardCounters");
        Assert.Equal(HttpStatusCode.Unauthorized, keyless.StatusCode);
        Assert.Equal("application/problem+json", keyless.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(remote, "/dashboard/")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await Get(remote, "/dashboard/DashboardCounters", WebSurfaceFixture.DeviceKey)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(remote, "/dashboard/DashboardCounters", "not-a-key")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get(remote, "/dashboard/DashboardCounters", WebSurfaceFixture.OperatorKey)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get(remote, "/dashboard/", WebSurfaceFixture.OperatorKey)).StatusCode);
    }

    [Fact]
    public void The_access_rule_admits_loopback_and_operators_only()
    {
        var keys = silo.App.Services.GetRequiredService<ApiKeys>();
        var localhost = new HostString("localhost", 5000);
        foreach (var local in new[] { "127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1" })
        {
            foreach (var host in new[] { localhost, new HostString("LOCALHOST"), new HostString("127.0.0.1:8080"), new HostString("[::1]:5000"), new HostString("ui.localhost") })
                Assert.Equal(DashboardAccess.Allowed, DashboardAccessRule.Decide(IPAddress.Parse(local), host, null, keys));
            // A page whose name was rebound to 127.0.0.1 reaches the silo from a local browser with its own name.
            foreach (var host in new[] { new HostString("attacker.example"), new HostString("localhost.attacker.example:5000"), new HostString("10.0.0.5"), default })
            {
                Assert.Equal(DashboardAccess.Unauthenticated, DashboardAccessRule.Decide(IPAddress.Parse(local), host, null, keys));
                Assert.Equal(DashboardAccess.Allowed, DashboardAccessRule.Decide(IPAddress.Parse(local), host, WebSurfaceFixture.OperatorKey, keys));
            }
        }
        foreach (var remote in new[] { "192.0.2.7", "10.1.2.3", "2001:db8::5", "::ffff:192.0.2.7" })
        {
            var address = IPAddress.Parse(remote);
            Assert.Equal(DashboardAccess.Unauthenticated, DashboardAccessRule.Decide(address, localhost, null, keys));
            Assert.Equal(DashboardAccess.Unauthenticated, DashboardAccessRule.Decide(address, localhost, "", keys));
            Assert.Equal(DashboardAccess.WrongRole, DashboardAccessRule.Decide(address, localhost, WebSurfaceFixture.DeviceKey, keys));
            Assert.Equal(DashboardAccess.Allowed, DashboardAccessRule.Decide(address, localhost, WebSurfaceFixture.OperatorKey, keys));
        }
        Assert.Equal(DashboardAccess.Unauthenticated, DashboardAccessRule.Decide(null, localhost, null, keys));
    }

    [Fact]
    public async Task The_openapi_document_describes_every_api_route_with_its_key_and_problems()
    {
        var response = await Get(silo.Loopback, "/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        Assert.Equal("apiKey", scheme.GetProperty("type").GetString());
        Assert.Equal("header", scheme.GetProperty("in").GetString());
        Assert.Equal("X-Api-Key", scheme.GetProperty("name").GetString());

        var routes = silo.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/api/", StringComparison.Ordinal) == true)
            .SelectMany(e => e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()!.HttpMethods
                .Select(m => (Path: e.RoutePattern.RawText!, Method: m.ToLowerInvariant())))
            .ToList();
        Assert.True(routes.Count >= 9, $"only {routes.Count} /api routes mapped");
        var paths = document.GetProperty("paths");
        foreach (var (path, method) in routes)
        {
            Assert.True(paths.TryGetProperty(path, out var item), $"{path} is not in the document");
            Assert.True(item.TryGetProperty(method, out var operation), $"{method.ToUpperInvariant()} {path} is not in the document");
            var security = operation.GetProperty("security");
            Assert.Contains(security.EnumerateArray(), requirement => requirement.TryGetProperty("ApiKey", out _));
            Assert.Contains("Role: ", operation.GetProperty("description").GetString());
            var responses = operation.GetProperty("responses");
            Assert.True(responses.TryGetProperty("200", out _), $"{method.ToUpperInvariant()} {path}: no 200 response");
            foreach (var status in new[] { "401", "403" })
                Assert.True(responses.GetProperty(status).GetProperty("content").TryGetProperty("application/problem+json", out _),
                    $"{method.ToUpperInvariant()} {path}: no {status} problem response");
            // The key is the security scheme's, not also a header parameter (a generated client would take it twice).
            if (operation.TryGetProperty("parameters", out var parameters))
                Assert.DoesNotContain(parameters.EnumerateArray(), p => p.GetProperty("name").GetString() == "X-Api-Key");
            // A JSON body of another Content-Type is the framework's 415.
            if (operation.TryGetProperty("requestBody", out var body) && body.GetProperty("content").TryGetProperty("application/json", out _))
                Assert.True(responses.TryGetProperty("415", out _), $"{method.ToUpperInvariant()} {path}: a JSON body and no 415 response");
        }
        // A route's own problems are described too, and the dashboard's endpoints are not part of the API.
        var clips = paths.GetProperty("/api/machines/{id}/clips").GetProperty("post").GetProperty("responses");
        Assert.True(clips.TryGetProperty("413", out _));
        Assert.True(clips.TryGetProperty("503", out _), "a cluster without an encoder silo answers 503");
        var verdict = clips.GetProperty("200").GetProperty("content").GetProperty("application/json").GetProperty("schema");
        string verdictSchema = verdict.GetProperty("$ref").GetString()!.Split('/')[^1];
        var verdictFields = document.GetProperty("components").GetProperty("schemas").GetProperty(verdictSchema).GetProperty("properties");
        Assert.Equal(["clipId", "score", "anomalous", "labelRequested", "queryReason", "repeated"], verdictFields.EnumerateObject().Select(p => p.Name));
        var requestSchema = paths.GetProperty("/api/label-requests").GetProperty("get").GetProperty("responses").GetProperty("200")
            .GetProperty("content").GetProperty("application/json").GetProperty("schema").GetProperty("items").GetProperty("$ref").GetString()!.Split('/')[^1];
        Assert.Equal(["machineId", "clipId", "score", "requestedAt", "queryReason", "audioUrl", "audioReference", "claimedBy", "claimedUntil", "decisionThreshold"],
            document.GetProperty("components").GetProperty("schemas").GetProperty(requestSchema).GetProperty("properties").EnumerateObject().Select(p => p.Name));
        Assert.DoesNotContain(paths.EnumerateObject(), p => p.Name.StartsWith("/dashboard", StringComparison.Ordinal));

        // Bodies the handlers read themselves: a clip as audio/wav (or audio/x-wav), training clips as multipart parts.
        var clipBody = paths.GetProperty("/api/machines/{id}/clips").GetProperty("post").GetProperty("requestBody").GetProperty("content");
        foreach (var type in new[] { "audio/wav", "audio/x-wav" })
            Assert.Equal("binary", clipBody.GetProperty(type).GetProperty("schema").GetProperty("format").GetString());
        var trainingBody = paths.GetProperty("/api/machines/{id}/enrollment/audio").GetProperty("post").GetProperty("requestBody")
            .GetProperty("content").GetProperty("multipart/form-data").GetProperty("schema").GetProperty("properties");
        Assert.Equal(["source", "target"], trainingBody.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task Headless_chromium_renders_the_dashboards_grain_and_silo_views()
    {
        string? chromium = new[] { "chromium", "chromium-browser", "google-chrome" }
            .Select(name => Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists))
            .FirstOrDefault(path => path is not null);
        if (chromium is null) Assert.Skip("chromium is not installed (./asd setup installs it; ./asd doctor reports it)");

        // The views are rendered by the page's scripts from the data endpoints: not in the HTML the silo sends.
        string grains = await Render(chromium, "/dashboard/#/grains");
        Assert.Contains("Activations by Type", grains);
        Assert.Contains("MachineGrain", grains);
        Assert.Contains("MachineRegistryShardGrain", grains); // machines list themselves in their shard
        string silos = await Render(chromium, "/dashboard/#/silos");
        int siloPort = silo.App.Services.GetRequiredService<IOptions<SiloOptions>>().Value.SiloPort;
        Assert.Contains($"127.0.0.1:{siloPort}@", silos);
        Assert.Contains("Active", silos);
    }

    private async Task<string> Render(string chromium, string path)
    {
        using var profile = new TempFolder();
        var start = new ProcessStartInfo(chromium,
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            $"--user-data-dir={profile.Path}", "--virtual-time-budget=10000", "--dump-dom",
            new Uri(silo.Loopback.BaseAddress!, path).ToString(),
        ])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var dom = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"chromium did not finish rendering {path} within 60 s");
        }
        Assert.True(process.ExitCode == 0, $"chromium exited with {process.ExitCode}: {await errors}");
        return await dom;
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("asd-chromium-").FullName;
        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
