namespace AsdOrleans.Core.Io;

/// <summary>Writes files so that readers see either the old content or the whole new content, never a part.</summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string content)
    {
        string full = Path.GetFullPath(path);
        string? directory = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(directory))
            Directory.CreateDirectory(directory);
        string temp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            File.WriteAllText(temp, content);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
