namespace AsdOrleans.Method.Io;

/// <summary>Writes files so that readers see either the old content or the whole new content, never a part.</summary>
public static class AtomicFile
{
    public static void WriteAllText(string path, string content) => Write(path, stream =>
    {
        using var writer = new StreamWriter(stream);
        writer.Write(content);
    });

    /// <summary>Writes through <paramref name="write"/> to a temporary file beside <paramref name="path"/>, then moves it
    /// into place; on any failure the temporary file is removed and the old file stays.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string? directory = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(directory))
            Directory.CreateDirectory(directory);
        string temp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var stream = File.Create(temp))
                write(stream);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
