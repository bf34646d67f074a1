using AsdOrleans.Abstractions;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Interactions;
using static AsdOrleans.Silo.Tests.ConsoleBrowserTests;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// The console on a phone, through a silo that fails for a while, and by keyboard: what the 2026-12-06 audit found
/// (docs/decisions.md, stop 49). Its own silo, so its requests do not show in the other class's queue.
/// </summary>
[Collection(Name)]
public sealed class PhoneRestartKeyboardConsoleBrowserTests(ConsoleFixture silo) : IClassFixture<ConsoleFixture>
{
    // Installed before each document's own scripts: fetch answers as a failing silo would, for the calls listed in
    // window.__faults ({ match: regex of the URL, method?, times, status: 0 for a network error }); a reload takes its
    // list from sessionStorage 'test.faults', so a page can fail while it loads.
    internal const string Faults = """
        (() => {
          let faults = [];
          try { faults = JSON.parse(sessionStorage.getItem('test.faults') || '[]'); sessionStorage.removeItem('test.faults'); } catch { }
          window.__faults = faults;
          const real = window.fetch.bind(window);
          window.fetch = (input, init = {}) => {
            const url = typeof input === 'string' ? input : input.url;
            const method = (init.method || 'GET').toUpperCase();
            const f = window.__faults.find((f) => f.times > 0 && new RegExp(f.match).test(url) && (!f.method || f.method === method));
            if (!f) return real(input, init);
            f.times--;
            if (f.status === 0) return Promise.reject(new TypeError('Failed to fetch'));
            return Promise.resolve(new Response(JSON.stringify({ title: 'Service Unavailable', detail: 'the silo is restarting' }),
              { status: f.status, headers: { 'Content-Type': 'application/problem+json' } }));
          };
        })();
        """;

    private static async Task<(ChromeDriver Driver, IJavaScriptExecutor Js)> Open(string profile, ConsoleFixture silo, int width = 1280, int height = 1000)
    {
        var driver = StartBrowser(profile);
        driver.ExecuteCdpCommand("Page.addScriptToEvaluateOnNewDocument", new Dictionary<string, object?> { ["source"] = Faults });
        // A viewport of exactly this size (mobile: false, so the page is not zoomed out to fit what overflows).
        driver.ExecuteCdpCommand("Emulation.setDeviceMetricsOverride", new Dictionary<string, object?>
            { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false });
        driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/"));
        await Until(driver, () => driver.FindElements(By.Id("key")).Count == 1, "the sign-in form");
        return (driver, (IJavaScriptExecutor)driver);
    }

    private static async Task SignIn(IWebDriver driver, string key, string name)
    {
        await Until(driver, () => driver.FindElement(By.Id("key")).Displayed, "the sign-in form");
        driver.FindElement(By.Id("key")).SendKeys(key);
        var typed = driver.FindElement(By.Id("labeller"));
        typed.Clear();
        if (name.Length > 0) typed.SendKeys(name);
        driver.FindElement(By.Id("signin-button")).Click();
    }

    private static void ShowOnly(IJavaScriptExecutor js, string machine) => js.ExecuteScript(
        "const s = document.getElementById('filter-machine'); s.value = arguments[0]; s.dispatchEvent(new Event('input'));", machine);

    private static string Cards(string machine) => $"#queue-list li.request[data-machine='{machine}']";

    private static async Task WithBrowser(Func<string, Task> test)
    {
        var profile = Directory.CreateTempSubdirectory("asd-selenium-").FullName;
        try { await test(profile); }
        finally { Directory.Delete(profile, recursive: true); }
    }

    [Fact]
    public Task At_phone_width_every_page_fits_and_the_answer_buttons_are_on_screen() => WithBrowser(async profile =>
    {
        const string machine = "ph.fan-01";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 9 });
        for (int i = 0; i < 3; i++) await silo.Push(machine, $"ph-{i}", 20 + i);
        var (driver, js) = await Open(profile, silo, 390, 844);
        using var _ = driver;
        Assert.Equal(390L, js.ExecuteScript("return window.innerWidth"));
        string Overflow() => js.ExecuteScript("return document.documentElement.scrollWidth <= window.innerWidth ? null : " +
            "`page ${document.documentElement.scrollWidth} px wide in a ${window.innerWidth} px window`") as string ?? "";
        // The sign-in page, asserted at the end: the pages' widths are this test's first concern.
        bool navBeforeSignIn = driver.FindElement(By.Id("nav")).Displayed;
        string signInOverflow = Overflow();

