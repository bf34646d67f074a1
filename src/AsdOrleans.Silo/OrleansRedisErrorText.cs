using System.Text.RegularExpressions;

namespace AsdOrleans.Silo;

/// <summary>
/// Orleans' Redis storage and clustering exceptions keep the StackExchange.Redis exception behind them only as text in
/// their message ("Failed to read grain state for … and storage key K. StackExchange.Redis.RedisServerException: OOM …"),
/// and so does Orleans' fallback for an exception type a silo could not load. The one place that reads that text.
/// </summary>
internal static partial class OrleansRedisErrorText
{
    /// <summary>Redis's error reply written after "StackExchange.Redis.RedisServerException: ", or null; what precedes it
    /// (grain ids, keys) is not read.</summary>
    public static string? ServerReply(string message)
        => ServerReplyInText().Match(message) is { Success: true } inText ? inText.Groups["reply"].Value : null;

    /// <summary>A grain state read that failed in the deserializer: the failed read's cause names a type outside
    /// StackExchange.Redis and is not a timeout or cancellation (one machine's damaged state, not Redis's fault).</summary>
    public static bool IsUndecodableGrainState(string message)
        => FailedRead().Match(message) is { Success: true } read && read.Groups["type"].Value is var type
            && !type.StartsWith("StackExchange.Redis.", StringComparison.Ordinal)
            && type is not ("System.TimeoutException" or "System.OperationCanceledException" or "System.Threading.Tasks.TaskCanceledException" or "System.ObjectDisposedException");

    [GeneratedRegex(@"StackExchange\.Redis\.RedisServerException: (?<reply>.*)", RegexOptions.Singleline)]
    private static partial Regex ServerReplyInText();

    [GeneratedRegex(@"^Failed to read grain state for .* and storage key \S+\. (?<type>[A-Za-z_][\w.`+]*): ", RegexOptions.Singleline)]
    private static partial Regex FailedRead();
}
