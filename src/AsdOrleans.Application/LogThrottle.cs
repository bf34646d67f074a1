using System.Collections.Concurrent;

namespace AsdOrleans.Application;

/// <summary>
/// Says whether a warning about <c>key</c> is due: the first time, then at most once per interval. A fault that fails
/// every request (or every page of a listing) until someone acts is logged a line per interval, not a line per request.
/// </summary>
public sealed class LogThrottle(TimeSpan interval)
{
    private readonly ConcurrentDictionary<string, long> _lastLogged = new();

    /// <summary>True for the first call with <paramref name="key"/>, then for the first after each interval.</summary>
    public bool FirstInAWhile(string key)
    {
        long now = Environment.TickCount64;
        long last = _lastLogged.GetOrAdd(key, long.MinValue);
        return (last == long.MinValue || now - last >= (long)interval.TotalMilliseconds)
            && _lastLogged.TryUpdate(key, now, last); // one caller wins a race for the same key
    }
}
