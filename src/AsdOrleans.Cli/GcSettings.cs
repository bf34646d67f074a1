using System.Globalization;

namespace AsdOrleans.Cli;

/// <summary>This process's garbage collector as configured: printed where latency is measured or served, since the gen0
/// budget sets how long a busy silo's pauses are (System.GC.Gen0MaxBudget in the project file).</summary>
public static class GcSettings
{
    public static string Describe()
    {
        var config = GC.GetConfigurationVariables();
        bool server = config.TryGetValue("ServerGC", out var s) && s is true;
        bool concurrent = config.TryGetValue("ConcurrentGC", out var c) && c is true;
        long budget = config.TryGetValue("GCGen0MaxBudget", out var b) ? Convert.ToInt64(b, CultureInfo.InvariantCulture) : 0;
        long conserve = config.FirstOrDefault(v => v.Key.Contains("Conserve", StringComparison.OrdinalIgnoreCase)).Value is { } level
            ? Convert.ToInt64(level, CultureInfo.InvariantCulture) : 0;
        // Set from DOTNET_GCHeapHardLimit, or by the runtime to 75% of a container's (cgroup's) memory limit.
        long limit = config.TryGetValue("GCHeapHardLimit", out var l) ? Convert.ToInt64(l, CultureInfo.InvariantCulture) : 0;
        return $"{(server ? "server" : "workstation")}, {(concurrent ? "concurrent" : "non-concurrent")}, gen0 budget " +
               (budget > 0 ? string.Create(CultureInfo.InvariantCulture, $"at most {budget / 1024:N0} KB") : "the runtime's default") +
               $", conserve-memory level {conserve}" +
               (limit > 0 ? string.Create(CultureInfo.InvariantCulture, $", heap limit {limit / 1e9:F2} GB") : "");
    }
}
