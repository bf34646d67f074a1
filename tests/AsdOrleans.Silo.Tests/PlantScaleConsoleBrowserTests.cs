using System.Diagnostics;
using AsdOrleans.Abstractions;
using AsdOrleans.Application;
using Microsoft.Extensions.DependencyInjection;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using static AsdOrleans.Silo.Tests.ConsoleBrowserTests;

namespace AsdOrleans.Silo.Tests;

/// <summary>A silo of its own for the plant-scale console test: its thousands of machines stay out of the other
/// console tests' pages.</summary>
public sealed class PlantConsoleFixture() : LoopbackSilo("asd-plant-console-", modelSeed: 11, ConsoleFixture.Plan, ConsoleFixture.DeviceKey,
    ConsoleFixture.LabellerKey, ConsoleFixture.OperatorKey, new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Warning" })
{
    protected override Task Started() => App.Services.GetRequiredService<ConsoleEventHub>().Subscribed.WaitAsync(TimeSpan.FromSeconds(60));
}

/// <summary>
/// The console at plant scale: thousands of configured machines, more than one page of GET /api/machines (1,000), in a
/// real browser against a real silo (docs/decisions.md, stop 51). ASD_CONSOLE_PLANT=N configures N machines instead of
/// 2,500 (the 5,000-machine timing in docs/console.md).
/// </summary>
[Collection(Name)]
public sealed class PlantScaleConsoleBrowserTests(PlantConsoleFixture silo) : IClassFixture<PlantConsoleFixture>
{
    private static readonly string[] Types = ["fan", "pump", "slider", "valve"];

    /// <summary>The id of machine <paramref name="i"/>: ids sort in the order of i, so #2,400 lies on the third page.</summary>
    private static string Id(int i) => $"plant.{i:D4}.{Types[i % Types.Length]}-{i:D4}";

    private static void Log(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    [Fact]
    public async Task Machine_2400_of_2500_is_found_charted_and_filtered_on_and_a_page_that_fails_part_way_says_so()
    {
        int count = int.TryParse(Environment.GetEnvironmentVariable("ASD_CONSOLE_PLANT"), out int n) && n >= 2500 ? n : 2500;
        var cancellation = TestContext.Current.CancellationToken;
        var machines = silo.App.Services.GetRequiredService<MachineUseCases>();
        var created = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(1, count), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellation },
            async (i, _) => await machines.Configure(Id(i), new MachineSettings { Strategy = "random", Budget = 0.1, Seed = (ulong)i }));
        Log($"configured {count} machines in {created.Elapsed.TotalSeconds:F1} s");

        // #2,400 and #1 are enrolled and ask for labels (b = 1): each has a queue card, a score history and an alert.
        string far = Id(2400), near = Id(1);
        foreach (var machine in new[] { far, near })
        {
            await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 9 });
            int index = 20;
            while (!(await silo.Push(machine, $"{machine}-c{index}", index)).GetProperty("anomalous").GetBoolean())
                Assert.True(++index < 60, $"no clip of 20 … 59 was an alert on {machine}");
        }

        var profile = Directory.CreateTempSubdirectory("asd-selenium-").FullName;
        try
        {
            using var driver = StartBrowser(profile);
            var js = (IJavaScriptExecutor)driver;
            driver.ExecuteCdpCommand("Page.addScriptToEvaluateOnNewDocument", new Dictionary<string, object?> { ["source"] = PhoneRestartKeyboardConsoleBrowserTests.Faults });
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/"));
            await Until(driver, () => driver.FindElements(By.Id("key")).Count == 1, "the sign-in form");
            driver.FindElement(By.Id("key")).SendKeys(ConsoleFixture.LabellerKey);
            driver.FindElement(By.Id("signin-button")).Click();
            int requests = (await silo.Get("/api/label-requests?limit=500")).GetArrayLength();
            await Until(driver, () => QueueSize(driver) == requests, "both machines' requests in the queue");

            // Loaded and rendered from a fresh page: every page of machines, and the table capped.
            string total = count.ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
            var loading = Stopwatch.StartNew();
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/#machines"));
            driver.Navigate().Refresh();
            string shown = await Until(driver, () => driver.FindElement(By.Id("machines-shown")).Text is var t && t.Contains($"of {total}") ? t : null, "the machines counted");
            Log($"Machines page with {count} machines: loaded and rendered in {loading.Elapsed.TotalSeconds:F2} s ({shown})");
            Assert.Equal($"showing 200 of {total} — narrow with the filter", shown);
            Assert.Equal(200, driver.FindElements(By.CssSelector("#machines-list tr")).Count);

            // #2,400, past the first page, found with the filter; its row opens its chart.
            var filter = driver.FindElement(By.Id("machines-filter"));
            filter.SendKeys("2400.");
            await Until(driver, () => driver.FindElements(By.CssSelector("#machines-list tr")).Count == 1
                && driver.FindElements(By.CssSelector($"#machines-list tr[data-machine='{far}']")).Count == 1, $"{far} alone in the table");
            Assert.Equal($"1 of {total} machines match", driver.FindElement(By.Id("machines-shown")).Text);
            await Click(driver, By.CssSelector($"#machines-list tr[data-machine='{far}']"), $"{far}'s row");
            int points = (await silo.Get($"/api/machines/{far}/scores")).GetArrayLength();
            Assert.True(points > 0);
            await Until(driver, () => driver.FindElement(By.Id("chart-machine")).Text.Contains(far)
                && driver.FindElement(By.Id("score-chart")).GetAttribute("data-points") == points.ToString(), $"{far}'s chart");
            // The type filter narrows by the id's last segment: #2,400 is a fan, and so is a quarter of the plant.
            filter.Clear();
            js.ExecuteScript("const s = document.getElementById('machines-type'); s.value = 'pump'; s.dispatchEvent(new Event('change'));");
            await Until(driver, () => driver.FindElement(By.Id("machines-shown")).Text == $"showing 200 of {count / 4:N0} matching ({total} machines) — narrow with the filter", "the pumps counted");
            Assert.All(driver.FindElements(By.CssSelector("#machines-list tr")), row => Assert.EndsWith("pump-", row.GetAttribute("data-machine")![..^4]));
            // Sorted by pending requests: the two machines asking for labels come first.
            js.ExecuteScript("const t = document.getElementById('machines-type'); t.value = ''; const s = document.getElementById('machines-sort'); s.value = 'pending'; s.dispatchEvent(new Event('change'));");
            await Until(driver, () => driver.FindElements(By.CssSelector("#machines-list tr")).Take(2).Select(r => r.GetAttribute("data-machine")).SequenceEqual([near, far]), "the machines asking for labels first");

            // The queue's machine filter offers every id, #2,400 among them, and picks it.
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/#queue"));
            Assert.Equal(count, Convert.ToInt32(js.ExecuteScript("return document.querySelectorAll('#machine-ids option').length")));
            Assert.Equal(1L, js.ExecuteScript($"return document.querySelectorAll('#machine-ids option[value=\"{far}\"]').length"));
            var queueFilter = await Until(driver, () => driver.FindElement(By.Id("filter-machine")), "the queue's machine filter");
            queueFilter.SendKeys(far);
            int farRequests = (await silo.Get($"/api/label-requests?machine={far}")).GetArrayLength();
            Assert.True(farRequests > 0 && farRequests < requests);
            await Until(driver, () => driver.FindElements(By.CssSelector("#queue-list li.request")) is var cards && cards.Count == farRequests
                && cards.All(li => li.GetAttribute("data-machine") == far), $"only {far}'s cards");

            // The alerts' machine filter: #2,400's alerts, and an id the silo does not know said beside the box, the list kept.
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/#alerts"));
            int farAlerts = (await silo.Get($"/api/alerts?machine={far}&limit=500")).GetArrayLength(), allAlerts = (await silo.Get("/api/alerts?limit=500")).GetArrayLength();
            Assert.True(farAlerts > 0 && farAlerts < allAlerts, $"{farAlerts} of {allAlerts} alerts are {far}'s");
            await Until(driver, () => driver.FindElements(By.CssSelector("#alerts-list tr")).Count == allAlerts, "the plant's alerts");
            var alertFilter = driver.FindElement(By.Id("alert-machine"));
            alertFilter.SendKeys(far + Keys.Enter);
            await Until(driver, () => driver.FindElements(By.CssSelector("#alerts-list tr")).Count == farAlerts
                && driver.FindElements(By.CssSelector("#alerts-list tr")).All(r => r.GetAttribute("data-machine") == far), $"{far}'s alerts");
            alertFilter.SendKeys(Keys.Control + "a"); // typed over, not cleared: clearing the box is a choice of its own (the plant's alerts)
            alertFilter.SendKeys("plant.9999.fan-9999" + Keys.Enter);
            await Until(driver, () => driver.FindElement(By.Id("alert-machine-error")).Text is var e && e.Contains("plant.9999.fan-9999") && e.EndsWith($"showing {far}'s alerts") ? e : null, "the unknown id said");
            Assert.Equal(farAlerts, driver.FindElements(By.CssSelector("#alerts-list tr")).Count);

            // A load that fails part-way (the second page answers 503) says what it loaded and what failed, keeps the
            // machines it had for the rest, and loads them all on its next try.
            js.ExecuteScript("sessionStorage.setItem('test.faults', JSON.stringify([{ match: '^/api/machines\\\\?after=', times: 1, status: 503 }]));");
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/#machines"));
            driver.Navigate().Refresh();
            string partial = await Until(driver, () => driver.FindElement(By.Id("machines-status")) is { Displayed: true } s && s.Text.Contains("failed") ? s.Text : null, "the partial load said");
            Assert.StartsWith($"loaded 1,000 machines (ids up to {Id(1000)}); the next page failed (the silo is restarting)", partial);
            Assert.Equal(1L, js.ExecuteScript($"return document.querySelectorAll('#machine-ids option[value=\"{near}\"]').length"));
            await Until(driver, () => !driver.FindElement(By.Id("machines-status")).Displayed
                && driver.FindElement(By.Id("machines-shown")).Text.Contains($"of {total}"), "every machine loaded on the next try");
            // A refresh that fails part-way keeps the machines after the last page that came, as last loaded.
            js.ExecuteScript("window.__faults.push({ match: '^/api/machines[?]after=', times: 1, status: 503 }); location.hash = '#alerts';");
            await Until(driver, () => js.ExecuteScript("return document.body.dataset.page") as string == "alerts", "the alerts page");
            js.ExecuteScript("location.hash = '#machines';");
            partial = await Until(driver, () => driver.FindElement(By.Id("machines-status")) is { Displayed: true } s && s.Text.Contains("failed") ? s.Text : null, "the failed refresh said");
            Assert.Equal($"loaded 1,000 machines (ids up to {Id(1000)}); the next page failed (the silo is restarting): the {count - 1000:N0} after them are as last loaded; trying again in 3 s", partial);
            Assert.Contains($"of {total}", driver.FindElement(By.Id("machines-shown")).Text);
            await Until(driver, () => !driver.FindElement(By.Id("machines-status")).Displayed, "the next try loading them all");

            // Every listing the page asks for from here on (logged above the faults: a refused one counts too).
            js.ExecuteScript("window.__requests = []; const f = window.fetch; window.fetch = (i, o) => { window.__requests.push(typeof i === 'string' ? i : i.url); return f(i, o); };");
            List<string> Listings() => ((IReadOnlyCollection<object>)js.ExecuteScript("return window.__requests.filter((u) => /^\\/api\\/machines\\?/.test(u))")!).Cast<string>().ToList();
            string resumed = $"/api/machines?after={Id(1000)}&limit=1000";

            // Failing again and again: tried again only while the Machines page is shown, backing off (3 s, then 6 s),
            // and from after the last page that came, not from the first page.
            js.ExecuteScript("window.__faults.push({ match: '^/api/machines[?]after=', times: 2, status: 503 }); location.hash = '#alerts';");
            await Until(driver, () => js.ExecuteScript("return document.body.dataset.page") as string == "alerts", "the alerts page");
            js.ExecuteScript("location.hash = '#machines';");
            partial = await Until(driver, () => driver.FindElement(By.Id("machines-status")) is { Displayed: true } s && s.Text.Contains("failed") ? s.Text : null, "the failed refresh said");
            Assert.EndsWith("trying again in 3 s", partial);
            js.ExecuteScript("window.__requests.length = 0; location.hash = '#alerts';");
            await Until(driver, () => js.ExecuteScript("return document.body.dataset.page") as string == "alerts", "the alerts page");
            await Task.Delay(TimeSpan.FromSeconds(4.5), cancellation);
            Assert.Empty(Listings()); // not tried again while the page is not shown
            js.ExecuteScript("location.hash = '#machines';");
            partial = await Until(driver, () => driver.FindElement(By.Id("machines-status")) is { Displayed: true } s && s.Text.EndsWith("6 s") ? s.Text : null, "the second failure said");
            Assert.Equal($"loaded 1,000 machines (ids up to {Id(1000)}); the next page failed (the silo is restarting): the {count - 1000:N0} after them are as last loaded; trying again in 6 s", partial);
            Assert.Equal(new[] { resumed }, Listings());
            await Until(driver, () => !driver.FindElement(By.Id("machines-status")).Displayed
                && driver.FindElement(By.Id("machines-shown")).Text.Contains($"of {total}"), "the third try loading the rest");
            Assert.Equal(new[] { resumed, resumed, $"/api/machines?after={Id(2000)}&limit=1000" }, Listings());

            // Events of 60 machines within a second mark the list stale: it is loaded again when its interval allows
            // (37.5 s at 2,500 machines), not at once — and not machine by machine either.
            var hub = silo.App.Services.GetRequiredService<ConsoleEventHub>();
            object Alert(string machine, string clip) => new { machineId = machine, clipId = clip, clipIndex = 0, score = 2.0, decisionThreshold = 1.0,
                labelRequested = false, detectedAt = DateTimeOffset.UtcNow, audioUrl = (string?)null, audioReference = (string?)null };
            js.ExecuteScript("window.__requests.length = 0;");
            foreach (int i in Enumerable.Range(1, 60)) hub.Publish(ConsoleEventHub.AlertEvent, Id(i), Alert(Id(i), $"burst-{i}"));
            hub.Publish(ConsoleEventHub.AlertEvent, far, Alert(far, "burst-far")); // the alerts page shows far's: its row says the burst came
            await Until(driver, () => driver.FindElements(By.CssSelector("#alerts-list tr[data-clip='burst-far']")).Count == 1, "the burst received");
            await Task.Delay(TimeSpan.FromSeconds(2.5), cancellation);
            Assert.Empty(Listings());
            Assert.DoesNotContain((IReadOnlyCollection<object>)js.ExecuteScript("return window.__requests")!, u => (string)u == $"/api/machines/{Id(1)}");

            // A machine the list does not have yet (configured since it loaded) takes its place in id order on its event.
            string newest = Id(0);
            await machines.Configure(newest, new MachineSettings { Strategy = "random", Budget = 0.1, Seed = 1 });
            js.ExecuteScript("const s = document.getElementById('machines-sort'); s.value = 'id'; s.dispatchEvent(new Event('change'));");
            hub.Publish(ConsoleEventHub.AlertEvent, newest, Alert(newest, "newest-1"));
            string plus = (count + 1).ToString("N0", System.Globalization.CultureInfo.InvariantCulture);
            await Until(driver, () => driver.FindElement(By.Id("machines-shown")).Text.Contains($"of {plus}"), "the new machine counted");
            Assert.Equal(newest, driver.FindElement(By.CssSelector("#machines-list tr")).GetAttribute("data-machine"));
            Assert.Equal(1L, js.ExecuteScript($"return document.querySelectorAll('#machine-ids option[value=\"{newest}\"]').length"));

            // Signing out forgets the machines; another key signed in while the last key's load is still under way
            // (each listing held 1.5 s here) loads them for itself.
            js.ExecuteScript("const f = window.fetch; window.fetch = (i, o) => /^\\/api\\/machines\\?/.test(typeof i === 'string' ? i : i.url) ? new Promise((r) => setTimeout(r, 1500)).then(() => f(i, o)) : f(i, o); location.hash = '#alerts';");
            await Until(driver, () => js.ExecuteScript("return document.body.dataset.page") as string == "alerts", "the alerts page");
            js.ExecuteScript("location.hash = '#machines';");
            await Until(driver, () => js.ExecuteScript("return document.body.dataset.page") as string == "machines", "the machines page, loading");
            driver.FindElement(By.Id("signout")).Click();
            await Until(driver, () => driver.FindElement(By.Id("key")).Displayed, "the sign-in form");
            Assert.Equal(0L, js.ExecuteScript("return document.querySelectorAll('#machine-ids option').length"));
            Assert.Equal(0L, js.ExecuteScript("return document.querySelectorAll('#machines-list tr').length"));
            driver.FindElement(By.Id("key")).SendKeys(ConsoleFixture.OperatorKey);
            driver.FindElement(By.Id("signin-button")).Click();
            await Until(driver, () => driver.FindElement(By.Id("machines-shown")).Text.Contains($"of {plus}"), "the machines, for the new key");
            Assert.Equal(count + 1, Convert.ToInt32(js.ExecuteScript("return document.querySelectorAll('#machine-ids option').length")));
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }
}
