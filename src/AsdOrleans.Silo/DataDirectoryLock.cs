namespace AsdOrleans.Silo;

/// <summary>
/// Holds DataDirectory/silo.lock for as long as an embedded silo runs, so that a second silo given the same data
/// directory is refused at start. Two such silos are two clusters on one SQLite file: each activates its own copy of
/// every machine, and their writes supersede each other's (docs/decisions.md, "one silo per data directory").
/// Started before Orleans, which opens the databases. The lock is the kernel's (.NET takes flock for
/// <see cref="FileShare.None"/>), so a silo killed with -9 leaves no lock behind.
/// </summary>
public sealed class DataDirectoryLock(string dataDirectory) : IHostedService, IDisposable
{
    public const string FileName = "silo.lock";

    private FileStream? _held;

    public string LockPath => Path.Combine(Path.GetFullPath(dataDirectory), FileName);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Acquire();
        return Task.CompletedTask;
    }

    public void Acquire()
    {
        if (_held is not null) return;
        Directory.CreateDirectory(Path.GetDirectoryName(LockPath)!);
        try
        {
            _held = new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (File.Exists(LockPath))
        {
            throw new SiloConfigurationException(
                $"the data directory {Path.GetDirectoryName(LockPath)} is in use by another silo (it holds {FileName}); "
                + "stop that silo, or give this one a data directory of its own (--data-dir). Silos that share machines "
                + "form a cluster through Redis (--cluster), not through one data directory", e);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _held?.Dispose();
        _held = null;
    }
}
