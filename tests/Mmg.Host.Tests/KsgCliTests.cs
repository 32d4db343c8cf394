using Xunit;

namespace Mmg.Tests;

/// <summary>What a user sees from `mmg estimate --estimator ksg` on tied and discrete data.</summary>
public class KsgCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmg-ksg-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        return (Cli.Run(args, o, e), o.ToString(), e.ToString());
    }

    private string Csv(string name, Func<int, (double X, double Y)> row, int n)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllLines(p, new[] { "X0,Y0" }.Concat(Enumerable.Range(0, n).Select(i =>
        {
            var (x, y) = row(i);
            return FormattableString.Invariant($"{x},{y}");
        })));
        return p;
    }

    [Fact]
    public void RoundedDataGiveAnEstimateAndAPrintedWarning()
    {
        var (x, y) = BenchmarkTasks.Find("1v1-normal-0.75").Sample(3000, 4);
        var path = Csv("rounded.csv", i => (Math.Round(x[i, 0], 1), Math.Round(y[i, 0], 1)), 3000);
        var (code, output, err) = Run("estimate", "--input", path, "--estimator", "ksg");
        Assert.True(code == 0, err);
        Assert.Contains("warning:", output);
        Assert.Contains("k-th-neighbour distance of zero", output);
    }

    [Fact]
    public void DiscreteDataAreRefusedWithOneLineSayingWhy()
    {
        var rng = new Random(3);
        var path = Csv("discrete.csv", _ => (rng.Next(3), rng.Next(2)), 500);
        var (code, _, err) = Run("estimate", "--input", path, "--estimator", "ksg");
        Assert.NotEqual(0, code);
        var lines = err.Trim().Split('\n');
        Assert.Single(lines);
        Assert.Contains("discrete", lines[0]);
        Assert.Contains("allow-discrete", lines[0]);
    }

    [Fact]
    public void TheFormerOptionNameStillRunsWithANoteAndTheNewNameRunsWithout()
    {
        var rng = new Random(3);
        var path = Csv("discrete2.csv", _ => (rng.Next(3), rng.Next(2)), 500);
        var (code, output, err) = Run("estimate", "--input", path, "--estimator", "ksg", "--set", "allowDiscrete=true");
        Assert.True(code == 0, err);
        Assert.Contains("note:", output);
        Assert.Contains("allowDiscrete → allow-discrete", output);
        var (code2, output2, err2) = Run("estimate", "--input", path, "--estimator", "ksg", "--set", "allow-discrete=true");
        Assert.True(code2 == 0, err2);
        Assert.DoesNotContain("note:", output2);
        // the same estimate under either name
        string EstimateLine(string text) => text.Split('\n').First(l => l.Contains("nats"));
        Assert.Equal(EstimateLine(output2), EstimateLine(output));
    }
}
