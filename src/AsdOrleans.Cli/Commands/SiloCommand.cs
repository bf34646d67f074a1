using System.CommandLine;
using System.Security.Cryptography;
using AsdOrleans.Grains.Placement;
using AsdOrleans.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace AsdOrleans.Cli.Commands;

/// <summary>`asd silo`: one silo host (grains, HTTP API, dashboard), embedded or in a Redis cluster, with its roles.</summary>
public static class SiloCommand
{
    public static Command Create()
    {
        var urls = new Option<string>("--urls") { Description = "HTTP listen addresses", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
        var dataDir = new Option<string>("--data-dir") { Description = "grain state and queried clips' audio", DefaultValueFactory = _ => "asd-data" };
        var model = new Option<string?>("--model") { Description = "encoder model file: required with the encoder role, refused without it" };
        var roles = new Option<string>("--roles")
        {
            Description = "what this silo hosts: encoder (encoder workers; loads the model), machines (machine grains), or both",
            DefaultValueFactory = _ => SiloRoles.All,
        };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda, cuda:N", DefaultValueFactory = _ => "auto" };
        var siloPort = new Option<int>("--silo-port") { Description = "Orleans silo port", DefaultValueFactory = _ => 11111 };
        var cluster = new Option<string?>("--cluster") { Description = "Redis connection string (redis-host:6379,…): join a cluster (Redis membership and state) instead of the embedded default" };
        var gatewayPort = new Option<int>("--gateway-port") { Description = "Orleans gateway port (for .NET clients)", DefaultValueFactory = _ => 30000 };
        var command = new Command("silo", "run a silo host: machine grains, encoder workers and the HTTP API (API keys from Asd:ApiKeys or Asd__ApiKeys__Device__0 …)")
        {
            urls, dataDir, roles, model, device, cluster, siloPort, gatewayPort,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var output = parse.InvocationConfiguration.Output;
            string? modelPath = parse.GetValue(model);
            if (modelPath is not null && !File.Exists(modelPath))
                throw new UsageException($"--model: '{modelPath}' does not exist");
            IReadOnlyList<string> siloRoles;
            try { siloRoles = SiloRoles.Parse(parse.GetValue(roles)); }
            catch (ArgumentException e) { throw new UsageException($"--roles: {e.Message}"); }
            bool encoder = siloRoles.Contains(SiloRoles.Encoder);
            if (encoder && modelPath is null)
                throw new UsageException("--roles includes encoder, which needs --model (or run this silo with --roles machines)");
            if (!encoder && modelPath is not null)
                throw new UsageException("--model is for silos with the encoder role; add encoder to --roles or drop --model");
            var app = SiloApp.Build([], builder =>
            {
                builder.WebHost.UseUrls(parse.GetValue(urls)!);
                var overrides = new Dictionary<string, string?>
                {
                    ["Asd:DataDirectory"] = parse.GetValue(dataDir),
                    ["Asd:ModelPath"] = modelPath is null ? null : Path.GetFullPath(modelPath),
                    ["Asd:Device"] = parse.GetValue(device),
                    ["Asd:SiloPort"] = parse.GetValue(siloPort).ToString(),
                    ["Asd:GatewayPort"] = parse.GetValue(gatewayPort).ToString(),
                    ["Asd:Redis"] = parse.GetValue(cluster),
                    ["Asd:Roles"] = string.Join(",", siloRoles),
                };
                // Without configured keys nothing could call the API; generate one per role for this run instead of opening it.
                var keys = builder.Configuration.GetSection("Asd:ApiKeys");
                foreach (var role in new[] { "Device", "Labeller", "Operator" })
                {
                    if (keys.GetSection(role).GetChildren().Any()) continue;
                    string key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
                    overrides[$"Asd:ApiKeys:{role}:0"] = key;
                    output.WriteLine($"generated {role.ToLowerInvariant()} API key for this run: {key}");
                }
                builder.Configuration.AddInMemoryCollection(overrides.Where(o => o.Value is not null));
            });
            await app.StartAsync(cancellation);
            output.WriteLine($"silo up ({string.Join(",", siloRoles)}): {string.Join(", ", app.Urls)}; data in {Path.GetFullPath(parse.GetValue(dataDir)!)}; "
                + $"dashboard at {SiloWebSurface.DashboardPath}, API description at {SiloWebSurface.OpenApiPath}; Ctrl+C stops it");
            await app.WaitForShutdownAsync(cancellation);
            return 0;
        });
        return command;
    }
}