        await SignIn(driver, ConsoleFixture.LabellerKey, "pat");
        await Until(driver, () => driver.FindElements(By.CssSelector(Cards(machine))).Count == 3, "the phone's queue");
        // Only this machine's cards: the class's other tests queue theirs in the same silo, and a card fetches its
        // spectrogram only when it comes near the screen.
        ShowOnly(js, machine);
        await Until(driver, () => js.ExecuteScript($"return [...document.querySelectorAll(\"{Cards(machine)} img\")].every(i => i.complete && i.naturalWidth > 0)") as bool?, "the spectrograms");
        Assert.Equal("", Overflow());
        // Every answer button, and Sign out, lies within the window's width.
        var outside = js.ExecuteScript("return [...document.querySelectorAll('#queue-list .actions button'), document.getElementById('signout')]" +
            ".map(b => [b.textContent, b.getBoundingClientRect()]).filter(([, r]) => r.left < 0 || r.right > window.innerWidth)" +
            ".map(([t, r]) => `${t} at ${Math.round(r.left)}–${Math.round(r.right)}`).join(', ')") as string;
        Assert.Equal("", outside);

        int alerts = (await silo.Get("/api/alerts?limit=500")).GetArrayLength();
        foreach (var page in new[] { "machines", "alerts" })
        {
            driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, $"/ui/#{page}"));
            await Until(driver, () => js.ExecuteScript("return document.body.dataset.page") as string == page, $"the {page} page");
            if (page == "machines")
                await Until(driver, () => driver.FindElements(By.CssSelector($"#machines-list tr[data-machine='{machine}']")).Count == 1
                    && driver.FindElement(By.Id("score-chart")).GetAttribute("data-points") != "0", "the machine and its chart");
            else
                await Until(driver, () => driver.FindElements(By.CssSelector("#alerts-list tr")).Count == alerts, "the alerts");
            string overflow = Overflow();
            Assert.True(overflow == "", $"{page}: {overflow}");
        }
        Assert.True(signInOverflow == "", $"sign-in: {signInOverflow}");
        // Before sign-in the nav is hidden: its display rule must not override the hidden attribute.
        Assert.False(navBeforeSignIn, "the nav shows on the sign-in page");
    });

    [Fact]
    public Task The_keys_answer_the_card_in_view_and_in_focus_and_a_machine_row_opens_by_keyboard() => WithBrowser(async profile =>
    {
        const string machine = "kb.pump-01", other = "kb.pump-02";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 9 });
        await silo.Enroll(other, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 9 });
        for (int i = 0; i < 8; i++) await silo.Push(machine, $"kb-{i}", 20 + i);
        await silo.Push(other, "kb2-0", 20);
        var (driver, js) = await Open(profile, silo);
        using var _ = driver;
        await SignIn(driver, ConsoleFixture.LabellerKey, "pat");
        await Until(driver, () => driver.FindElements(By.CssSelector(Cards(machine))).Count == 8, "the queue");
        ShowOnly(js, machine);
        await Until(driver, () => driver.FindElements(By.CssSelector("#queue-list li.request")).Count == 8, "only the machine's cards");
        await Click(driver, By.CssSelector("#queue-list li.request h3"), "the first card");

        // ↓ six times: the seventh card is the current one, marked for assistive technology and scrolled into view.
        for (int i = 0; i < 6; i++) new Actions(driver).SendKeys(Keys.ArrowDown).Perform();
        var seventh = driver.FindElements(By.CssSelector("#queue-list li.request"))[6];
        await Until(driver, () => seventh.GetAttribute("class")!.Contains("current"), "the seventh card current");
        await Task.Delay(500); // a smooth scroll, were there one, has ended
        Assert.Equal("in view", js.ExecuteScript("const r = arguments[0].getBoundingClientRect(); " +
            "return r.top >= 0 && r.bottom <= window.innerHeight + 0.5 ? 'in view' : `at ${Math.round(r.top)}–${Math.round(r.bottom)} of a ${window.innerHeight} px window, scrolled ${window.scrollY}`", seventh));
        Assert.Equal("true", seventh.GetAttribute("aria-current"));
        Assert.Single(driver.FindElements(By.CssSelector("#queue-list li.request[aria-current='true']")));
        // Each player says whose clip it plays.
        Assert.Equal($"clip kb-6 of {machine}", seventh.FindElement(By.CssSelector("audio")).GetAttribute("aria-label"));

        // Focus on the third card's Skip (Tab, or a screen reader's cursor) makes it the one the keys answer.
        var third = driver.FindElements(By.CssSelector("#queue-list li.request"))[2];
        string thirdClip = third.GetAttribute("data-clip")!;
        js.ExecuteScript("arguments[0].querySelector('button.skip:not(.decline)').focus();", third);
        Assert.Equal("true", third.GetAttribute("aria-current"));
        new Actions(driver).SendKeys("n").Perform();
        await Until(driver, () => driver.FindElement(By.Id("undo")).Displayed, "the answer held");
        Assert.Equal($"{thirdClip}: normal", driver.FindElement(By.Id("undo-text")).Text);
        Assert.Empty(driver.FindElements(By.CssSelector($"#queue-list li.request[data-clip='{thirdClip}']")));
        new Actions(driver).SendKeys("z").Perform(); // taken back: nothing sent
        await Until(driver, () => driver.FindElements(By.CssSelector($"#queue-list li.request[data-clip='{thirdClip}']")).Count == 1, "the card back");

        // The machines page by keyboard: Tab from the table's last control (its order) reaches the rows; Enter on the
        // second opens its score history.
        driver.Navigate().GoToUrl(new Uri(silo.Http.BaseAddress!, "/ui/#machines"));
        await Until(driver, () => driver.FindElements(By.CssSelector("#machines-list tr")).Count >= 2, "the machine rows");
        string second = driver.FindElements(By.CssSelector("#machines-list tr"))[1].GetAttribute("data-machine")!;
        Assert.EndsWith("open its score history", driver.FindElements(By.CssSelector("#machines-list tr"))[1].GetAttribute("aria-label"));
        js.ExecuteScript("document.getElementById('machines-sort').focus();");
        new Actions(driver).SendKeys(Keys.Tab).SendKeys(Keys.Tab).Perform();
        Assert.Equal(second, js.ExecuteScript("return document.activeElement.dataset.machine || document.activeElement.outerHTML.slice(0, 80)"));
        new Actions(driver).SendKeys(Keys.Enter).Perform();
        await Until(driver, () => driver.FindElements(By.CssSelector($"#machines-list tr.selected[data-machine='{second}']")).Count == 1
            && driver.FindElement(By.Id("chart-machine")).Text.Contains(second), "the second machine's history open");
        var points = (await silo.Get($"/api/machines/{second}/scores")).GetArrayLength();
        await Until(driver, () => driver.FindElement(By.Id("score-chart")).GetAttribute("data-points") == points.ToString(), "its chart");
    });

    [Fact]
    public Task A_failing_silo_keeps_the_key_and_the_audio_and_sign_out_starts_clean() => WithBrowser(async profile =>
    {
        const string machine = "rs.valve-01";
        await silo.Enroll(machine, new MachineSettings { Strategy = "random", Budget = 1.0, Seed = 9 });
        for (int i = 0; i < 3; i++) await silo.Push(machine, $"rs-{i}", 20 + i);
        var (driver, js) = await Open(profile, silo);
        using var _ = driver;
        await SignIn(driver, ConsoleFixture.LabellerKey, "pat");
        await Until(driver, () => driver.FindElements(By.CssSelector(Cards(machine))).Count == 3, "the queue");

        // A reload while the silo answers 503 (a restart): the key stays, the page says what failed, and loads once it answers.
        js.ExecuteScript("sessionStorage.setItem('test.faults', JSON.stringify([{ match: '^/api/machines[?]limit=', times: 2, status: 503 }]));");
        driver.Navigate().Refresh();
        await Until(driver, () => js.ExecuteScript("return window.__faults.length === 1 && window.__faults[0].times < 2") as bool?, "the first 503");
        await Task.Delay(300); // the page has handled it
        Assert.Equal(ConsoleFixture.LabellerKey, js.ExecuteScript("return sessionStorage.getItem('asd.apiKey')"));
        await Until(driver, () => driver.FindElement(By.Id("load-error")).Displayed
            && driver.FindElement(By.Id("load-error")).Text.Contains("trying again"), "the failure shown");
        Assert.Equal(ConsoleFixture.LabellerKey, js.ExecuteScript("return sessionStorage.getItem('asd.apiKey')"));
        Assert.False(driver.FindElement(By.Id("key")).Displayed, "signed out by a 503");
        await Until(driver, () => driver.FindElements(By.CssSelector(Cards(machine))).Count == 3 && !driver.FindElement(By.Id("load-error")).Displayed, "the page loaded after the failure");
        Assert.Equal(ConsoleFixture.LabellerKey, js.ExecuteScript("return sessionStorage.getItem('asd.apiKey')"));

        // An answer that fails (the silo down) comes back with its audio, though the audio cannot be fetched again, and
        // the toast keeps saying the label was not given.
        ShowOnly(js, machine);
        await Until(driver, () => js.ExecuteScript($"const a = document.querySelector(\"{Cards(machine)} audio\"); return !!a && a.src.startsWith('blob:') && a.readyState >= 2;") as bool?, "the audio");
        await Click(driver, By.CssSelector("#queue-list li.request h3"), "the first card");
        string failing = driver.FindElement(By.CssSelector("#queue-list li.request.current")).GetAttribute("data-clip")!;
        // The audio fails for as long as this lasts: the card must come back with the audio it had, not fetch it again.
        js.ExecuteScript("window.__faults.push({ match: '/label$', method: 'POST', times: 1, status: 0 }, { match: '/audio$', times: 1000, status: 503 });");
        new Actions(driver).SendKeys("n").Perform();
        string Toast() => js.ExecuteScript("return document.getElementById('toast').textContent") as string ?? "";
        await Until(driver, () => Toast().StartsWith($"could not label {failing}", StringComparison.Ordinal), "the failed answer said");
        string back = $"#queue-list li.request[data-clip='{failing}']";
        await Until(driver, () => js.ExecuteScript($"const a = document.querySelector(\"{back} audio\"); return !!a && a.src.startsWith('blob:') && a.readyState >= 2;") as bool?, "the card back with its audio");
        Assert.StartsWith($"could not label {failing}", Toast());
        js.ExecuteScript("window.__faults.length = 0;");

        // A card whose audio fails to load tries again rather than staying silent.
        js.ExecuteScript("window.__faults.push({ match: 'rs-retry/audio$', times: 1, status: 503 });");
        await silo.Push(machine, "rs-retry", 25);
        string retry = "#queue-list li.request[data-clip='rs-retry']";
        await Until(driver, () => js.ExecuteScript($"const a = document.querySelector(\"{retry} audio\"); return !!a && a.src.startsWith('blob:') && a.readyState >= 2;") as bool?, "the audio loaded on a second try");
        Assert.Equal(0L, js.ExecuteScript("return window.__faults.reduce((n, f) => n + f.times, 0)")); // the failure did happen

        // Sign out just after an answer: the held answer is sent with the key, and nothing afterwards signs out again.
        long normals = (await silo.Get($"/api/machines/{machine}")).GetProperty("normalLabels").GetInt64();
        await Click(driver, By.CssSelector("#queue-list li.request h3"), "the first card");
        new Actions(driver).SendKeys("n").Perform();
        await Until(driver, () => driver.FindElement(By.Id("undo")).Displayed, "the answer held");
        driver.FindElement(By.Id("signout")).Click();
        await Waiting.Until(async () => (await silo.Get($"/api/machines/{machine}")).GetProperty("normalLabels").GetInt64() == normals + 1, "the held answer sent", seconds: 20);
        await Task.Delay(TimeSpan.FromSeconds(2)); // what ran after the answer (refreshing the machine's row) has run
        Assert.Equal("", driver.FindElement(By.Id("signin-error")).Text);
        Assert.True(driver.FindElement(By.Id("key")).Displayed);
        // The nav is hidden, and its badges no longer hold the last session's counts.
        Assert.False(driver.FindElement(By.Id("nav")).Displayed, "the nav shows after sign-out");
        Assert.Equal("0 0", js.ExecuteScript("return document.getElementById('queue-count').textContent + ' ' + document.getElementById('alert-count').textContent"));

        // A person's own key leaves no name behind: the next sign-in, with the shared key, is not made in olive's name.
        await SignIn(driver, ConsoleFixture.NamedLabellerKey, "");
        await Until(driver, () => driver.FindElement(By.Id("who")).Text == "answering as olive (this key's name)", "olive's key signed in");
        driver.FindElement(By.Id("signout")).Click();
        await Until(driver, () => driver.FindElement(By.Id("key")).Displayed, "the sign-in form again");
        Assert.Equal("", driver.FindElement(By.Id("labeller")).GetAttribute("value"));
        // Typing olive's name with the shared key is refused at sign-in, where it can be corrected, not at each answer.
        await SignIn(driver, ConsoleFixture.LabellerKey, "olive");
        await Until(driver, () => driver.FindElement(By.Id("signin-error")).Text.Contains("olive has a labeller key of their own"), "the name refused at sign-in");
        Assert.Null(js.ExecuteScript("return sessionStorage.getItem('asd.apiKey')"));
        Assert.True(driver.FindElement(By.Id("key")).Displayed);
    });
}
