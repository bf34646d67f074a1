using System.Diagnostics;
using System.Reflection;

namespace AsdOrleans.Tests;

/// <summary>
/// Starts this test executable again as a child process that runs one static method instead of the test runner, so a
/// test can SIGKILL the work it does (a writer, a silo) without killing itself. Output and errors are redirected for
/// the caller to read. The child's side is <see cref="TryRun"/>, called first by <see cref="TestEntryPoint"/>.
/// </summary>
internal static class ChildTestProcess
{
    /// <summary>The first argument that makes the executable a child: the second names the method (Type.FullName.Method).</summary>
    public const string ChildArgument = "--asd-test-child";

    /// <summary>How to start the child that runs <paramref name="method"/>, a static method of <paramref name="type"/>
    /// returning a <see cref="Task"/>.</summary>
    public static ProcessStartInfo StartInfo(Type type, string method, IReadOnlyDictionary<string, string> environment)
    {
        _ = Entry(type, method); // fail here, in the test, if the method is not an entry
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        var info = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Under `dotnet test` the host is the test apphost; under `dotnet exec` it is dotnet and needs the assembly.
        if (string.Equals(Path.GetFileNameWithoutExtension(host), "dotnet", StringComparison.OrdinalIgnoreCase))
            info.ArgumentList.Add(type.Assembly.Location);
        info.ArgumentList.Add(ChildArgument);
        info.ArgumentList.Add($"{type.FullName}.{method}");
        foreach (var (name, value) in environment)
            info.Environment[name] = value;
        return info;
    }

    /// <summary>Runs the child method named by <paramref name="args"/> and returns true, or returns false when this
    /// process is not a child.</summary>
    public static bool TryRun(string[] args, out int exitCode)
    {
        exitCode = 0;
        if (args.Length < 2 || args[0] != ChildArgument)
            return false;
        int dot = args[1].LastIndexOf('.');
        var type = Assembly.GetEntryAssembly()?.GetType(args[1][..dot])
            ?? throw new InvalidOperationException($"no type for child entry '{args[1]}'");
        ((Task)Entry(type, args[1][(dot + 1)..]).Invoke(null, null)!).GetAwaiter().GetResult();
        return true;
    }

    private static MethodInfo Entry(Type type, string method)
        => type.GetMethod(method, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static, Type.EmptyTypes) is { } m && m.ReturnType == typeof(Task)
            ? m
            : throw new InvalidOperationException($"{type.FullName}.{method} is not a static method without parameters returning Task");
}
