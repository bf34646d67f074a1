namespace AsdOrleans.Cli;

/// <summary>Early checks of output paths, so a command refuses a bad path before it does any work.</summary>
public static class OutputPaths
{
    public static void CheckFolder(string option, string path)
    {
        CheckNonEmpty(option, path);
        if (File.Exists(path))
            throw new UsageException($"{option}: '{path}' is a file, not a folder");
        CheckAncestors(option, path);
        CheckWritable(option, path);
    }

    public static void CheckFile(string option, string path)
    {
        CheckNonEmpty(option, path);
        if (Directory.Exists(path))
            throw new UsageException($"{option}: '{path}' is a folder, not a file");
        CheckAncestors(option, path);
        CheckWritable(option, Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".");
    }

    /// <summary>An existing file is replaced only with --force, as `synth`, `experiment` and `pool` replace their outputs.</summary>
    public static void CheckReplace(string option, string path, bool force, string? note = null)
    {
        if (!force && File.Exists(path))
            throw new UsageException($"{option}: '{path}' exists; pass --force to replace it{note}");
    }

    /// <summary>
    /// The folder, or the nearest folder above it that exists, accepts a new file (tried with a temporary file, removed
    /// at once), so a run that would fail at its end for want of permission fails at its start.
    /// </summary>
    public static void CheckWritable(string option, string path)
    {
        string? folder = Path.GetFullPath(path);
        while (!string.IsNullOrEmpty(folder) && !Directory.Exists(folder))
            folder = Path.GetDirectoryName(folder);
        if (string.IsNullOrEmpty(folder))
            return;
        string probe = Path.Combine(folder, $".asd-write-check-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option}: cannot write in '{folder}': {e.Message}");
        }
        finally
        {
            try { File.Delete(probe); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static void CheckNonEmpty(string option, string path)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new UsageException($"{option}: the path is empty");
    }

    /// <summary>The nearest existing ancestor must be a folder, or nothing can be created below it.</summary>
    private static void CheckAncestors(string option, string path)
    {
        string? parent = Path.GetDirectoryName(Path.GetFullPath(path));
        while (!string.IsNullOrEmpty(parent) && !Directory.Exists(parent))
        {
            if (File.Exists(parent))
                throw new UsageException($"{option}: '{parent}' is a file, so '{path}' cannot be created");
            parent = Path.GetDirectoryName(parent);
        }
    }
}
