using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AsdOrleans.Silo.Tests;

/// <summary>Collects a silo's warnings and errors (level and message, and with <paramref name="withExceptions"/> the
/// exception's text after it) into a queue a test reads; with <paramref name="least"/> and <paramref name="category"/>,
/// one category's messages from that level up instead.</summary>
internal sealed class WarningLogProvider(ConcurrentQueue<(LogLevel, string)> log, bool withExceptions = false, LogLevel least = LogLevel.Warning,
    string? category = null) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName)
        => new QueueLogger(log, withExceptions, category is null || categoryName == category ? least : LogLevel.None);
    public void Dispose() { }

    private sealed class QueueLogger(ConcurrentQueue<(LogLevel, string)> log, bool withExceptions, LogLevel least) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= least && logLevel != LogLevel.None;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                log.Enqueue((logLevel, formatter(state, exception) + (withExceptions && exception is not null ? " " + exception : "")));
        }
    }
}
