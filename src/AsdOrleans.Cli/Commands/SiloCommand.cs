using System.CommandLine;
using System.Security.Cryptography;
using AsdOrleans.EncoderGrains;
using AsdOrleans.Grains.Placement;
using AsdOrleans.Silo;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AsdOrleans.Cli.Commands;

/// <summary>`asd silo`: one silo host (grains, HTTP API, dashboard), embedded or in a Redis cluster, with its roles.</summary>
public static class SiloCommand
{
    public static Command Create()
    {
        var urls = new Option<string>("--urls") { Description = "HTTP listen addresses", DefaultValueFactory = _ => "http://127.0.0.1:5080" };
        var dataDir = new Option<string>("--data-dir") { Description = "grain state and queried clips' audio", DefaultValueFactory = _ => "asd-data" };
        var model = new Option<string?>("--model") { Description = "encoder model file for the encoder role's `model` embedder; refused without the encoder role" };
        var embedder = new Option<string?>("--embedder")
        {
            Description = "what the encoder role embeds with: model (the trained encoder, --model), baseline (training-free log-mel mean/std, "
                + "no model; each machine standardises them on its enrollment clips) or spectral (training-free log-mel mean/std/max and envelope-modulation peaks; each machine "
                + "whitens them on its enrollment clips; the best measured, docs/results.md). Default: model when a model file is given (--model, Asd__ModelPath), else spectral",
        };
        var roles = new Option<string>("--roles")
        {
            Description = "what this silo hosts: encoder (encoder workers; loads the model), machines (machine grains), or both",
            DefaultValueFactory = _ => SiloRoles.All,
        };
        var device = new Option<string>("--device") { Description = "auto, cpu, cuda, cuda:N", DefaultValueFactory = _ => "auto" };
        var siloPort = new Option<int>("--silo-port") { Description = "Orleans silo port", DefaultValueFactory = _ => 11111 };
        var cluster = new Option<string?>("--cluster") { Description = "Redis connection string (redis-host:6379,…): join a cluster (Redis membership and state) instead of the embedded default" };
        var gatewayPort = new Option<int>("--gateway-port") { Description = "Orleans gateway port (for .NET clients)", DefaultValueFactory = _ => 30000 };
        var logLevel = new Option<string>("--log-level")
        {
            Description = "least severe log messages shown: trace, debug, information, warning, error, critical, none "
                + "(default warning: start-up prints only the keys and where the silo listens; Logging__LogLevel__… in the environment also works)",
            DefaultValueFactory = _ => "warning",
        };
        logLevel.AcceptOnlyFromAmong("trace", "debug", "information", "warning", "error", "critical", "none");
        var precision = new Option<string>("--encoder-precision")
        {
            Description = "encoder number format: fp32 (the default; the embeddings asd embed and experiments compute), fp32-folded, bf16, "
                + "or auto (bf16 on a CPU with AVX512_BF16 or AMX, else fp32); bf16 is not bit-repeatable: its multi-threaded kernels "
                + "give values up to about 0.01 apart from run to run (OMP_NUM_THREADS=1 repeats them)",
            DefaultValueFactory = _ => "fp32",
        };
        var command = new Command("silo", "run a silo host: machine grains, encoder workers and the HTTP API (API keys from Asd:ApiKeys or Asd__ApiKeys__Device__0 …)")
        {
            urls, dataDir, roles, model, embedder, device, precision, cluster, siloPort, gatewayPort, logLevel,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var output = parse.InvocationConfiguration.Output;
            IReadOnlyList<string> siloRoles = [];
            string dataDirectory = "", embedderName = "", modelFile = "";
            var app = SiloApp.Build([], builder =>
            {
                // An option given on the command line wins; otherwise appsettings.json / Asd__… environment variables
                // (how containers configure a silo); otherwise the option's default.
                var configuration = builder.Configuration;
                string? Effective<T>(Option<T> option, string key)
                    => parse.GetResult(option) is { Implicit: false } || configuration[key] is null
                        ? Convert.ToString(parse.GetValue(option), System.Globalization.CultureInfo.InvariantCulture)
                        : configuration[key];
                if (parse.GetResult(urls) is { Implicit: false } || configuration["urls"] is null)
                    builder.WebHost.UseUrls(parse.GetValue(urls)!);
                string? modelPath = Effective(model, "Asd:ModelPath");
                if (string.IsNullOrEmpty(modelPath)) modelPath = null;
                InputChecks.Device("--device", Effective(device, "Asd:Device")!);
                string encoderPrecision = Effective(precision, "Asd:EncoderPrecision")!;
                try { Encoder.Inference.InferencePrecisions.CheckSetting(encoderPrecision); }
                catch (ArgumentException e) { throw new UsageException($"--encoder-precision: {e.Message}"); }
                foreach (var (option, key) in new[] { (siloPort, "Asd:SiloPort"), (gatewayPort, "Asd:GatewayPort") })
                    if (!int.TryParse(Effective(option, key), System.Globalization.CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
                        throw new UsageException($"{option.Name}: '{Effective(option, key)}' is not a port in 1..65535");
                if (Effective(siloPort, "Asd:SiloPort") == Effective(gatewayPort, "Asd:GatewayPort"))
                    throw new UsageException("--silo-port and --gateway-port must differ");
                foreach (var address in parse.GetValue(urls)!.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    if (!Uri.TryCreate(address.Replace("*", "localhost").Replace("+", "localhost"), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                        throw new UsageException($"--urls: '{address}' is not an http(s) address");
                try { siloRoles = SiloRoles.Parse(Effective(roles, "Asd:Roles")); }
                catch (ArgumentException e) { throw new UsageException($"--roles: {e.Message}"); }
                bool encoder = siloRoles.Contains(SiloRoles.Encoder);
                // As `asd experiment` chooses: the trained encoder when a model file is given, else the training-free default recipe.
                embedderName = parse.GetResult(embedder) is { Implicit: false } ? parse.GetValue(embedder)!
                    : configuration["Asd:Embedder"] is { Length: > 0 } configured ? configured
                    : modelPath is not null ? EncoderServiceOptions.ModelEmbedder : EncoderServiceOptions.SpectralEmbedder;
                bool baseline = embedderName switch
                {
                    EncoderServiceOptions.ModelEmbedder => false,
                    EncoderServiceOptions.BaselineEmbedder or EncoderServiceOptions.SpectralEmbedder => true,
                    _ => throw new UsageException($"--embedder: '{embedderName}' is not one of '{EncoderServiceOptions.ModelEmbedder}', '{EncoderServiceOptions.BaselineEmbedder}', '{EncoderServiceOptions.SpectralEmbedder}'"),
                };
                if (baseline && modelPath is not null)
                    throw new UsageException($"--embedder {embedderName} is training-free; drop --model");
                if (encoder && !baseline && modelPath is null)
                    throw new UsageException("--roles includes encoder and --embedder model, which needs --model (or leave out --embedder for the training-free spectral embedder, or run this silo with --roles machines)");
                if (!encoder && modelPath is not null)
                    throw new UsageException("--model is for silos with the encoder role; add encoder to --roles or drop --model");
                if (modelPath is not null)
                {
                    InputChecks.ModelVersion("--model", modelPath);
                    // The weights load on the first clip: check them now (hashed, no Torch), or a damaged file would start a
                    // healthy-looking silo whose every enrollment fails.
                    AsdOrleans.Encoder.EncoderModel.Verify(modelPath);
                    modelFile = Path.GetFullPath(modelPath);
                }
                dataDirectory = Effective(dataDir, "Asd:DataDirectory")!;
                OutputPaths.CheckFolder("--data-dir", dataDirectory);
                var overrides = new Dictionary<string, string?>
                {
                    ["Asd:DataDirectory"] = dataDirectory,
                    ["Asd:Embedder"] = embedderName,
                    ["Asd:ModelPath"] = modelPath is null ? null : Path.GetFullPath(modelPath),
                    ["Asd:Device"] = Effective(device, "Asd:Device"),
                    ["Asd:EncoderPrecision"] = encoderPrecision,
                    ["Asd:SiloPort"] = Effective(siloPort, "Asd:SiloPort"),
                    ["Asd:GatewayPort"] = Effective(gatewayPort, "Asd:GatewayPort"),
                    ["Asd:Redis"] = Effective(cluster, "Asd:Redis"),
                    ["Asd:Roles"] = string.Join(",", siloRoles),
                };
                // Quiet by default (Orleans alone logs hundreds of lines at Information while starting).
                string level = Effective(logLevel, "Logging:LogLevel:Default")!;
                overrides["Logging:LogLevel:Default"] = level;
                if (parse.GetResult(logLevel) is { Implicit: false } || configuration["Logging:LogLevel:Orleans"] is null)
                    overrides["Logging:LogLevel:Orleans"] = level == "warning" ? "Error" : level; // Orleans' start-up advice (ServerGC) is not news
                if (parse.GetResult(logLevel) is { Implicit: false } || configuration["Logging:LogLevel:Microsoft.AspNetCore"] is null)
                    overrides["Logging:LogLevel:Microsoft.AspNetCore"] = level;
                // Orleans' memory-stream receiver logs each queue read cancelled by a hand-over as an error with its stack
                // (37 such lines when a second silo joined); the queue's new owner reads on. Shown from --log-level error down.
                if (level == "warning" && configuration["Logging:LogLevel:Orleans.Providers.MemoryAdapterReceiver"] is null)
                    overrides["Logging:LogLevel:Orleans.Providers.MemoryAdapterReceiver"] = "Critical";
                // Likewise its pulling agent ("Orleans.Streams.asd-events", 103312): a read retried while the agent stops
                // for a hand-over (every silo of a full restart) ends in OperationCanceledException, logged with its stack.
                string pullingAgent = $"Logging:LogLevel:Orleans.Streams.{AsdOrleans.Abstractions.MachineEventStreams.ProviderName}";
                if (level == "warning" && configuration[pullingAgent] is null)
                    overrides[pullingAgent] = "Critical";
                // Without configured keys nothing could call the API; generate one per role for this run instead of opening it.
                var keys = configuration.GetSection("Asd:ApiKeys");
                foreach (var role in new[] { "Device", "Labeller", "Operator" })
                {
                    // Named keys count for their role: a person's for labellers, a gateway's for devices.
                    if (keys.GetSection(role).GetChildren().Any() || (role == "Labeller" && keys.GetSection("Labellers").GetChildren().Any())
                        || (role == "Device" && keys.GetSection("Gateways").GetChildren().Any())) continue;
                    string key = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
                    overrides[$"Asd:ApiKeys:{role}:0"] = key;
                    output.WriteLine($"generated {role.ToLowerInvariant()} API key for this run: {key}");
                }
                configuration.AddInMemoryCollection(overrides.Where(o => !string.IsNullOrEmpty(o.Value)));
            });
            await SiloApp.StartAsync(app, cancellation);
            string embedding = siloRoles.Contains(SiloRoles.Encoder) ? $"embeds with the {embedderName} embedder{(embedderName == EncoderServiceOptions.ModelEmbedder ? $" ({modelFile})" : "")}; " : "";
            output.WriteLine($"silo up ({string.Join(",", siloRoles)}): {string.Join(", ", app.Urls)}; {embedding}data in {Path.GetFullPath(dataDirectory)}; "
                + $"console at {ConsoleUi.Path}/, dashboard at {SiloWebSurface.DashboardPath}, API docs at {ApiDocs.DocsPath}, metrics at /metrics; Ctrl+C stops it");
            if (app.Services.GetService<AlertWebhookOptions>() is { } webhook)
                output.WriteLine($"alerts POSTed to {webhook.Url} ({(webhook.Secret.Length > 0 ? "signed" : "unsigned: Asd__AlertWebhook__Secret is empty")})");
            output.WriteLine($"garbage collector: {GcSettings.Describe()}");
            await app.WaitForShutdownAsync(cancellation);
            return 0;
        });
        return command;
    }
}
