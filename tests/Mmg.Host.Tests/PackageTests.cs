using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit;

namespace Mmg.Tests;

/// <summary>
/// What a user outside the repository gets: <c>dotnet pack Mmg.sln</c> into a local folder source,
/// then (1) tests/PackageSample, a C# console project copied out of the repository, restores the
/// packed Mmg package from that folder and runs one estimate; (2) the packed Mmg.Cli installs as a
/// .NET tool into a --tool-path and runs. The pack builds Release into its own artifacts folder
/// under a temporary directory, so the repository's bin/obj are left alone. ≈ 1–2 min in all.
/// </summary>
[Trait("Category", "Long")]
public class PackageTests(PackageTests.Packed packed) : IClassFixture<PackageTests.Packed>
{
    /// <summary>The solution packed once for both tests: <see cref="Feed"/> holds Mmg.Core, Mmg and Mmg.Cli.</summary>
    public sealed class Packed : IDisposable
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory("mmg-pack-").FullName;

        public string Feed => Path.Combine(Dir, "feed");

        /// <summary>The version of the packed packages: a prerelease of its own, so that no copy of
        /// Mmg from an earlier pack (say, in the user's NuGet cache) can stand in for this one.</summary>
        public string Version { get; } = $"0.0.0-packagetest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

        public Packed()
        {
            var repo = RepositoryRoot();
            Dotnet.Run(repo, TimeSpan.FromMinutes(8),
                "pack", Path.Combine(repo, "Mmg.sln"), "-c", "Release", "-o", Feed, $"-p:Version={Version}",
                "--artifacts-path", Path.Combine(Dir, "artifacts"), "-m:1", "-nodeReuse:false",
                "-p:UseSharedCompilation=false", "-v", "q", "-nologo");
            var names = Directory.GetFiles(Feed, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(new[] { $"Mmg.{Version}.nupkg", $"Mmg.Cli.{Version}.nupkg", $"Mmg.Core.{Version}.nupkg" }, names);
        }

        public void Dispose()
        {
            try { Directory.Delete(Dir, true); }
            catch (IOException) { }
        }

        private static string RepositoryRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Mmg.sln"))) return dir.FullName;
            throw new InvalidOperationException($"no Mmg.sln above {AppContext.BaseDirectory}");
        }

