namespace AsdOrleans.Grains; internal static class AssemblyMarker { }
