using AsdOrleans.EncoderGrains;
using AsdOrleans.Method.Machines;

namespace AsdOrleans.Grains.Tests.Encoding;

/// <summary>The silo's memory of enrolled machines' embedders: bounded in entries and in idle time.</summary>
public sealed class EnrolledEmbedderCacheTests
{
    [Fact]
    public async Task The_silo_remembers_at_most_its_limit_of_machines_and_forgets_one_left_idle()
    {
        await using var encoder = new EncoderService(new EncoderServiceOptions
        {
            Embedder = "spectral", EnrolledEmbedderCacheSize = 10, EnrolledEmbedderIdle = TimeSpan.FromMilliseconds(300),
        });
        for (int i = 0; i < 100; i++)
            encoder.RememberEnrolledEmbedder($"m{i}", EmbedderKind.Spectral);
        Assert.InRange(encoder.RememberedEmbedders, 1, 10);

        encoder.ForgetEnrolledEmbedder("m0");
        Assert.False(encoder.TryGetEnrolledEmbedder("m0", out _));
        encoder.RememberEnrolledEmbedder("m0", EmbedderKind.Model);
        await WaitUntil(() => encoder.TryGetEnrolledEmbedder("m0", out var kind) && kind == EmbedderKind.Model); // room again after compaction
        await Task.Delay(TimeSpan.FromMilliseconds(600));
        Assert.False(encoder.TryGetEnrolledEmbedder("m0", out _)); // idle past its time: asked again on the next clip
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(20);
        }
    }
}
