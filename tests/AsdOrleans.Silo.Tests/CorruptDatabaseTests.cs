using System.Net;
using System.Text.Json;
using AsdOrleans.Abstractions;
using AsdOrleans.Application;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// A page of grains.db overwritten with random bytes (a damaged disk): SQLite answers SQLITE_CORRUPT for what lies on it.
/// That is no outage a retry gets past: the machine is listed as unreadable, saying what an operator does, the others
/// as usual, and the readiness answer names the damage.
/// </summary>
public sealed class CorruptDatabaseTests : IAsyncLifetime
{
    private const string Key = "corrupt-operator";
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-corrupt-").FullName;
    private string Data => Path.Combine(_dir, "data");
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public ValueTask InitializeAsync() => Start();

    private async ValueTask Start()
    {
        Uri address;
        (_app, address) = await SiloApp.StartOnLoopbackAsync(new Dictionary<string, string?>
        {
            ["Asd:DataDirectory"] = Data,
            ["Asd:ApiKeys:Operator:0"] = Key,
        });
        _http = new HttpClient { BaseAddress = address };
        _http.DefaultRequestHeaders.Add("X-Api-Key", Key);
    }

    private async Task Stop()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Stop();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<(HttpResponseMessage Response, JsonElement Body)> Get(string path)
    {
        var response = await _http.GetAsync(path);
        return (response, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement);
    }

