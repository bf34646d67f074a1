using System.Collections.Concurrent;
using AsdOrleans.Abstractions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Cli.Tests;

/// <summary>
/// Middleware in front of a loopback silo (<see cref="Install"/> as the builder hook of
/// <c>SiloApp.StartOnLoopbackAsync</c>): counts the event-stream connections, drops them, refuses new ones (503, a silo
/// that is down), or makes the next one's Last-Event-ID unknown to the silo, which then answers <c>event: reset</c> as a
/// restarted silo does; and records the <c>since=</c> of each alert list.
/// </summary>
internal sealed class EventsGate : IStartupFilter
{
    private readonly List<HttpContext> _open = [];
    private int _connections;
    public volatile bool Refuse;
    /// <summary>With <see cref="Refuse"/>: the Retry-After of each refusal (0: none), and when each was answered.</summary>
    public volatile int RetryAfterSeconds;
    public ConcurrentQueue<DateTime> RefusedAt { get; } = new();
    public volatile bool UnknownLastEventId;
    public ConcurrentQueue<string> AlertListsSince { get; } = new();

    public void Install(WebApplicationBuilder builder) => builder.Services.AddSingleton<IStartupFilter>(this);

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(Handle);
        next(app);
    };

    private async Task Handle(HttpContext context, Func<Task> next)
    {
        if (context.Request.Path == "/api/alerts" && context.Request.Query.TryGetValue("since", out var since))
            AlertListsSince.Enqueue(since.ToString());
        if (context.Request.Path != "/api/events")
        {
            await next();
            return;
        }
        if (Refuse)
        {
            RefusedAt.Enqueue(DateTime.UtcNow);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            if (RetryAfterSeconds > 0) context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return;
        }
        if (UnknownLastEventId && context.Request.Headers.ContainsKey("Last-Event-ID"))
        {
            context.Request.Headers["Last-Event-ID"] = long.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture); // after the silo's last: a gap
            UnknownLastEventId = false;
        }
        lock (_open) _open.Add(context);
        Interlocked.Increment(ref _connections);
        try
        {
            await next();
        }
        finally
        {
            lock (_open) _open.Remove(context);
        }
    }

    /// <summary>Ends every open event stream, as a network drop would.</summary>
    public void DropAll()
    {
        lock (_open)
            foreach (var context in _open)
                context.Abort();
    }

    /// <summary>Until an open stream's response has started (its headers sent: the follower is connected), and a moment more
    /// for them to arrive.</summary>
    public async Task WaitForStreaming()
    {
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); ; await Task.Delay(50))
        {
            lock (_open)
                if (_open.Any(c => c.Response.HasStarted)) break;
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), "no event stream started");
        }
        await Task.Delay(500);
    }

    public async Task WaitForConnections(int count)
    {
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); Volatile.Read(ref _connections) < count; await Task.Delay(50))
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), $"{Volatile.Read(ref _connections)} event stream connection(s), {count} awaited");
    }
}

/// <summary>
/// A grain call filter on a loopback silo's carrying enrollments (<c>Enroll(request, carry)</c>): the first
/// <see cref="Raced"/> of them get a carry read one label too early, so the machine refuses them as it does when a label
/// came between the read and the write; with <see cref="Refusal"/>, each is refused with that other 409 instead.
/// </summary>
internal sealed class CarryRace : IIncomingGrainCallFilter
{
    private int _carries;
    public volatile int Raced;
    public volatile string? Refusal;
    public int Carries => Volatile.Read(ref _carries);

    public void Install(WebApplicationBuilder builder) => builder.Services.AddSingleton<IIncomingGrainCallFilter>(this); // as ISiloBuilder.AddIncomingGrainCallFilter registers one

    public Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.Request.GetArgumentCount() == 2 && context.Request.GetArgument(1) is LabelCarry carry)
        {
            int n = Interlocked.Increment(ref _carries);
            if (Refusal is { } refusal)
                throw new InvalidOperationException(refusal);
            if (n <= Raced)
                context.Request.SetArgument(1, carry with { LabelsWhenRead = carry.LabelsWhenRead + 1 });
        }
        return context.Invoke();
    }
}

/// <summary>A client clock that runs <paramref name="ahead"/> of the real one (and of the silo's).</summary>
internal sealed class AheadClock(TimeSpan ahead) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + ahead;
}

/// <summary>Output that completes <see cref="Seen"/> once a line containing <paramref name="marker"/> is written.</summary>
internal sealed class SignalAtLine(string marker) : StringWriter(System.Globalization.CultureInfo.InvariantCulture)
{
    private readonly TaskCompletionSource _seen = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public Task Seen => _seen.Task;

    public override void WriteLine(string? value)
    {
        lock (this) base.WriteLine(value);
        if (value?.Contains(marker, StringComparison.Ordinal) == true)
            _seen.TrySetResult();
    }
}
