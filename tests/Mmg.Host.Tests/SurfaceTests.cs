using System.Reflection;
using Xunit;

namespace Mmg.Tests;

/// <summary>The library a C# user references (Mmg.Host, package Mmg) shows only plain .NET types:
/// nothing of F#, the F# core, TorchSharp, the console or the plots on its public surface, and no
/// reference at all to the command line's packages or to Mmg.Experiments (file formats, runners).</summary>
public class SurfaceTests
{
    private static readonly Assembly Library = typeof(MmgEstimator).Assembly;

    private static readonly string[] Foreign = ["FSharp.Core", "Mmg.Core", "Mmg.Experiments", "Mmg.Cli.Arguments", "TorchSharp", "Spectre.Console", "ScottPlot", "Argu", "Deedle", "mmg"];

    [Fact]
    public void TheLibraryIsNotTheTool()
    {
        Assert.Equal("Mmg.Host", Library.GetName().Name);
        Assert.Null(Library.EntryPoint);
        Assert.DoesNotContain(Library.GetExportedTypes(), t => t.Name is "Cli" or "CommandContext" or "Plots");
    }

    [Fact]
    public void TheLibraryReferencesNoConsoleOrPlotPackage()
    {
        var references = Library.GetReferencedAssemblies().Select(a => a.Name).ToArray();
        Assert.Contains("Mmg.Core", references);
        foreach (var name in new[] { "Spectre.Console", "ScottPlot", "Argu", "Deedle", "Mmg.Experiments", "Mmg.Cli.Arguments", "mmg" })
            Assert.DoesNotContain(name, references);
    }

    [Fact]
    public void PublicSignaturesUseNoForeignTypes()
    {
        var exported = Library.GetExportedTypes();
        Assert.Contains(typeof(Estimators), exported);
        var offenders = new List<string>();
        foreach (var type in exported)
        {
            foreach (var t in new[] { type.BaseType }.Concat(type.GetInterfaces()))
                Check(type.Name, t, offenders);
            const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var m in type.GetMethods(flags))
            {
                Check($"{type.Name}.{m.Name} returns", m.ReturnType, offenders);
                foreach (var p in m.GetParameters()) Check($"{type.Name}.{m.Name}({p.Name})", p.ParameterType, offenders);
            }
            foreach (var c in type.GetConstructors(flags))
                foreach (var p in c.GetParameters()) Check($"{type.Name}..ctor({p.Name})", p.ParameterType, offenders);
            foreach (var p in type.GetProperties(flags)) Check($"{type.Name}.{p.Name}", p.PropertyType, offenders);
            foreach (var f in type.GetFields(flags)) Check($"{type.Name}.{f.Name}", f.FieldType, offenders);
        }
        Assert.True(offenders.Count == 0, string.Join("\n", offenders));
    }

    private static void Check(string where, Type? type, List<string> offenders)
    {
        if (type is null) return;
        if (type.HasElementType) { Check(where, type.GetElementType(), offenders); return; }
        if (Foreign.Contains(type.Assembly.GetName().Name)) offenders.Add($"{where}: {type.FullName} ({type.Assembly.GetName().Name})");
        if (type.IsGenericType)
            foreach (var a in type.GetGenericArguments()) Check(where, a, offenders);
    }
}