        /// <summary>tests/PackageSample in the repository.</summary>
        public static string SampleSource => Path.Combine(RepositoryRoot(), "tests", "PackageSample");
    }

    private static readonly double Truth = MutualInformation.BivariateNormal(0.75);

    [Fact]
    public void TheCorePackageDependsOnlyOnFSharpCoreMathNetAndTorchSharp()
    {
        // the file formats and runners (Deedle) and the grammar (Argu) are not in the core
        using var nupkg = ZipFile.OpenRead(Path.Combine(packed.Feed, $"Mmg.Core.{packed.Version}.nupkg"));
        var nuspec = nupkg.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var stream = nuspec.Open();
        var ids = XDocument.Load(stream).Descendants().Where(e => e.Name.LocalName == "dependency")
            .Select(e => (string)e.Attribute("id")!).Distinct().Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "FSharp.Core", "MathNet.Numerics", "TorchSharp-cpu" }, ids);
    }

    [Fact]
    public void SampleProjectBuildsAgainstThePackedLibraryAndEstimates()
    {
        var sample = Path.Combine(packed.Dir, "sample");
        Directory.CreateDirectory(sample);
        foreach (var f in new[] { "PackageSample.csproj", "Program.cs" })
            File.Copy(Path.Combine(Packed.SampleSource, f), Path.Combine(sample, f));
        // Mmg and Mmg.Core come only from the local folder (source mapping), into a fresh packages
        // folder; their dependencies (TorchSharp, FSharp.Core, …) are taken from the user's cache where
        // present (a fallback folder: nothing is copied), else from nuget.org.
        var userCache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        File.WriteAllText(Path.Combine(sample, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{Path.Combine(packed.Dir, "packages")}" /></config>
              <packageSources>
                <clear />
                <add key="local" value="{packed.Feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local"><package pattern="Mmg" /><package pattern="Mmg.Core" /></packageSource>
                <packageSource key="nuget.org"><package pattern="*" /></packageSource>
              </packageSourceMapping>
              <fallbackPackageFolders><add key="user-cache" value="{userCache}" /></fallbackPackageFolders>
            </configuration>
            """);
        var bin = Path.Combine(sample, "out");
        Dotnet.Run(sample, TimeSpan.FromMinutes(5), "build", "-c", "Release", "-o", bin, $"-p:MmgVersion={packed.Version}",
            "-p:CreateHardLinksForCopyLocalIfPossible=true", "-m:1", "-nodeReuse:false", "-p:UseSharedCompilation=false", "-v", "q", "-nologo");
        Assert.True(File.Exists(Path.Combine(packed.Dir, "packages", "mmg", packed.Version, $"mmg.{packed.Version}.nupkg")),
            "Mmg was not restored from the local folder");
        Assert.False(File.Exists(Path.Combine(bin, "mmg.dll")), "the sample must not see the tool");

        var (code, output, err) = Dotnet.Run(sample, TimeSpan.FromMinutes(2), Path.Combine(bin, "PackageSample.dll"));
        Assert.True(code == 0, $"exit {code}: {output} {err}");
        var values = Regex.Matches(output, @"(\w+)=(\S+)").ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        Assert.Equal("ksg", values["estimator"]);
        double Value(string key) => double.Parse(values[key], CultureInfo.InvariantCulture);
        Assert.Equal(Truth, Value("truth"), 12);
        Assert.Equal(Truth, Value("torch_truth"), 9);
        Assert.InRange(Value("estimate"), Truth - 0.1, Truth + 0.1);
    }

    [Fact]
    public void ToolInstallsFromTheFolderAndRuns()
    {
        var tools = Path.Combine(packed.Dir, "tools");
        var config = Path.Combine(packed.Dir, "tool-nuget.config");
        File.WriteAllText(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources><clear /><add key="local" value="{packed.Feed}" /></packageSources>
            </configuration>
            """);
        Dotnet.Run(packed.Dir, TimeSpan.FromMinutes(3), "tool", "install", "--tool-path", tools, "--configfile", config,
            "--version", packed.Version, "Mmg.Cli");
        var mmg = Path.Combine(tools, OperatingSystem.IsWindows() ? "mmg.exe" : "mmg");
        Assert.True(File.Exists(mmg), $"no {mmg} after the install");

        var (code, output, err) = Run(mmg, "tasks");
        Assert.True(code == 0, $"mmg tasks: exit {code}: {err}");
        Assert.Contains("1v1-normal-0.75", output);
        Assert.Contains("0.4133", output);

        // the bundled sample (data/sample.csv, 1v1-normal-0.75) travels in the tool package
        var json = Path.Combine(packed.Dir, "estimate.json");
        (code, _, err) = Run(mmg, "estimate", "--estimator", "cca", "--json", json);
        Assert.True(code == 0, $"mmg estimate: exit {code}: {err}");
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal("cca", doc.RootElement.GetProperty("estimator").GetString());
        Assert.Equal(Truth, doc.RootElement.GetProperty("ground_truth").GetDouble(), 12);
        Assert.InRange(doc.RootElement.GetProperty("estimate").GetDouble(), Truth - 0.1, Truth + 0.1);
    }

    private static (int Code, string Out, string Err) Run(string program, params string[] args) =>
        Dotnet.Start(program, Path.GetTempPath(), TimeSpan.FromMinutes(2), args);

    /// <summary>The dotnet CLI (or an installed tool) in a child process, without the MSBuild
    /// variables of the `dotnet test` that runs this, and with no build nodes or compiler servers
    /// left behind holding the output pipes.</summary>
    private static class Dotnet
    {
        /// <summary>Runs `dotnet args` and throws with its output when it fails.</summary>
        public static (int Code, string Out, string Err) Run(string dir, TimeSpan timeout, params string[] args)
        {
            var r = Start("dotnet", dir, timeout, args);
            if (r.Code != 0 && args[0] is "pack" or "build" or "tool")
                throw new InvalidOperationException($"dotnet {string.Join(' ', args)} failed ({r.Code}):\n{r.Out}\n{r.Err}");
            return r;
        }

        public static (int Code, string Out, string Err) Start(string program, string dir, TimeSpan timeout, params string[] args)
        {
            var psi = new ProcessStartInfo(program)
            {
                WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            foreach (var a in args) psi.ArgumentList.Add(a);
            foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToArray())
                psi.Environment.Remove(key);
            psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
            psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            psi.Environment["DOTNET_NOLOGO"] = "1";
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEndAsync();
            var err = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"{program} {string.Join(' ', args)} ran past {timeout}");
            }
            p.WaitForExit();
            return (p.ExitCode, output.Result, err.Result);
        }
    }
}
