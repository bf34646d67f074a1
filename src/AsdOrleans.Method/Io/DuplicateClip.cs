namespace AsdOrleans.Method.Io;

/// <summary>One wording for a clip that a data set holds twice, in an embeddings CSV or a data folder.</summary>
public static class DuplicateClip
{
    public static string Problem(string file, string machine, string split) => $"clip '{file}' appears twice for machine '{machine}' in split '{split}'";
}
