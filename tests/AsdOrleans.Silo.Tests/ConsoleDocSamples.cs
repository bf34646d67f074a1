using System.Diagnostics;
using AsdOrleans.Abstractions;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// Writes the transcripts quoted in docs/console.md (curl against a real silo): /metrics lines of the project's meter,
/// and an event stream resumed with Last-Event-ID. Runs only with ASD_DOCS_SAMPLES=DIR set.
/// </summary>
public sealed class ConsoleDocSamples(ConsoleFixture silo) : IClassFixture<ConsoleFixture>
{
    [Fact]
    public async Task Write_the_documentations_curl_transcripts()
    {
        string? dir = Environment.GetEnvironmentVariable("ASD_DOCS_SAMPLES");
        if (dir is null) Assert.Skip("set ASD_DOCS_SAMPLES=DIR to write the transcripts quoted in docs/console.md");
        Directory.CreateDirectory(dir);
        string url = silo.Http.BaseAddress!.ToString().TrimEnd('/');
        await silo.Enroll("plant-a.line-1.fan-01", new MachineSettings { Strategy = "random", Budget = 0.5, Seed = 1 });

        // A first connection sees two events live, then drops.
        var first = Curl($"-sN --max-time 6 -H 'X-Api-Key: {ConsoleFixture.LabellerKey}' {url}/api/events");
        await Task.Delay(1500);
        for (int i = 0; i < 3; i++) await silo.Push("plant-a.line-1.fan-01", $"clip-{i:D3}", i);
        string firstText = await first;
        string lastId = firstText.Split('\n').Last(l => l.StartsWith("id: ", StringComparison.Ordinal))[4..];
        // While disconnected, more clips arrive; the reconnect replays what was missed.
        for (int i = 3; i < 8; i++) await silo.Push("plant-a.line-1.fan-01", $"clip-{i:D3}", i);
        string resumed = await Curl($"-sN --max-time 3 -H 'X-Api-Key: {ConsoleFixture.LabellerKey}' -H 'Last-Event-ID: {lastId}' {url}/api/events");
        string stale = await Curl($"-sN --max-time 2 -H 'X-Api-Key: {ConsoleFixture.LabellerKey}' -H 'Last-Event-ID: 1' {url}/api/events");
        await File.WriteAllTextAsync(Path.Combine(dir, "events.txt"),
            $"$ curl -sN -H 'X-Api-Key: …' {url}/api/events\n{firstText}\n" +
            $"$ curl -sN -H 'X-Api-Key: …' -H 'Last-Event-ID: {lastId}' {url}/api/events\n{resumed}\n" +
            $"$ curl -sN -H 'X-Api-Key: …' -H 'Last-Event-ID: 1' {url}/api/events\n{stale}\n");

        await Task.Delay(1000);
        string metrics = await silo.Http.GetStringAsync("/metrics");
        await File.WriteAllTextAsync(Path.Combine(dir, "metrics-all.txt"), metrics);
        await File.WriteAllTextAsync(Path.Combine(dir, "metrics.txt"),
            $"$ curl -s {url}/metrics | grep '^asd_'\n" + string.Join('\n', metrics.Split('\n').Where(l => l.StartsWith("asd_", StringComparison.Ordinal) || l.StartsWith("# TYPE asd_", StringComparison.Ordinal))) + "\n");
    }

    private static async Task<string> Curl(string arguments)
    {
        var start = new ProcessStartInfo("/bin/sh", ["-c", "curl " + arguments]) { RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        string text = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return text;
    }
}
