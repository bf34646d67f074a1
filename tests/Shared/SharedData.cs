namespace AsdOrleans.Tests;

/// <summary>Finds ../shared/data next to the repository, from wherever the test binaries run (linked into every test project).</summary>
internal static class SharedData
{
    private static readonly Lazy<string> MiniRoot = new(() => Locate(Path.Combine("shared", "data", "dcase2023-mini")));
    private static readonly Lazy<string> VectorsPath = new(() => Locate(Path.Combine("shared", "data", "metric_vectors.json")));

    /// <summary>The metric reference vectors (see ../shared/data/metrics.md).</summary>
    public static string MetricVectors => VectorsPath.Value;

    /// <summary>28 real DCASE 2023 development clips laid out as dev_data/raw/&lt;machine&gt;/{train,test}/.</summary>
    public static string Dcase2023Mini => MiniRoot.Value;

    public static IReadOnlyList<string> Dcase2023MiniWavFiles() =>
        Directory.EnumerateFiles(Dcase2023Mini, "*.wav", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();

    private static string Locate(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, relative);
            if (Directory.Exists(candidate) || File.Exists(candidate))
                return candidate;
        }
        throw new InvalidOperationException(
            $"cannot find '{relative}' in {AppContext.BaseDirectory} or any directory above it; " +
            "these tests expect the repository's parent directory to hold shared/ (shared/data/dcase2023-mini)");
    }
}
