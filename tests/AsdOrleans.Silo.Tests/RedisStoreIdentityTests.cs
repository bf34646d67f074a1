using System.Reflection;
using StackExchange.Redis;

namespace AsdOrleans.Silo.Tests;

/// <summary>
/// <see cref="RedisStoreIdentity.JudgeAsync"/> against an in-memory Redis whose reads can be interleaved with another
/// silo's start, so that the order of its two reads (Redis's marker, the data directory's) is tested without timing.
/// </summary>
public sealed class RedisStoreIdentityTests : IDisposable
{
    private const string Service = "asd-orleans";
    private readonly string _dir = Directory.CreateTempSubdirectory("asd-store-id-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Two_silos_marking_a_fresh_store_together_on_one_shared_volume_raise_no_loss()
    {
        // Silo B reads Redis's marker (none yet: the store is fresh); silo A then marks the store, in Redis and on the
        // shared volume, before B reads the volume. The volume's marker was in Redis before it was on the volume, so it
        // is no loss: B must take it, not report a Redis that lost its data.
        var redis = new FakeRedis();
        var siloB = FakeRedis.Database(redis, afterFirstGet: () =>
        {
            var siloA = RedisStoreIdentity.JudgeAsync(FakeRedis.Database(redis), "redis:6379", Service, _dir, seen: null, mark: true).GetAwaiter().GetResult();
            Assert.Null(siloA.Problem);
        });

        var verdict = await RedisStoreIdentity.JudgeAsync(siloB, "redis:6379", Service, _dir, seen: null, mark: true);

        Assert.Null(verdict.Problem);
        Assert.Equal(redis.Strings[RedisStoreIdentity.MarkerKey(Service).ToString()], verdict.Marker);
        Assert.Equal(verdict.Marker, File.ReadAllText(Path.Combine(_dir, RedisStoreIdentity.FileName(Service))).Trim());
    }

    [Fact]
    public async Task A_store_whose_marker_is_gone_from_redis_is_still_a_loss()
    {
        var redis = new FakeRedis();
        var first = await RedisStoreIdentity.JudgeAsync(FakeRedis.Database(redis), "redis:6379", Service, _dir, seen: null, mark: true);
        Assert.Null(first.Problem);
        redis.Strings.Clear(); // FLUSHALL

        var verdict = await RedisStoreIdentity.JudgeAsync(FakeRedis.Database(redis), "redis:6379", Service, _dir, seen: null, mark: true);

        Assert.Contains("has lost the cluster's stored state", verdict.Problem);
        Assert.Equal(first.Marker, verdict.Remembered);
        Assert.Empty(redis.Strings); // not marked anew: the operator restores or accepts
    }

    /// <summary>The strings and lists the store marker uses, as one Redis holds them.</summary>
    private sealed class FakeRedis
    {
        public Dictionary<string, string> Strings { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, List<string>> Lists { get; } = new(StringComparer.Ordinal);

        /// <summary>An <see cref="IDatabase"/> over <paramref name="redis"/>; <paramref name="afterFirstGet"/> runs once,
        /// after its first GET has read its answer (another silo acting between this one's reads).</summary>
        public static IDatabase Database(FakeRedis redis, Action? afterFirstGet = null)
        {
            var database = DispatchProxy.Create<IDatabase, Proxy>();
            ((Proxy)(object)database).Init(redis, afterFirstGet);
            return database;
        }

        public class Proxy : DispatchProxy
        {
            private FakeRedis _redis = null!;
            private Action? _afterFirstGet;

            public void Init(FakeRedis redis, Action? afterFirstGet) => (_redis, _afterFirstGet) = (redis, afterFirstGet);

            protected override object? Invoke(MethodInfo? method, object?[]? args)
            {
                string key = ((RedisKey)args![0]!).ToString();
                switch (method!.Name)
                {
                    case nameof(IDatabase.StringGetAsync):
                        RedisValue value = _redis.Strings.TryGetValue(key, out var held) ? held : RedisValue.Null;
                        if (Interlocked.Exchange(ref _afterFirstGet, null) is { } hook) hook();
                        return Task.FromResult(value);
                    case nameof(IDatabase.StringSetAsync):
                        bool ifAbsent = args.OfType<When>().FirstOrDefault() == When.NotExists;
                        if (ifAbsent && _redis.Strings.ContainsKey(key)) return Task.FromResult(false);
                        _redis.Strings[key] = ((RedisValue)args[1]!).ToString();
                        return Task.FromResult(true);
                    case nameof(IDatabase.ListRangeAsync):
                        return Task.FromResult(_redis.Lists.TryGetValue(key, out var list) ? list.Select(v => (RedisValue)v).ToArray() : []);
                    case nameof(IDatabase.ListRightPushAsync):
                        if (!_redis.Lists.TryGetValue(key, out var items)) _redis.Lists[key] = items = [];
                        items.Add(((RedisValue)args[1]!).ToString());
                        return Task.FromResult((long)items.Count);
                    default:
                        throw new NotSupportedException($"the fake Redis has no {method.Name}");
                }
            }
        }
    }
}
