using System.Reflection;

namespace AsdOrleans.Tests;

/// <summary>
/// The test executables' Main (xunit's generated one is switched off in tests/Directory.Build.props): a child process
/// started by <see cref="ChildTestProcess"/> runs its method; otherwise this does what xunit's generated entry point does.
/// </summary>
internal static class TestEntryPoint
{
    public static int Main(string[] args)
    {
        if (ChildTestProcess.TryRun(args, out int exitCode))
            return exitCode;
        if (args.Any(arg => arg is "--server" or "--internal-msbuild-node"))
            return Xunit.MicrosoftTestingPlatform.TestPlatformTestFramework.RunAsync(args, AddSelfRegisteredExtensions).GetAwaiter().GetResult();
        return Xunit.Runner.InProc.SystemConsole.ConsoleRunner.Run(args).GetAwaiter().GetResult();
    }

    // Microsoft.Testing.Platform generates SelfRegisteredExtensions in each project's root namespace, which a file
    // shared by all test projects cannot name.
    private static void AddSelfRegisteredExtensions(Microsoft.Testing.Platform.Builder.ITestApplicationBuilder builder, string[] args)
    {
        var extensions = typeof(TestEntryPoint).Assembly.GetTypes().Single(t => t.Name == "SelfRegisteredExtensions");
        extensions.GetMethod("AddSelfRegisteredExtensions", BindingFlags.Public | BindingFlags.Static)!.Invoke(null, [builder, args]);
    }
}
