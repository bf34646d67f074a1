using System.Diagnostics;
using System.Reflection;

namespace AsdOrleans.Tests;

/// <summary>
/// Starts this test executable again running one explicit test method, so a test can SIGKILL the work it does
/// (a writer, a silo) without killing itself. Output and errors are redirected for the caller to read.
/// </summary>
internal static class ChildTestProcess
{
    public static ProcessStartInfo StartInfo(Type testClass, string method, IReadOnlyDictionary<string, string> environment)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var info = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Under `dotnet test` the host is the test apphost; under `dotnet exec` it is dotnet and needs the assembly.
        if (string.Equals(Path.GetFileNameWithoutExtension(host), "dotnet", StringComparison.OrdinalIgnoreCase))
            info.ArgumentList.Add(testClass.Assembly.Location);
        foreach (var argument in new[] { "-method", $"{testClass.FullName}.{method}", "-explicit", "only", "-noColor" })
            info.ArgumentList.Add(argument);
        foreach (var (name, value) in environment)
            info.Environment[name] = value;
        return info;
    }
}
