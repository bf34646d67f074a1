using AsdOrleans.Grains;
using AsdOrleans.EncoderGrains;
using AsdOrleans.Grains.Placement;
using AsdOrleans.Storage.Sqlite;
using AsdOrleans.Grains.Streams;
using Orleans.Dashboard;

namespace AsdOrleans.Silo;

/// <summary>One silo host process: the grains and the HTTP API, embedded (localhost, SQLite) or in a Redis cluster.</summary>
public static class SiloApp
{
    /// <summary>
    /// Starts a silo on 127.0.0.1 with HTTP and Orleans on free ports (unless <paramref name="settings"/> names
    /// them, as "Asd:SiloPort" …) and returns it with its HTTP address: for tests and in-process runs.
    /// </summary>
    public static Task<(WebApplication App, Uri Address)> StartOnLoopbackAsync(IReadOnlyDictionary<string, string?> settings)
        => StartOnLoopbackAsync(settings, FreeLoopbackPort);

    /// <summary>As above, with <paramref name="configure"/> run on the builder first (a test adds services: a grain call
    /// filter, a startup filter's middleware).</summary>
    public static Task<(WebApplication App, Uri Address)> StartOnLoopbackAsync(IReadOnlyDictionary<string, string?> settings, Action<WebApplicationBuilder> configure)
        => StartOnLoopbackAsync(settings, FreeLoopbackPort, configure);

    /// <summary>As above, with the ports chosen by <paramref name="choosePort"/> (a test makes it return a taken port).</summary>
    internal static async Task<(WebApplication App, Uri Address)> StartOnLoopbackAsync(IReadOnlyDictionary<string, string?> settings, Func<int> choosePort,
        Action<WebApplicationBuilder>? configure = null)
    {
        bool portsChosenHere = !settings.ContainsKey("Asd:SiloPort") && !settings.ContainsKey("Asd:GatewayPort");
        for (int attempt = 1; ; attempt++)
        {
            WebApplication app;
            try
            {
                app = Build([], builder =>
                {
                    // A free port, unless the caller names the address (a restart on the same one).
                    builder.WebHost.UseUrls(settings.TryGetValue("urls", out var fixedUrls) && fixedUrls is not null ? fixedUrls : "http://127.0.0.1:0");
                    var values = new Dictionary<string, string?>
                    {
                        ["Asd:SiloPort"] = choosePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
                        ["Asd:GatewayPort"] = choosePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
                    };
                    foreach (var (key, value) in settings) values[key] = value;
                    builder.Configuration.AddInMemoryCollection(values);
                    configure?.Invoke(builder);
                });
            }
            catch (SiloConfigurationException e) when (portsChosenHere && attempt < 3 && IsAddressInUse(e))
            {
                continue; // the start-up check found a chosen port taken meanwhile: choose again
            }
            try
            {
                await StartAsync(app);
            }
            catch (Exception e) when (portsChosenHere && attempt < 3 && IsAddressInUse(e))
            {
                // Another process bound a port between FreeLoopbackPort and the silo's bind (tests start silos in
                // parallel): choose the ports again.
                await app.DisposeAsync();
                continue;
            }
            var addresses = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses;
            return (app, new Uri(addresses.First()));
        }
    }

