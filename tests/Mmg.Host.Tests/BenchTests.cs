using System.Diagnostics;
using Xunit;

namespace Mmg.Tests;

/// <summary>The benchmark runner (not accuracy): rows, failures, resume after a kill, shards and merge.</summary>
[Collection("torch")]
public class BenchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmg-bench-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static int Run(params string[] args) => Cli.Run(args, new StringWriter(), new StringWriter());

    private static string[] Rows(string dir) => File.ReadAllLines(Path.Combine(dir, "results.csv")).Skip(1).ToArray();

    [Fact]
    public void QuickSubsetWritesOneRowPerJobSummaryAndHeatmap()
    {
        var outDir = Path.Combine(_dir, "quick");
        Assert.Equal(0, Run("bench", "--tasks", "1v1-normal-0.75,multinormal-dense-2-2-0.5,student-identity-1-1-1", "--estimators", "cca,ksg",
            "--seeds", "2", "--samples", "400", "--out", outDir));
        var rows = Rows(outDir);
        Assert.Equal(3 * 2 * 2, rows.Length);
        Assert.All(rows, r => Assert.Contains(",ok,", r));
        Assert.Equal(6 + 1, File.ReadAllLines(Path.Combine(outDir, "summary.csv")).Length);
        Assert.True(new FileInfo(Path.Combine(outDir, "heatmap.png")).Length > 5_000);

        // a second run with the same --out has nothing left to do and adds no rows
        Assert.Equal(0, Run("bench", "--tasks", "1v1-normal-0.75,multinormal-dense-2-2-0.5,student-identity-1-1-1", "--estimators", "cca,ksg",
            "--seeds", "2", "--samples", "400", "--out", outDir));
        Assert.Equal(rows, Rows(outDir));
    }

    [Fact]
    public void AFailingRunBecomesAFailedRowAndTheBenchGoesOn()
    {
        var outDir = Path.Combine(_dir, "fail");
        // CCA needs more rows than columns: 8 samples of a 5×5 task fail, the 1×1 task succeeds
        Assert.Equal(0, Run("bench", "--tasks", "multinormal-dense-5-5-0.5,1v1-normal-0.75", "--estimators", "cca", "--samples", "8", "--out", outDir));
        var rows = Rows(outDir);
        Assert.Equal(2, rows.Length);
        Assert.Contains(",failed,", rows[0]);
        Assert.Contains("ArgumentException", rows[0]);
        Assert.Contains(",ok,", rows[1]);
    }

    [Fact]
    public void ShardsCoverEveryJobOnceAndMergeJoinsThem()
    {
        var tasks = "1v1-normal-0.75,multinormal-dense-2-2-0.5,multinormal-dense-3-3-0.5";
        var a = Path.Combine(_dir, "s0");
        var b = Path.Combine(_dir, "s1");
        Assert.Equal(0, Run("bench", "--tasks", tasks, "--estimators", "cca", "--seeds", "2", "--samples", "300", "--shard", "0/2", "--out", a));
        Assert.Equal(0, Run("bench", "--tasks", tasks, "--estimators", "cca", "--seeds", "2", "--samples", "300", "--shard", "1/2", "--out", b));
        Assert.Equal(3, Rows(a).Length);
        Assert.Equal(3, Rows(b).Length);
        Assert.Empty(Rows(a).Intersect(Rows(b)));
        var merged = Path.Combine(_dir, "merged");
        Assert.Equal(0, Run("bench", "merge", a, b, "--out", merged));
        Assert.Equal(6, Rows(merged).Length);
        Assert.Equal(Rows(a).Concat(Rows(b)).OrderBy(r => r), Rows(merged).OrderBy(r => r));
        Assert.NotEqual(0, Run("bench", "--tasks", tasks, "--shard", "2/2", "--out", a));
    }

    [Fact]
    public void ShardsKeepTheJobsOfOneTaskAndSeedTogether()
    {
        var all = Core.Bench.jobs(new[] { "a", "b", "c" }, new[] { "mmg", "mmg-orthogonal", "ksg" }, 2);
        var shards = Enumerable.Range(0, 4).Select(i => Core.Bench.shard(i, 4, all)).ToArray();
        Assert.Equal(all.Length, shards.Sum(s => s.Length));
        foreach (var group in all.GroupBy(j => (j.Task, j.Seed)))
            Assert.Single(shards, s => s.Any(j => j.Task == group.Key.Task && j.Seed == group.Key.Seed));
    }

    [Fact]
    public void AKilledRunResumesWithoutLosingOrDuplicatingRows()
    {
        var outDir = Path.Combine(_dir, "resume");
        var args = new[] { "bench", "--tasks", "1v1-normal-0.75,multinormal-dense-2-2-0.5", "--estimators", "mmg-orthogonal", "--seeds", "2",
            "--profile", "quick", "--steps", "300", "--samples", "600", "--threads", "1", "--out", outDir };
        var mmg = Path.Combine(AppContext.BaseDirectory, "mmg.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(mmg);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using (var p = Process.Start(psi)!)
        {
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var results = Path.Combine(outDir, "results.csv");
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (DateTime.UtcNow < deadline && !(File.Exists(results) && File.ReadAllLines(results).Length >= 2) && !p.HasExited)
                Thread.Sleep(100);
            Assert.False(p.HasExited, "the bench finished before it could be killed; give it more work");
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        var before = Rows(outDir);
        Assert.InRange(before.Length, 1, 3);
        Assert.Equal(0, Run(args));
        var after = Rows(outDir);
        Assert.Equal(4, after.Length);
        Assert.Equal(4, after.Select(r => string.Join(",", r.Split(',').Take(3))).Distinct().Count());
        Assert.Equal(before, after.Take(before.Length));
    }
}
