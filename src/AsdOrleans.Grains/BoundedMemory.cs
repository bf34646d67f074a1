namespace AsdOrleans.Grains;

/// <summary>
/// The grain state's "last N" memories (recent verdicts, answered labels, expired requests): a dictionary for lookup
/// and a list for age, kept as plain serialisable collections so the state's binary form stays simple.
/// </summary>
internal static class BoundedMemory
{
    /// <summary>Records <paramref name="key"/> (newest) and forgets the oldest entries beyond <paramref name="capacity"/>.</summary>
    public static void Remember<TValue>(Dictionary<string, TValue> items, List<string> order, string key, TValue value, int capacity)
    {
        if (items.TryAdd(key, value))
            order.Add(key);
        else
            items[key] = value;
        int excess = order.Count - capacity;
        if (excess <= 0) return;
        foreach (var oldest in order.Take(excess)) items.Remove(oldest);
        order.RemoveRange(0, excess);
    }
}
