namespace AsdOrleans.Method.Io;

/// <summary>Bad input data: names the file and, where known, the 1-based line, so a user can fix it.</summary>
public sealed class InputDataException : Exception
{
    public InputDataException(string file, int? line, string problem)
        : base(line is null ? $"{file}: {problem}" : $"{file}:{line}: {problem}")
    {
        File = file;
        Line = line;
        Problem = problem;
    }

    public string File { get; }
    public int? Line { get; }
    public string Problem { get; }
}
