namespace AsdOrleans.Abstractions; internal static class AssemblyMarker { }