    /// <summary>Starts a built silo. An embedded silo's data directory is locked first, outside the host's start: a refusal
    /// there is one line of the caller's, where the host would log it with its stack.</summary>
    public static async Task StartAsync(WebApplication app, CancellationToken cancellation = default)
    {
        var dataDirectory = app.Services.GetService<DataDirectoryLock>();
        try
        {
            dataDirectory?.Acquire();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        try
        {
            await app.StartAsync(cancellation);
        }
        catch
        {
            // Before the hosted services were resolved the container does not own the lock: let it go here, so a retry in
            // this process is not refused by its own lock.
            dataDirectory?.Dispose();
            throw;
        }
    }

    private static bool IsAddressInUse(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is Microsoft.AspNetCore.Connections.AddressInUseException
                || e is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse })
                return true;
        return false;
    }

    /// <summary>A TCP port nothing listens on right now, on 127.0.0.1.</summary>
    public static int FreeLoopbackPort()
    {
        // A port just handed out is free again until its silo binds it, and the kernel may offer it again: callers that
        // ask for a silo and a gateway port in one breath got the same one ("must differ"). Not one of the last 64.
        lock (RecentPorts)
            while (true)
            {
                using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
                listener.Start();
                int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
                if (RecentPorts.Contains(port)) continue;
                RecentPorts.Enqueue(port);
                if (RecentPorts.Count > 64) RecentPorts.Dequeue();
                return port;
            }
    }

    private static readonly Queue<int> RecentPorts = new();

    /// <summary>The address a cluster silo advertises: 127.0.0.1 when empty, else the IP given or the host name's first IPv4 address.</summary>
    public static System.Net.IPAddress ResolveAdvertisedAddress(string? address)
    {
        if (string.IsNullOrWhiteSpace(address)) return System.Net.IPAddress.Loopback;
        if (System.Net.IPAddress.TryParse(address, out var ip)) return ip;
        System.Net.IPAddress[] found;
        try { found = System.Net.Dns.GetHostAddresses(address); }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new SiloConfigurationException($"Asd:AdvertisedAddress '{address}' does not resolve: {e.Message}", e);
        }
        return found.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
            ?? found.FirstOrDefault()
            ?? throw new SiloConfigurationException($"Asd:AdvertisedAddress '{address}' resolves to no address");
    }

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);
        SiloStartupChecks.RequireFreeHttpPorts(builder.WebHost.GetSetting(Microsoft.AspNetCore.Hosting.WebHostDefaults.ServerUrlsKey));
        // Every setting checked at start-up, not at the first request, clip or alert that needs it.
        var options = SiloStartupChecks.Bind<SiloOptions>(builder.Configuration, SiloOptions.Section);
        if (options.ApiKeys.Problem() is { } keyProblem)
            throw new SiloConfigurationException(keyProblem);
        if (SiloStartupChecks.Problem(options) is { } optionsProblem)
            throw new SiloConfigurationException(optionsProblem);
        if (SiloStartupChecks.Bind<LabelRequestExpiryOptions>(builder.Configuration, SiloOptions.Section).Problem() is { } expiryProblem)
            throw new SiloConfigurationException(expiryProblem);
        builder.Services.Configure<SiloOptions>(builder.Configuration.GetSection(SiloOptions.Section));
        var webhook = SiloStartupChecks.Bind<AlertWebhookOptions>(builder.Configuration, AlertWebhookOptions.Section);
        if (webhook.Problem() is { } webhookProblem)
            throw new SiloConfigurationException(webhookProblem);
        if (webhook.Enabled)
        {
            builder.Services.AddSingleton(webhook);
            builder.Services.AddSingleton<AsdOrleans.Grains.IAlertWebhookSender, HttpAlertWebhookSender>();
        }
        builder.Services.AddSingleton<ApiKeys>();
        builder.Services.AddSingleton<GatewayTraffic>(); // clips and refusals by gateway, for /metrics and GET /api/cluster
        builder.Services.AddSingleton<ClipAudioStore>();
        // Listings over many machines (machines, label requests) list the others when one cannot be read: what is not 503 is that machine's.
        builder.Services.AddSingleton<AsdOrleans.Abstractions.IClusterFaults, ApiClusterFaults>();
        builder.Services.AddSingleton<AsdOrleans.Application.MachineUseCases>(); // over the silo's IGrainFactory
        // {"label":"anomaly","Label":"normal"} is a client's mistake, not "the last one wins".
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.AllowDuplicateProperties = false);
        builder.Services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
            AnyClientProblemWriter.DescribeUnsupportedMediaType(context.ProblemDetails, context.HttpContext));
        builder.Services.AddSingleton<IProblemDetailsWriter, AnyClientProblemWriter>(); // after the JSON one: the fallback
        builder.Services.AddSingleton<UnreachableRedisDiagnosis>(); // for the API's faults and readiness
        builder.Services.AddExceptionHandler<ApiExceptionHandler>();
        // Binding failures throw BadHttpRequestException (the handler answers a problem document saying what was wrong).
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(r => r.ThrowOnBadRequest = true);
        builder.Services.AddSiloHealthChecks(options);
        // Clip uploads and audio enrollments beyond Asd:MaxConcurrentClips + Asd:QueuedClips are refused 503 (ClipWorkLimit).
        builder.Services.AddClipWorkLimit(options);
        // Body limits are per endpoint (RequestGate); Kestrel's default is the small one, so unknown routes read little.
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = RequestGate.DefaultBodyLimit;
            k.Limits.MaxRequestLineSize = RequestGate.KestrelRequestLineLimit;
        });
        // A vanished client (no reset ever came) gives back its connection, and an event stream its place, in about a minute.
        builder.WebHost.UseSockets(sockets => sockets.CreateBoundListenSocket = endpoint => DeadClientTimeout.CreateListenSocket(endpoint, options.DeadClientSeconds));
        // A machine's microphone sends mono (docs/design.md §2 lists stereo as bad input): more channels are refused, not
        // averaged. Other sample rates are resampled to 16 kHz.
        builder.Services.AddAsdEncoder(e =>
        {
            e.Embedder = options.Embedder;
            e.ModelPath = options.ModelPath;
            e.Device = options.Device;
            e.Precision = options.EncoderPrecision;
            e.MaxBatchSize = options.EncoderMaxBatchSize;
            e.Audio = AsdOrleans.Audio.AudioLoadOptions.Default with { MaxChannels = 1 };
        });
        builder.AddAsdWebSurface();
        builder.AddAsdConsole(); // console, events, metrics, API docs (ConsoleRegistration)
        // Bound here too, so that a setting that does not convert is one line, and the Redis check below judges a silo
        // stale as Orleans does (its internal AllowedIAmAliveMissPeriod).
        var membership = SiloStartupChecks.Bind<Orleans.Configuration.ClusterMembershipOptions>(builder.Configuration, "Asd:Membership");
        if (!string.IsNullOrWhiteSpace(options.Redis))
        {
            if (RedisStartupChecks.Check(options.Redis, options.RequireDurableRedis, options.ClusterId, options.ServiceId,
                    membership.IAmAliveTablePublishTimeout * membership.NumMissedTableIAmAliveLimit, options.DataDirectory, out var store) is { } redisWarning)
                Console.Error.WriteLine(redisWarning);
            // A lost store starts the silo not ready and refusing writes (RedisStoreWatch), so /readyz says it and the
            // operator's acceptance can reach it; stderr says it at once too.
            if (store?.Problem is { } lost)
                Console.Error.WriteLine("error: " + lost);
            builder.Services.AddSingleton(new RedisStoreWatch.AtStart(store));
            // One multiplexer for Orleans' providers, the watches and the readiness check (docs/decisions.md, stop 56).
            builder.Services.AddSingleton<SiloRedisConnection>();
        }
        if (string.IsNullOrWhiteSpace(options.Redis)) // registered before Orleans: hosted services start in order
        {
            builder.Services.AddSingleton(new DataDirectoryLock(options.DataDirectory));
            builder.Services.AddHostedService(services => services.GetRequiredService<DataDirectoryLock>());
        }
        builder.UseOrleans(silo =>
        {
            if (string.IsNullOrWhiteSpace(options.Redis))
            {
                SiloStartupChecks.RequireFreePorts(System.Net.IPAddress.Loopback, ("Asd:SiloPort", options.SiloPort), ("Asd:GatewayPort", options.GatewayPort));
                silo.UseLocalhostClustering(options.SiloPort, options.GatewayPort);
                // Embedded default: grain state in one SQLite file under the data directory (WAL, synchronous=FULL).
                silo.AddSqliteGrainStorage(MachineGrain.StorageName,
                    o => o.DatabasePath = Path.Combine(Path.GetFullPath(options.DataDirectory), "grains.db"));
            }
            else
            {
                // Cluster: Orleans' Redis providers for membership and grain state; redis-server runs with
                // appendonly yes / appendfsync always so an acknowledged write survives a crash.
                silo.Configure<Orleans.Configuration.ClusterOptions>(c => { c.ClusterId = options.ClusterId; c.ServiceId = options.ServiceId; });
                // A routable advertised address (containers) needs the silo to listen on all interfaces.
                var advertised = ResolveAdvertisedAddress(options.AdvertisedAddress);
                bool anyAddress = !System.Net.IPAddress.IsLoopback(advertised);
                SiloStartupChecks.RequireFreePorts(anyAddress ? System.Net.IPAddress.Any : advertised, ("Asd:SiloPort", options.SiloPort), ("Asd:GatewayPort", options.GatewayPort));
                silo.ConfigureEndpoints(advertised, options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: anyAddress);
                silo.UseRedisClustering(options.Redis);
                silo.AddRedisGrainStorage(MachineGrain.StorageName, o => o.ConfigurationOptions = StackExchange.Redis.ConfigurationOptions.Parse(options.Redis));
                // Orleans' binary format for grain state, as in the embedded store (the silo-wide default is JSON).
                silo.Services.AddOptions<Orleans.Persistence.RedisStorageOptions>(MachineGrain.StorageName)
                    .Configure<Orleans.Serialization.Serializer>((o, serializer) => o.GrainStorageSerializer = new AsdOrleans.Storage.Sqlite.CompactOrleansStorageSerializer(serializer));
                // Membership, grain storage and reminders (ReminderWiring) on the silo's one multiplexer, handed over as
                // shared (IsShared: Orleans' providers do not dispose it); ConfigurationOptions stays set for their validators.
                silo.Services.AddOptions<Orleans.Clustering.Redis.RedisClusteringOptions>()
                    .Configure<SiloRedisConnection>((o, redis) => o.CreateMultiplexer = redis.ForProvider);
                silo.Services.AddOptions<Orleans.Persistence.RedisStorageOptions>(MachineGrain.StorageName)
                    .Configure<SiloRedisConnection>((o, redis) => o.CreateMultiplexer = redis.ForProvider);
                // Writes from the .NET client (through the gateway, not the HTTP API's gate) are refused too while Redis
                // has lost the cluster's store (RedisStoreWatch): before the grain method runs, so nothing changes.
                silo.AddIncomingGrainCallFilter<StoreLossWriteFilter>();
                // Every activation, so that those that lived through a loss are dropped when it ends (RedisStoreWatch).
                silo.Services.AddSingleton<StoreLossActivations>();
                silo.Services.AddSingleton<IConfigureGrainContextProvider>(services => services.GetRequiredService<StoreLossActivations>());
                // Its part in spreading machines (POST /api/cluster/spread), reached through Orleans' control channel, and
                // a directory cache it can make forget a machine it wakes (ForgettingDirectoryCache).
                silo.Configure<Orleans.Configuration.GrainDirectoryOptions>(o => o.CachingStrategy = Orleans.Configuration.GrainDirectoryOptions.CachingStrategyType.Custom);
                silo.Services.AddSingleton<ForgettingDirectoryCache>(services => new ForgettingDirectoryCache(services,
                    services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Orleans.Configuration.GrainDirectoryOptions>>().Value));
                silo.Services.AddSingleton<Orleans.Runtime.GrainDirectory.IGrainDirectoryCache>(services => services.GetRequiredService<ForgettingDirectoryCache>());
                silo.Services.AddSingleton<MachineSpreader>();
                silo.Services.AddKeyedSingleton<Orleans.Providers.IControllable>(MachineSpreader.ProviderName,
                    (services, _) => services.GetRequiredService<MachineSpreader>());
                if (options.GrainDirectory == "distributed")
                {
#pragma warning disable ORLEANSEXP003 // opt-in: experimental in Orleans 10.4 (docs/decisions.md, stop 60)
                    silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
                }
                // While a silo leaves, machines and alert shards write before answering (WriteThroughOnLeave).
                silo.Services.AddSingleton<WriteThroughOnLeave>();
                if (options.WriteThroughOnLeave) // else OpenAsync does nothing either
                    silo.Services.AddHostedService(services => services.GetRequiredService<WriteThroughOnLeave>());
                // A stopping silo hands its machines over while it is still active (MachineHandover); every silo hears of it.
                silo.Services.AddSingleton<MachineHandover>();
                if (options.HandOverOnStop) // it hears the others' handovers either way
                    silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(services => services.GetRequiredService<MachineHandover>());
                silo.Services.AddKeyedSingleton<Orleans.Providers.IControllable>(MachineHandover.ProviderName,
                    (services, _) => services.GetRequiredService<MachineHandover>());
                // Machines spread onto a silo that joined, by the oldest silo, once the membership is quiet (SpreadOnJoin);
                // not beside the rebalancer, which an operator who turns it on wants to do that.
                if (options.SpreadsOnJoin)
                    silo.Services.AddHostedService<SpreadOnJoin>();
            }
            silo.AddAsdRemindersAndExpiry(options, builder.Configuration);
            if (webhook.Enabled)
            {
                // A webhook that retries faster than Orleans' one-minute floor keeps its reminder at its own pace.
                silo.Services.AddOptions<Orleans.Hosting.ReminderOptions>().Configure(r =>
                {
                    if (webhook.MaxRetryDelay < r.MinimumReminderPeriod) r.MinimumReminderPeriod = webhook.MaxRetryDelay;
                });
                // Alerts a shard wrote as its silo stopped may have missed their wake-up: a starting silo resumes every deliverer.
                if (SiloRoles.Includes(options.Roles, SiloRoles.Machines))
                    silo.AddStartupTask((services, _) =>
                    {
                        var grains = services.GetRequiredService<IGrainFactory>();
                        for (int shard = 0; shard < MachineRegistryShards.Count; shard++)
                            grains.GetGrain<AsdOrleans.Abstractions.IAlertWebhookGrain>(shard).Wake(AsdOrleans.Abstractions.IAlertWebhookGrain.ResumeOnly).Ignore();
                        return Task.CompletedTask;
                    });
            }
            // Failure detection (probe timeouts, missed probes, votes) can be tuned as Asd:Membership:ProbeTimeout … .
            silo.Configure<Orleans.Configuration.ClusterMembershipOptions>(builder.Configuration.GetSection("Asd:Membership"));
            // Alerts and label requests on Orleans streams; subscriptions kept in the grain storage chosen above.
            silo.AddMachineEventStreams();
            // A backlog of clips waiting for the encoder is normal (an enrollment sends a machine's whole training
            // set at once: 210 × 10 s clips took 35 s at width 16 on 2 cores), so calls may take minutes.
            // This bounds a call to a silo that is gone but not yet declared dead as well: those fail sooner, with
            // connection errors (ConnectionOptions.OpenConnectionTimeout, 5 s per attempt), answered 503 (ApiFaults).
            silo.Configure<Orleans.Configuration.SiloMessagingOptions>(m => m.ResponseTimeout = TimeSpan.FromMinutes(5));
            silo.Configure<Orleans.Configuration.GrainCollectionOptions>(c =>
            {
                var idle = TimeSpan.FromMinutes(options.MachineIdleMinutes);
                c.ClassSpecificCollectionAge[typeof(AsdOrleans.Grains.MachineGrain).FullName!] = idle;
                // The collector looks every quantum (1 min by default); a shorter idle age needs it to look more often.
                if (idle < 2 * c.CollectionQuantum)
                    c.CollectionQuantum = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond, idle.Ticks / 2));
            });
            silo.AddAsdSiloRoles(options.Roles).AddDashboard();
            if (options.ActivationRebalancer)
            {
                // Opt-in only: experimental in Orleans 10; without it activations stay where they were placed.
#pragma warning disable ORLEANSEXP002
                silo.AddActivationRebalancer();
#pragma warning restore ORLEANSEXP002
                // Orleans' default is no limit: 30,000 machines on 2 cores then stalled for a minute (p99 44–56 s, failed
                // calls) when a silo joined; 300 per cycle moved them without a failure (docs/benchmarks.md).
                silo.Configure<Orleans.Configuration.ActivationRebalancerOptions>(o => o.ActivationMigrationCountLimit = SiloOptions.DefaultMigrationsPerRebalancerCycle);
                silo.Configure<Orleans.Configuration.ActivationRebalancerOptions>(builder.Configuration.GetSection("Asd:Rebalancer"));
            }
        });
        var app = builder.Build();
        app.UseExceptionHandler();
        // The API serves stored uploads (a WAV is whatever bytes a device sent): a browser must not guess them as HTML.
        app.Use((http, next) =>
        {
            if (http.Request.Path.StartsWithSegments("/api"))
                http.Response.Headers.XContentTypeOptions = "nosniff";
            return next(http);
        });
        app.UseStatusCodePages(); // a 4xx the framework answers with an empty body (404, 405, 415 …) gets a problem document
        app.UseRouting();
        app.UseGatewayTraffic(); // before the gate: its refusals of clips count by gateway too
        app.UseRequestGate();
        app.UseRateLimiter(); // after the gate: a request without a valid key is 401/403, not counted as clip work
        app.MapSiloHealthChecks();
        MachineApi.Map(app);
        ClusterApi.Map(app);
        app.MapAsdWebSurface();
        app.MapAsdConsole();
        return app;
    }
}
