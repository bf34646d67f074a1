using Microsoft.Extensions.Options;

namespace AsdOrleans.Silo;

/// <summary>Queried clips' audio, kept on disk until labelled: DataDirectory/clips/&lt;machine&gt;/&lt;clip&gt;.wav.</summary>
public sealed class ClipAudioStore(IOptions<SiloOptions> options)
{
    private string Root => Path.Combine(Path.GetFullPath(options.Value.DataDirectory), "clips");

    /// <summary>Machine and clip ids are validated before they get here, so they are safe path segments.</summary>
    public string PathOf(string machineId, string clipId) => Path.Combine(Root, machineId, clipId + ".wav");

    public async Task<string> SaveAsync(string machineId, string clipId, byte[] wav, CancellationToken cancellation)
    {
        string path = PathOf(machineId, clipId);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        await File.WriteAllBytesAsync(temp, wav, cancellation);
        File.Move(temp, path, overwrite: true);
        return path;
    }

    public void Delete(string machineId, string clipId) => File.Delete(PathOf(machineId, clipId));
}
