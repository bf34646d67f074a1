using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AsdOrleans.Silo.Tests;

/// <summary>Collects a silo's warnings and errors (level and message, and with <paramref name="withExceptions"/> the
/// exception's text after it) into a queue a test reads.</summary>
internal sealed class WarningLogProvider(ConcurrentQueue<(LogLevel, string)> log, bool withExceptions = false) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new QueueLogger(log, withExceptions);
    public void Dispose() { }

    private sealed class QueueLogger(ConcurrentQueue<(LogLevel, string)> log, bool withExceptions) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                log.Enqueue((logLevel, formatter(state, exception) + (withExceptions && exception is not null ? " " + exception : "")));
        }
    }
}
