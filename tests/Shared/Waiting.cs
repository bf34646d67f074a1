namespace AsdOrleans.Tests;

/// <summary>Polls a condition that something in a silo (a timer, a reminder, a migration, a stream) makes true eventually (linked into every test project).</summary>
internal static class Waiting
{
    public static Task Until(Func<bool> condition, string what, int seconds = 30) => Until(() => Task.FromResult(condition()), what, seconds);

    public static async Task Until(Func<Task<bool>> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(100);
        }
    }
}
