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
    }

    public static void CheckFile(string option, string path)
    {
        CheckNonEmpty(option, path);
        if (Directory.Exists(path))
            throw new UsageException($"{option}: '{path}' is a folder, not a file");
        CheckAncestors(option, path);
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