    /// <summary>Overwrites with random bytes every overflow page (first byte 0: a next-page number, not a b-tree page's
    /// type) that holds <paramref name="marker"/>, except those of an interior page's keys: a WITHOUT ROWID table's keys
    /// are whole rows, and a damaged divider breaks the lookup of every row searched past it, not one machine's.</summary>
    private int CorruptPagesHolding(string marker)
    {
        string path = Path.Combine(Data, "grains.db");
        using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;"; // every page in the file, none free
            command.ExecuteNonQuery();
        }
        var bytes = File.ReadAllBytes(path);
        int pageSize = (bytes[16] << 8 | bytes[17]) == 1 ? 65536 : bytes[16] << 8 | bytes[17];
        int pages = bytes.Length / pageSize;
        var dividers = DividerOverflowPages(bytes, pageSize, pages);
        var needle = System.Text.Encoding.UTF8.GetBytes(marker);
        var random = new Random(53);
        int corrupted = 0;
        for (int page = 2; page <= pages; page++) // page 1 holds the header
        {
            var span = bytes.AsSpan((page - 1) * pageSize, pageSize);
            if (span[0] != 0 || dividers.Contains(page) || span.IndexOf(needle) < 0) continue;
            random.NextBytes(span);
            corrupted++;
        }
        File.WriteAllBytes(path, bytes);
        return corrupted;
    }

    /// <summary>The overflow pages of the keys in interior index pages (type 2), chains followed.</summary>
    private static HashSet<int> DividerOverflowPages(byte[] file, int pageSize, int pages)
    {
        int usable = pageSize - file[20];
        int maxLocal = (usable - 12) * 64 / 255 - 23, minLocal = (usable - 12) * 32 / 255 - 23;
        var result = new HashSet<int>();
        for (int page = 1; page <= pages; page++)
        {
            int start = (page - 1) * pageSize, header = start + (page == 1 ? 100 : 0);
            if (file[header] != 2) continue;
            int cells = file[header + 3] << 8 | file[header + 4];
            for (int i = 0; i < cells; i++)
            {
                int cell = start + (file[header + 12 + 2 * i] << 8 | file[header + 13 + 2 * i]);
                int at = cell + 4; // the left child's page number
                long payload = 0;
                for (int b = 0; b < 9; b++)
                {
                    byte x = file[at++];
                    payload = (payload << 7) | (uint)(x & 0x7F);
                    if (x < 0x80) break;
                }
                if (payload <= maxLocal) continue;
                long k = minLocal + (payload - minLocal) % (usable - 4);
                int local = (int)(k <= maxLocal ? k : minLocal);
                int overflow = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(file.AsSpan(at + local));
                for (int guard = 0; overflow > 0 && overflow <= pages && guard < pages && result.Add(overflow); guard++)
                    overflow = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(file.AsSpan((overflow - 1) * pageSize));
            }
        }
        return result;
    }

    [Fact]
    public async Task A_machine_on_a_damaged_page_is_listed_unreadable_saying_what_to_do_and_the_others_as_usual()
    {
        var machines = _app.Services.GetRequiredService<MachineUseCases>();
        var grains = _app.Services.GetRequiredService<IGrainFactory>();
        var random = new Random(3);
        float[] Vector() => Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var enrollment = new EnrollmentRequest(Enumerable.Range(0, 30).Select(i => new EnrollmentClip(Vector(), i % 10 == 0)).ToList(), "enc-corrupt");
        string[] ids = ["corrupt.a", "corrupt.b", "corrupt.c"];
        foreach (var id in ids)
        {
            await machines.Configure(id, new MachineSettings { Strategy = "random", Budget = 0.01, Seed = 1 });
            await machines.Enroll(id, enrollment);
        }
        // Long clip ids that only corrupt.b's state holds (its remembered clips): its pages are found by them.
        const string marker = "QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
        var b = grains.GetGrain<IMachineGrain>("corrupt.b");
        for (int i = 0; i < 200; i++)
            await b.ProcessClip(new ClipSubmission($"{marker}{i:000}", Vector(), "enc-corrupt"));
        await Stop(); // written on the way out
        SqliteConnection.ClearAllPools();
        Assert.True(CorruptPagesHolding(marker) >= 1);
        await Start();

        // No answer is an outage to retry. A WITHOUT ROWID table's keys are whole rows, so a search that passes the
        // damaged row's leaf page reads its overflow too: the neighbours on that page (here often the registry) are
        // damaged with it. What cannot be read says so and what to do; a listing that can be read names the machine.
        var (list, page) = await Get("/api/machines");
        Assert.Null(list.Headers.RetryAfter);
        if (list.StatusCode == HttpStatusCode.OK)
        {
            Assert.Equal(ids, page.EnumerateArray().Select(m => m.GetProperty("machineId").GetString()!).ToArray());
            Assert.Contains("damaged", page[1].GetProperty("unreadable").GetString());
            Assert.Contains("backup", page[1].GetProperty("unreadable").GetString());
        }
        else
        {
            Assert.Equal(HttpStatusCode.InternalServerError, list.StatusCode);
            Assert.Contains("damaged", page.GetProperty("detail").GetString());
            Assert.Contains("backup", page.GetProperty("detail").GetString());
        }

        // Alone: a fault of ours naming the damage and the remedy, without Retry-After.
        var (one, problem) = await Get("/api/machines/corrupt.b");
        Assert.Equal(HttpStatusCode.InternalServerError, one.StatusCode);
        Assert.Null(one.Headers.RetryAfter);
        Assert.Contains("damaged", problem.GetProperty("detail").GetString());
        Assert.Contains("backup", problem.GetProperty("detail").GetString());

        // The readiness answer names it (degraded: the sound machines are served).
        var (ready, readiness) = await Get("/readyz");
        Assert.True(ready.StatusCode == HttpStatusCode.OK, readiness.ToString());
        Assert.Equal("degraded", readiness.GetProperty("checks").GetProperty("sqlite").GetProperty("status").GetString());
        Assert.Contains("damaged", readiness.GetProperty("checks").GetProperty("sqlite").GetProperty("description").GetString());
    }

    [Fact]
    public void SQLite_damage_is_one_machines_unreadable_state_and_names_the_remedy_not_a_retry()
    {
        // What a listing and a machine's route decide by (the grain's read wraps SQLite's error).
        var damaged = new AsdOrleans.Storage.Sqlite.SqliteGrainStorageCorruptException("damaged", new SqliteException("database disk image is malformed", 11));
        var notADatabase = new SqliteException("file is not a database", 26);
        var busy = new SqliteException("database is locked", 5);
        var faults = new ApiClusterFaults();
        foreach (var e in new Exception[] { damaged, notADatabase, new OrleansException("activation failed", damaged) })
        {
            Assert.Null(ApiFaults.Classify(e));
            Assert.False(faults.IsClusterFault(e));
            Assert.Equal(ApiFaults.StorageDamaged, ((AsdOrleans.Abstractions.IClusterFaults)faults).UnreadableReason(e));
        }
        Assert.Equal(30, ApiFaults.Classify(busy)!.RetryAfterSeconds); // a locked file is still an outage to retry
        Assert.Null(((AsdOrleans.Abstractions.IClusterFaults)faults).UnreadableReason(busy));
    }
}
