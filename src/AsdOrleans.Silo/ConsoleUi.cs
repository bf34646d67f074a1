using System.Reflection;

namespace AsdOrleans.Silo;

/// <summary>
/// The console at /ui/: static files embedded in this assembly (Console/wwwroot; no build step, no CDN). The page
/// itself needs no key; every call it makes sends the labeller's or operator's key in X-Api-Key, which it keeps in
/// sessionStorage (never in a URL, so never in logs).
/// </summary>
public static class ConsoleUi
{
    public const string Path = "/ui";
    private const string Prefix = "console/";

    private static readonly Lazy<IReadOnlyDictionary<string, byte[]>> Files = new(() =>
    {
        var assembly = typeof(ConsoleUi).Assembly;
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string name in assembly.GetManifestResourceNames())
        {
            string normalised = name.Replace('\\', '/');
            if (!normalised.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            files[normalised[Prefix.Length..]] = buffer.ToArray();
        }
        return files;
    });

    private static readonly string Version = typeof(ConsoleUi).Assembly.ManifestModule.ModuleVersionId.ToString("N")[..16];

    private static string ContentType(string file) => System.IO.Path.GetExtension(file) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        _ => "text/plain; charset=utf-8",
    };

    public static void Map(WebApplication app)
    {
        // Routing treats /ui and /ui/ alike: only /ui (without the slash) is sent to /ui/, so relative links resolve.
        app.MapGet(Path, (HttpContext http) => http.Request.Path.Value!.EndsWith('/') ? Serve("index.html", http) : Results.Redirect(Path + "/"))
            .ExcludeFromDescription();
        app.MapGet(Path + "/{**file}", (string? file, HttpContext http) => Serve(string.IsNullOrEmpty(file) ? "index.html" : file, http))
            .ExcludeFromDescription();
        // The address the silo prints leads somewhere: the console.
        app.MapGet("/", () => Results.Redirect(Path + "/")).ExcludeFromDescription();
    }

    private static IResult Serve(string file, HttpContext http)
    {
        {
            if (!Files.Value.TryGetValue(file, out var bytes))
                return Results.Problem($"no console file '{file}'", statusCode: StatusCodes.Status404NotFound);
            var headers = http.Response.Headers;
            headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                + "style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
            headers["X-Content-Type-Options"] = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            string etag = $"\"{Version}\"";
            headers.ETag = etag;
            headers.CacheControl = "no-cache"; // revalidate: a new silo build brings a new console
            if (http.Request.Headers.IfNoneMatch == etag)
                return Results.StatusCode(StatusCodes.Status304NotModified);
            return Results.Bytes(bytes, ContentType(file));
        }
    }
}
