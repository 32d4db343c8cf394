using Xunit;

namespace Mmg.Tests;

/// <summary>The experiment commands as pipelines (not accuracy): files and figures appear, reruns resume.</summary>
[Collection("torch")]
public class ExperimentTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmg-exp-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Err) Run(params string[] args)
    {
        var e = new StringWriter();
        return (Cli.Run(args, new StringWriter(), e), e.ToString());
    }

    [Fact]
    public void HighMiWritesResultsAndFigureAndRedrawsFromThem()
    {
        var outDir = Path.Combine(_dir, "highmi");
        var (code, err) = Run("highmi", "--mi", "1,4", "--transforms", "none,half_cube", "--estimators", "cca", "--samples", "500", "--out", outDir);
        Assert.True(code == 0, err);
        var rows = File.ReadAllLines(Path.Combine(outDir, "results.csv")).Skip(1).ToArray();
        Assert.Equal(4, rows.Length);
        // CCA is exact for the untransformed Gaussian: the 4-nat point must be close (n = 500, sd ≈ 0.1)
        static double Col(string row, int i) => double.Parse(row.Split(',')[i], System.Globalization.CultureInfo.InvariantCulture);
        var fourNats = rows.Single(r => r.StartsWith("multinormal") && Math.Abs(Col(r, 5) - 4.0) < 1e-6);
        Assert.InRange(Col(fourNats, 3), 3.5, 4.5);
        var png = Path.Combine(outDir, "highmi.png");
        Assert.True(new FileInfo(png).Length > 10_000);
        File.Delete(png);
        Assert.Equal(0, Run("highmi", "--mi", "1,4", "--transforms", "none,half_cube", "--figure-only", "--out", outDir).Code);
        Assert.True(File.Exists(png));
    }

    [Fact]
    [Trait("Category", "Long")]
    public void QuickConsistencyRunsOnSyntheticImages()
    {
        var outDir = Path.Combine(_dir, "consistency");
        var (code, err) = Run("consistency", "--quick", "--images", "300", "--estimators", "cca", "--threads", "1", "--out", outDir);
        Assert.True(code == 0, err);
        var rows = File.ReadAllLines(Path.Combine(outDir, "results.csv")).Skip(1).Select(l => l.Split(',')).ToArray();
        Assert.Equal(new[] { "additivity", "baseline", "dpi" }, rows.Select(r => r[0]).Distinct().OrderBy(t => t));
        var full = rows.Single(r => r[0] == "baseline" && r[3] == "28");
        Assert.Equal("1", full[7]);
        Assert.True(new FileInfo(Path.Combine(outDir, "consistency.png")).Length > 10_000);
    }

    [Fact]
    public void ConsistencyWithoutMnistSaysHowToGetIt()
    {
        var (code, err) = Run("consistency", "--data", Path.Combine(_dir, "nowhere"), "--out", Path.Combine(_dir, "c"));
        Assert.Equal(Cli.Failure, code);
        Assert.Contains("fetch-mnist.sh", err);
    }
}
