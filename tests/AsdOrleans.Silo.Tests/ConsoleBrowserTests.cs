using System.Net.Http.Json;
using System.Text.Json;
using AsdOrleans.Abstractions;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Interactions;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// The console in a real browser: Debian's chromium driven by chromedriver (package chromium-driver; ./asd setup
/// installs both). Without them the test is skipped — except in CI (CI=true), where it fails.
/// Set ASD_CONSOLE_SCREENSHOTS=DIR to save a screenshot of each page there (docs/figures/console-*.png).
/// </summary>
[Collection(Name)] // one browser and silo at a time: the timing checks are not shared with another class's browser
public sealed class ConsoleBrowserTests(ConsoleFixture silo) : IClassFixture<ConsoleFixture>
{
    /// <summary>The collection of the console's browser test classes.</summary>
    public const string Name = "console browser";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private static string? OnPath(params string[] names) => names
        .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, name)))
        .FirstOrDefault(File.Exists);

    internal static ChromeDriver StartBrowser(string profile)
    {
        string? chromium = OnPath("chromium", "chromium-browser", "google-chrome");
        string? driver = OnPath("chromedriver");
        if (chromium is null || driver is null)
        {
            string missing = chromium is null ? "chromium" : "chromedriver (Debian package chromium-driver)";
            if (Environment.GetEnvironmentVariable("CI") == "true")
                Assert.Fail($"{missing} is not installed; CI must run the browser test (./asd setup installs it)");
            Assert.Skip($"{missing} is not installed (./asd setup installs it; ./asd doctor reports it)");
        }
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driver)!, Path.GetFileName(driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = chromium };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--window-size=1280,1000", $"--user-data-dir={profile}");
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(90));
    }

    // The console re-renders its tables on live events: an element found a moment ago may be gone, so find it again.
    internal static Task<bool> Click(IWebDriver driver, By element, string what)
        => Until(driver, () => { driver.FindElement(element).Click(); return true; }, $"clicking {what}");

    internal static Task<string> TextOf(IWebDriver driver, By element) => Until(driver, () => driver.FindElement(element).Text, $"the text of {element}");

    internal static async Task<T> Until<T>(IWebDriver driver, Func<T?> probe, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        Exception? last = null;
        while (true)
        {
            try
            {
                var value = probe();
                if (value is not null && !(value is bool b && !b)) return value;
            }
            catch (WebDriverException e) { last = e; /* the page is changing: look again */ }
            catch (InvalidOperationException e) { last = e; }
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"{what} did not happen within {Wait.TotalSeconds} s{(last is null ? "" : $" (last: {last.GetType().Name}: {last.Message})")}; url {driver.Url}; page: {((IJavaScriptExecutor)driver).ExecuteScript("return document.body.innerText")}");
            await Task.Delay(150);
        }
    }

    internal static int QueueSize(IWebDriver driver) => driver.FindElements(By.CssSelector("#queue-list li.request")).Count;

    [Fact]
    public async Task A_labeller_signs_in_plays_a_clip_answers_with_the_keyboard_and_sees_counts_and_chart_change()
    {
        const string machine = "ui.fan-01";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 9 });
        await silo.Push(machine, "clip-1", 20);
        await silo.Push(machine, "clip-2", 21);
        string? shots = Environment.GetEnvironmentVariable("ASD_CONSOLE_SCREENSHOTS");
        if (shots is not null)
        {
            // A fuller picture for the documentation's screenshots: a second machine with a longer history.
            await silo.Enroll("ui.pump-02", new MachineSettings { Strategy = "hybrid", Budget = 0.2, Seed = 3 });
            for (int i = 0; i < 40; i++) await silo.Push("ui.pump-02", $"p-{i:D2}", i % 60);
        }

        var profile = Directory.CreateTempSubdirectory("asd-selenium-").FullName;
        try
        {
            using var driver = StartBrowser(profile);
            var js = (IJavaScriptExecutor)driver;
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/"));

            // Sign in: the key goes to sessionStorage, never into the URL.
            await Until(driver, () => driver.FindElements(By.Id("key")).Count == 1, "the sign-in form");
            driver.FindElement(By.Id("key")).SendKeys(ConsoleFixture.LabellerKey);
            driver.FindElement(By.Id("labeller")).SendKeys("grace"); // recorded with each answer
            driver.FindElement(By.Id("signin-button")).Click();
            int expected = shots is null ? 2 : 2 + (await silo.Get("/api/label-requests?machine=ui.pump-02")).GetArrayLength();
            await Until(driver, () => QueueSize(driver) == expected, $"{expected} queued requests");
            Assert.DoesNotContain(ConsoleFixture.LabellerKey, driver.Url);
            Assert.Equal(ConsoleFixture.LabellerKey, js.ExecuteScript("return sessionStorage.getItem('asd.apiKey')"));
            if (shots is null)
                Assert.Equal(new[] { "clip-1", "clip-2" }, driver.FindElements(By.CssSelector("#queue-list li.request")).Select(li => li.GetAttribute("data-clip")));

            // The first request's audio loads through a blob: URL and plays; its spectrogram is drawn.
            var first = driver.FindElement(By.CssSelector("#queue-list li.request.current"));
            string clip = first.GetAttribute("data-clip")!;
            // It says why the machine asked: random's draw at b = 1.
            var reason = first.FindElement(By.CssSelector(".meta .reason"));
            if (shots is null)
                Assert.Equal(("random", "random check"), (reason.GetAttribute("data-reason"), reason.Text));
            string firstMachine = first.GetAttribute("data-machine")!;
            await Until(driver, () => js.ExecuteScript("const a = document.querySelector('#queue-list li.request.current audio'); return a.src.startsWith('blob:') && a.readyState >= 2;") as bool?, "the audio loading");
            var played = js.ExecuteAsyncScript("const done = arguments[arguments.length - 1]; const a = document.querySelector('#queue-list li.request.current audio'); a.play().then(() => done('playing')).catch(e => done(String(e)));");
            Assert.Equal("playing", played);
            await Until(driver, () => js.ExecuteScript("const i = document.querySelector('#queue-list li.request.current img'); return i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0;") as bool?, "the spectrogram loading");
            // Playing it told the other labellers who is listening (a claim in grace's name).
            await Waiting.Until(async () => (await silo.Get($"/api/label-requests?machine={firstMachine}")).EnumerateArray()
                .Any(r => r.GetProperty("clipId").GetString() == clip && r.GetProperty("claimedBy").GetString() == "grace"), "the played clip claimed as grace's", seconds: 20);
            if (shots is not null) Save(driver, shots, "console-queue.png");

            // Answer with the keyboard: the request leaves the queue at once.
            long anomalousBefore = (await silo.Get($"/api/machines/{firstMachine}")).GetProperty("anomalySetSize").GetInt64();
            new Actions(driver).SendKeys("a").Perform();
            await Until(driver, () => QueueSize(driver) == expected - 1, "the answered request leaving the queue");
            Assert.Empty(driver.FindElements(By.CssSelector($"#queue-list li.request[data-clip='{clip}']")));
            await Waiting.Until(async () => (await silo.Get($"/api/machines/{firstMachine}")).GetProperty("anomalySetSize").GetInt64() == anomalousBefore + 1,
                "the machine holds the anomaly labelled in the browser", seconds: 20);
            Assert.Equal("answering as grace", await TextOf(driver, By.Id("who")));
            await Waiting.Until(async () => (await silo.Get($"/api/machines/{firstMachine}/scores")).EnumerateArray()
                .Any(p => p.GetProperty("clipId").GetString() == clip && p.GetProperty("closedBy").GetString() == "grace"), "the answer recorded as grace's", seconds: 20);


            // Another labeller answers a request: the machine announces it closed, and the card leaves this queue at once,
            // well before the page's 15 s refresh.
            await silo.Push(machine, "clip-elsewhere", 29);
            await Until(driver, () => driver.FindElements(By.CssSelector("#queue-list li.request[data-clip='clip-elsewhere']")).Count == 1, "the request arriving");
            var answeredAt = DateTime.UtcNow;
            Assert.True((await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/clips/clip-elsewhere/label", ConsoleFixture.LabellerKey,
                JsonContent.Create(new { label = "normal" }))).IsSuccessStatusCode);
            await Until(driver, () => driver.FindElements(By.CssSelector("#queue-list li.request[data-clip='clip-elsewhere']")).Count == 0, "the answered request leaving");
            Assert.True(DateTime.UtcNow - answeredAt < TimeSpan.FromSeconds(10), "left on the closed event, not the periodic refresh");
            int normalsElsewhere = 1; // the machines page's label counts below include it

            // The selection is the card, not a place in the list: a card before it leaving (another labeller declines it)
            // leaves the same card selected; it used to pass to the next card, which the next key then answered unheard.
            string Current() => driver.FindElements(By.CssSelector("#queue-list li.request.current")).Select(li => li.GetAttribute("data-clip")!).SingleOrDefault() ?? "none";
            // textContent, not Text: the toast fades after 2.5 s, and a busy machine may look later than that.
            string Toast() => js.ExecuteScript("return document.getElementById('toast').textContent") as string ?? "";
            async Task DeclineElsewhere(string clipId) => Assert.True((await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/clips/{clipId}/decline", ConsoleFixture.LabellerKey, null)).IsSuccessStatusCode);
            await silo.Push(machine, "sel-a", 24);
            await silo.Push(machine, "sel-b", 25);
            await silo.Push(machine, "sel-c", 26);
            await Until(driver, () => driver.FindElements(By.CssSelector("#queue-list li.request[data-clip='sel-c']")).Count == 1, "three more requests arriving");
            await Click(driver, By.CssSelector("#queue-list li.request[data-clip='sel-b'] h3"), "the second of them");
            Assert.Equal("sel-b", Current());
            await DeclineElsewhere("sel-a");
            await Until(driver, () => driver.FindElements(By.CssSelector("#queue-list li.request[data-clip='sel-a']")).Count == 0, "the card before it leaving");
            Assert.Equal("sel-b", Current());
            // Skip with the mouse: the card goes to the back and the one after it is selected (the click also reached the
            // card, which selected the skipped card again).
            await Click(driver, By.CssSelector("#queue-list li.request[data-clip='sel-b'] .actions button.skip:not(.decline)"), "sel-b's Skip");
            await Until(driver, () => Current() == "sel-c", "the card after the skipped one selected");
            // The selected card itself leaving: none is selected, and a key answers nothing until the labeller picks one.
            await DeclineElsewhere("sel-c");
            await Until(driver, () => Current() == "none", "no card selected once the selected one left");
            Assert.Contains("sel-c left the queue", Toast());
            new Actions(driver).SendKeys("a").Perform();
            await Until(driver, () => Toast().Contains("no card is selected"), "the key refused");
            Assert.False(driver.FindElement(By.Id("undo")).Displayed, "nothing answered");
            new Actions(driver).SendKeys(Keys.ArrowDown).Perform();
            await Until(driver, () => Current() == "sel-b", "↓ selecting the card in its place");
            await DeclineElsewhere("sel-b");
            await Until(driver, () => driver.FindElements(By.CssSelector("#queue-list li.request[data-clip='sel-b']")).Count == 0, "the last of them leaving");

            // Another labeller opens a clip: this queue shows who listens to it, and stops showing it when they let it go.
            await silo.Push(machine, "clip-claimed", 27);
            string claimedCard = "#queue-list li.request[data-clip='clip-claimed']";
            await Until(driver, () => driver.FindElements(By.CssSelector(claimedCard)).Count == 1, "the request to be claimed arriving");
            async Task ClaimAsHeidi(HttpMethod method)
            {
                using var claiming = new HttpRequestMessage(method, $"/api/machines/{machine}/clips/clip-claimed/claim");
                claiming.Headers.Add("X-Api-Key", ConsoleFixture.LabellerKey);
                claiming.Headers.Add("X-Labeller", "heidi");
                Assert.True((await silo.Http.SendAsync(claiming)).IsSuccessStatusCode);
            }
            await ClaimAsHeidi(HttpMethod.Post);
            await Until(driver, () => driver.FindElements(By.CssSelector(claimedCard + ".claimed .claim .listening")).Count == 1
                && driver.FindElement(By.CssSelector(claimedCard + " .claim")).Text.Contains("heidi is listening"), "heidi shown listening");
            if (shots is not null)
            {
                js.ExecuteScript($"document.querySelector(\"{claimedCard}\").scrollIntoView({{ block: 'center' }});");
                Save(driver, shots, "console-queue-claimed.png");
            }
            // Skipping the card before it: the selection passes heidi's card by, to the next one nobody is listening to.
            await silo.Push(machine, "clip-after", 26);
            await Until(driver, () => driver.FindElements(By.CssSelector("#queue-list li.request[data-clip='clip-after']")).Count == 1, "the request after it arriving");
            var skipped = js.ExecuteScript($"const li = document.querySelector(\"{claimedCard}\").previousElementSibling; li.click(); " +
                "if (!li.classList.contains('current')) return null; document.dispatchEvent(new KeyboardEvent('keydown', { key: 's', bubbles: true })); return li.dataset.clip;") as string;
            Assert.NotNull(skipped);
            Assert.Equal("clip-after", await Until(driver, () => driver.FindElement(By.CssSelector("#queue-list li.request.current")).GetAttribute("data-clip"), "a current card after the skip"));
            await ClaimAsHeidi(HttpMethod.Delete);
            await Until(driver, () => driver.FindElements(By.CssSelector(claimedCard + ".claimed")).Count == 0
                && driver.FindElement(By.CssSelector(claimedCard + " .claim")).Text.Length == 0, "heidi's claim gone from the card");

            // That normal answer keeps the clip as an example of how the machine sounds: its other cards offer it (r).
            string sameMachine = $"#queue-list li.request[data-machine='{machine}']";
            await Until(driver, () => driver.FindElements(By.CssSelector(sameMachine + " button.hear-normal")).Count > 0, "a normal clip offered on the machine's cards");
            await Click(driver, By.CssSelector(sameMachine + " button.hear-normal"), "A normal clip");
            await Until(driver, () => js.ExecuteScript($"const a = document.querySelector(\"{sameMachine} audio.normal-audio\"); return !!a && a.src.startsWith('blob:') && a.readyState >= 2;") as bool?, "the normal clip loading");

            // A wrong key taken back: the answer waits 5 s before it is sent, and Undo (z) returns the card with nothing sent.
            await silo.Push(machine, "clip-undo", 28);
            string undoCard = "#queue-list li.request[data-clip='clip-undo']";
            await Until(driver, () => driver.FindElements(By.CssSelector(undoCard)).Count == 1, "the request to be undone arriving");
            long normalsBeforeUndo = (await silo.Get($"/api/machines/{machine}")).GetProperty("normalLabels").GetInt64();
            await Click(driver, By.CssSelector(undoCard + " h3"), "the request to be undone"); // its title: the middle may be the audio player, which keeps keys
            new Actions(driver).SendKeys("n").Perform();
            await Until(driver, () => driver.FindElements(By.CssSelector(undoCard)).Count == 0 && driver.FindElement(By.Id("undo")).Displayed, "the card leaving, with Undo offered");
            Assert.Contains("clip-undo: normal", driver.FindElement(By.Id("undo-text")).Text);
            new Actions(driver).SendKeys("z").Perform();
            await Until(driver, () => driver.FindElements(By.CssSelector(undoCard + ".current")).Count == 1 && !driver.FindElement(By.Id("undo")).Displayed, "the card back, current");
            await Task.Delay(TimeSpan.FromSeconds(6)); // past the hold: had it been sent, the machine would have it now
            Assert.Equal(normalsBeforeUndo, (await silo.Get($"/api/machines/{machine}")).GetProperty("normalLabels").GetInt64());
            Assert.Contains((await silo.Get($"/api/label-requests?machine={machine}")).EnumerateArray(), r => r.GetProperty("clipId").GetString() == "clip-undo");
            // Answered again and not undone: sent once the hold is over.
            new Actions(driver).SendKeys("n").Perform();
            await Waiting.Until(async () => (await silo.Get($"/api/machines/{machine}")).GetProperty("normalLabels").GetInt64() == normalsBeforeUndo + 1,
                "the second answer sent after its hold", seconds: 20);
            normalsElsewhere++;

            // Alerts first: a labeller on a backlog hears the likely faults before the rest, each group in queue order.
            Assert.False((await silo.Push(machine, "o-1", 28)).GetProperty("anomalous").GetBoolean(), "clip 28 is a labelled normal now");
            Assert.True((await silo.Push(machine, "o-2", 21)).GetProperty("anomalous").GetBoolean(), "clip 21 is an alert");
            await Until(driver, () => driver.FindElements(By.CssSelector("#queue-list li.request[data-clip='o-2']")).Count == 1, "the two new requests arriving");
            string[] Order() => driver.FindElements(By.CssSelector("#queue-list li.request")).Select(li => li.GetAttribute("data-clip")!)
                .Where(c => c is "o-1" or "o-2").ToArray();
            Assert.Equal(["o-1", "o-2"], Order());
            void ChooseOrder(string order) => js.ExecuteScript($"const s = document.getElementById('queue-order'); s.value = '{order}'; s.dispatchEvent(new Event('change'));");
            ChooseOrder("alerts");
            await Until(driver, () => Order().SequenceEqual(["o-2", "o-1"]), "the alert ahead of the older clip");
            Assert.Equal("alerts", js.ExecuteScript("return localStorage.getItem('asd.queueOrder')"));
            ChooseOrder("oldest");
            await Until(driver, () => Order().SequenceEqual(["o-1", "o-2"]), "oldest first again");

            // Two labellers answer the same request at once, the other way first. This labeller's answer, sent after its hold, is refused (409):
            // the request stays out of the queue and the page says why. The other answer is a synchronous request in the
            // same script as the key press, so the page cannot handle the closed event in between.
            string contested = "clip-c0";
            await silo.Push(machine, contested, 30);
            await Until(driver, () => driver.FindElements(By.CssSelector($"#queue-list li.request[data-clip='{contested}']")).Count == 1, "the contested request arriving");
            long anomalousNow = (await silo.Get($"/api/machines/{machine}")).GetProperty("anomalousLabels").GetInt64();
            var pressed = js.ExecuteScript($"const li = document.querySelector(\"#queue-list li.request[data-clip='{contested}']\"); if (!li) return 'gone'; li.click(); " +
                "if (!li.classList.contains('current')) return 'not current'; " +
                $"const x = new XMLHttpRequest(); x.open('POST', '/api/machines/{machine}/clips/{contested}/label', false); " +
                "x.setRequestHeader('X-Api-Key', sessionStorage.getItem('asd.apiKey')); x.setRequestHeader('Content-Type', 'application/json'); " +
                "x.send(JSON.stringify({ label: 'normal' })); if (x.status !== 200) return 'other answer ' + x.status; " +
                "document.dispatchEvent(new KeyboardEvent('keydown', { key: 'a', bubbles: true })); return 'pressed';");
            Assert.Equal("pressed", pressed);
            normalsElsewhere++;
            await Until(driver, () => Toast().StartsWith($"{contested}: ", StringComparison.Ordinal) && Toast().Contains("already labelled normal"), "the refusal shown");
            Assert.Empty(driver.FindElements(By.CssSelector($"#queue-list li.request[data-clip='{contested}']")));
            Assert.Equal(anomalousNow, (await silo.Get($"/api/machines/{machine}")).GetProperty("anomalousLabels").GetInt64()); // refused: nothing applied

            // A machine on the paper's budget start (b̂ = 0) spends far past b over 100 clips; the page says so.
            const string spender = "ui.spender-03"; // a type of its own: the gauge counts every silo in the process
            await silo.Enroll(spender, new MachineSettings { Strategy = "hybrid", Budget = 0.1, BudgetStart = "paper", Seed = 2 });
            for (int i = 0; i < 100; i++) await silo.Push(spender, $"v-{i:D3}", i % 60);
            Assert.True((await silo.Get($"/api/machines/{spender}")).GetProperty("overspent").GetBoolean(), "the machine should have overspent");
            Assert.Matches(@"asd_machines_overspent\{[^}]*machine_type=""spender""\} 1\b", await silo.Http.GetStringAsync("/metrics")); // operators can alert on it

            // The machines page: the machine's counts changed, and its score history is charted.
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/#machines"));
            await Until(driver, () => driver.FindElement(By.CssSelector($"#machines-list tr[data-machine='{firstMachine}'] td.anomaly-set")).Text == (anomalousBefore + 1).ToString(), "|A| growing on the machines page");
            // normal/anomalous: the keyboard's anomaly, and the other labeller's normals where that was the same machine.
            Assert.Equal($"{(firstMachine == machine ? normalsElsewhere : 0)}/1", await TextOf(driver, By.CssSelector($"#machines-list tr[data-machine='{firstMachine}'] td.labels")));
            // Methods by name, and an overspent budget marked where its realised rate is shown.
            Assert.Equal("model", await TextOf(driver, By.CssSelector($"#machines-list tr[data-machine='{firstMachine}'] td.embedder")));
            Assert.Equal("domain", await TextOf(driver, By.CssSelector($"#machines-list tr[data-machine='{firstMachine}'] td.scoring")));
            // φ per domain: the source's and the target's, as the status gives them.
            var firstStatus = await silo.Get($"/api/machines/{firstMachine}");
            string Phi(string field) => firstStatus.GetProperty(field).GetDouble().ToString("0.000", System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal($"{Phi("decisionThreshold")} / {Phi("decisionThresholdTarget")}", await TextOf(driver, By.CssSelector($"#machines-list tr[data-machine='{firstMachine}'] td.phi")));
            Assert.Empty(driver.FindElements(By.CssSelector($"#machines-list tr[data-machine='{firstMachine}'] td.realised .overspent")));
            await Until(driver, () => driver.FindElements(By.CssSelector($"#machines-list tr[data-machine='{spender}'] td.realised .overspent")).Count == 1, "the overspent mark");
            await Click(driver, By.CssSelector($"#machines-list tr[data-machine='{firstMachine}']"), "the first machine's row");
            var points = (await silo.Get($"/api/machines/{firstMachine}/scores")).GetArrayLength();
            await Until(driver, () => driver.FindElement(By.Id("score-chart")).GetAttribute("data-points") == points.ToString(), "the score chart");
            var canvas = await Until(driver, () => (System.Drawing.Size?)driver.FindElement(By.CssSelector("#score-chart canvas")).Size, "the chart canvas") ?? default;
            Assert.True(canvas.Width > 300 && canvas.Height > 100, $"chart canvas {canvas}");
            // Something is drawn: the canvas is not blank.
            Assert.Equal(true, js.ExecuteScript("const c = document.querySelector('#score-chart canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true; return false;"));
            if (shots is not null)
            {
                await Click(driver, By.CssSelector("#machines-list tr[data-machine='ui.pump-02']"), "ui.pump-02's row");
                await Until(driver, () => driver.FindElement(By.Id("score-chart")).GetAttribute("data-points") == "40", "the longer chart");
                Save(driver, shots, "console-machines.png");
            }

            // New requests arrive live (Server-Sent Events), well before the page's 15 s refresh.
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/#queue"));
            await Until(driver, () => driver.FindElement(By.Id("live")).Text.Contains("live"), "the live connection");
            int queued = QueueSize(driver);
            var started = DateTime.UtcNow;
            await silo.Push(machine, "clip-3", 22);
            await Until(driver, () => driver.FindElements(By.CssSelector("#queue-list li.request[data-clip='clip-3']")).Count == 1, "the new request arriving live");
            Assert.Equal("random", driver.FindElement(By.CssSelector("#queue-list li.request[data-clip='clip-3'] .reason")).GetAttribute("data-reason"));
            Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "arrived by the event stream, not the periodic refresh");
            Assert.Equal(queued + 1, QueueSize(driver));

            // A gateway's clip: the silo holds no audio, so the card links to where the gateway keeps it instead of a player.
            var fromGateway = await silo.PushFromGateway(machine, "gw-1", 23, "https://gateway.plant-a.example/clips/gw-1.wav");
            Assert.True(fromGateway.LabelRequested, "b = 1: a request");
            Assert.True(fromGateway.Anomalous, "an alert too (the untrained encoder flags nearly every clip)");
            string gateway = "#queue-list li.request[data-clip='gw-1']";
            await Until(driver, () => driver.FindElements(By.CssSelector(gateway + " .audio-elsewhere a")).Count == 1, "the gateway request arriving live");
            Assert.Equal("https://gateway.plant-a.example/clips/gw-1.wav", driver.FindElement(By.CssSelector(gateway + " .audio-elsewhere a")).GetAttribute("href"));
            Assert.Empty(driver.FindElements(By.CssSelector(gateway + " audio")));
            Assert.Equal(queued + 2, QueueSize(driver));

            // A labeller who cannot tell declines: the card leaves the queue, and the machine closes the request unlabelled.
            await Click(driver, By.CssSelector(gateway + " button.decline"), "Can't tell");
            await Until(driver, () => driver.FindElements(By.CssSelector(gateway)).Count == 0, "the declined request leaving the queue");
            await Waiting.Until(async () => !(await silo.Get($"/api/label-requests?machine={machine}")).EnumerateArray().Any(r => r.GetProperty("clipId").GetString() == "gw-1"),
                "the request closed on the machine", seconds: 20);
            var late = await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/clips/gw-1/label", ConsoleFixture.LabellerKey, JsonContent.Create(new { label = "normal" }));
            Assert.Equal(System.Net.HttpStatusCode.Gone, late.StatusCode);
            Assert.Equal(queued + 1, QueueSize(driver));

            // Alerts: the same list the API gives, newest first.
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/#alerts"));
            var alerts = await silo.Get("/api/alerts?limit=500");
            await Until(driver, () => driver.FindElements(By.CssSelector("#alerts-list tr")).Count == alerts.GetArrayLength(), "the alert list");
            if (alerts.GetArrayLength() > 0)
                Assert.Equal(alerts[0].GetProperty("clipId").GetString(), await Until(driver, () => driver.FindElement(By.CssSelector("#alerts-list tr")).GetAttribute("data-clip"), "the newest alert"));
            // The gateway's alert links to where the gateway keeps the clip, as its card did.
            Assert.Equal("https://gateway.plant-a.example/clips/gw-1.wav",
                await Until(driver, () => driver.FindElement(By.CssSelector("#alerts-list tr[data-clip='gw-1'] .alert-audio .audio-elsewhere a")).GetAttribute("href"), "the gateway alert's link"));
            if (shots is not null) Save(driver, shots, "console-alerts.png");

            // Pushes clips until one is an alert whose label the machine asks for; its clip id.
            async Task<string> AlertAskingForItsLabel(string prefix)
            {
                for (int index = 24; index < 60; index++)
                {
                    var verdict = await silo.Push(machine, $"{prefix}-{index}", index);
                    if (verdict.GetProperty("anomalous").GetBoolean() && verdict.GetProperty("labelRequested").GetBoolean()) return $"{prefix}-{index}";
                }
                throw new Xunit.Sdk.XunitException($"no clip of {prefix}-24 … {prefix}-59 was an alert asking for its label");
            }

            // An alert still waiting for its label opens its card in the queue; the label given there shows on the alert.
            string alerting = await AlertAskingForItsLabel("al");
            string row = $"#alerts-list tr[data-clip='{alerting}']";
            await Until(driver, () => driver.FindElements(By.CssSelector(row + " button.open-request")).Count == 1 &&
                driver.FindElements(By.CssSelector($"#queue-list li.request[data-clip='{alerting}']")).Count == 1, "the alert and its request arriving live");
            // A machine filter that hides the request: opening it clears the filter.
            js.ExecuteScript("const s = document.getElementById('filter-machine'); s.value = 'ui.other-01'; s.dispatchEvent(new Event('input'));");
            await Click(driver, By.CssSelector(row + " button.open-request"), "Label it");
            await Until(driver, () => js.ExecuteScript("return document.body.dataset.page") as string == "queue" &&
                driver.FindElements(By.CssSelector($"#queue-list li.request.current[data-clip='{alerting}']")).Count == 1, "the alert's card, current in the queue");
            new Actions(driver).SendKeys("a").Perform();
            await Waiting.Until(async () => (await silo.Get($"/api/machines/{machine}/scores")).EnumerateArray()
                .Any(p => p.GetProperty("clipId").GetString() == alerting && p.GetProperty("label").ValueKind == JsonValueKind.Number), "the label stored");
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/#alerts"));
            await Until(driver, () => driver.FindElements(By.CssSelector(row + " .pill.anomalous")).Count == 1 &&
                driver.FindElements(By.CssSelector(row + " button.open-request")).Count == 0, "the label on the alert");

            // The machine's newest alerts keep their audio: the labelled alert can still be heard from the alert list.
            await Click(driver, By.CssSelector(row + " button.play-alert"), "Listen");
            await Until(driver, () => js.ExecuteScript($"const a = document.querySelector(\"{row} audio\"); return !!a && a.src.startsWith('blob:') && a.readyState >= 2;") as bool?, "the alert's audio loading");

            // Another labeller declines an alert's request elsewhere: the alert says so at once and offers no card to open.
            string declining = await AlertAskingForItsLabel("al2");
            string declinedRow = $"#alerts-list tr[data-clip='{declining}']";
            await Until(driver, () => driver.FindElements(By.CssSelector(declinedRow + " button.open-request")).Count == 1, "the second alert arriving live");
            Assert.True((await silo.Send(HttpMethod.Post, $"/api/machines/{machine}/clips/{declining}/decline", ConsoleFixture.LabellerKey, null)).IsSuccessStatusCode);
            await Until(driver, () => driver.FindElements(By.CssSelector(declinedRow + " .pill.unanswered")).Count == 1 &&
                driver.FindElements(By.CssSelector(declinedRow + " button.open-request")).Count == 0, "the decline on the alert, without a reload");
            Assert.Equal("declined", await TextOf(driver, By.CssSelector(declinedRow + " .pill.unanswered")));

            // An answer still held when the labeller leaves the page is sent as the page goes (a keepalive request).
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/#queue"));
            var leaving = await Until(driver, () => driver.FindElement(By.CssSelector("#queue-list li.request.current")), "a current request");
            string leavingMachine = leaving.GetAttribute("data-machine")!, leavingClip = leaving.GetAttribute("data-clip")!;
            new Actions(driver).SendKeys("n").Perform();
            await Until(driver, () => driver.FindElement(By.Id("undo")).Displayed, "the answer held");
            driver.Navigate().GoToUrl("about:blank");
            await Waiting.Until(async () => (await silo.Get($"/api/machines/{leavingMachine}/scores")).EnumerateArray()
                .Any(p => p.GetProperty("clipId").GetString() == leavingClip && p.GetProperty("requestOutcome").GetString() == "normal"), "the held answer sent on leaving", seconds: 20);
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/#queue")); // the key is still in this tab's session
            await Until(driver, () => driver.FindElement(By.Id("signout")).Displayed, "signed in again from the session");

            // A person's own key: the console answers under the key's name, whatever name is typed.
            driver.FindElement(By.Id("signout")).Click();
            await Until(driver, () => driver.FindElement(By.Id("key")).Displayed, "the sign-in form again");
            driver.FindElement(By.Id("key")).SendKeys(ConsoleFixture.NamedLabellerKey);
            var typedName = driver.FindElement(By.Id("labeller"));
            typedName.Clear();
            typedName.SendKeys("someone");
            driver.FindElement(By.Id("signin-button")).Click();
            await Until(driver, () => driver.FindElement(By.Id("who")).Text == "answering as olive (this key's name)", "the key's name shown");
            var owned = await Until(driver, () => driver.FindElement(By.CssSelector("#queue-list li.request.current")), "a current request");
            string ownedMachine = owned.GetAttribute("data-machine")!, ownedClip = owned.GetAttribute("data-clip")!;
            new Actions(driver).SendKeys("n").Perform();
            await Waiting.Until(async () => (await silo.Get($"/api/machines/{ownedMachine}/scores")).EnumerateArray()
                .Any(p => p.GetProperty("clipId").GetString() == ownedClip && p.GetProperty("closedBy").GetString() == "olive"), "the answer recorded as olive's", seconds: 20);

            // Signing out forgets the key.
            driver.FindElement(By.Id("signout")).Click();
            Assert.Null(js.ExecuteScript("return sessionStorage.getItem('asd.apiKey')"));
            if (shots is not null) Save(driver, shots, "console-signin.png");
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }

    private static void Save(ChromeDriver driver, string directory, string name)
    {
        Directory.CreateDirectory(directory);
        driver.GetScreenshot().SaveAsFile(Path.Combine(directory, name));
    }
}
