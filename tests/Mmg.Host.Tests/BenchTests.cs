using System.Diagnostics;
using Xunit;

namespace Mmg.Tests;

/// <summary>The benchmark runner (not accuracy): rows, failures, resume after a kill or a signal, the manifest, the lock, shards and merge.</summary>
[Collection("torch")]
public class BenchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmg-bench-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static int Run(params string[] args) => Cli.Run(args, new StringWriter(), new StringWriter());

    private static (int Code, string Out, string Err) RunCaptured(params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        return (Cli.Run(args, o, e), o.ToString(), e.ToString());
    }

    /// <summary>Every file under a folder with its bytes, to show a command changed nothing.</summary>
    private static Dictionary<string, string> Snapshot(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).ToDictionary(f => f, f => Convert.ToHexString(File.ReadAllBytes(f)));

    private static Process StartMmg(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mmg.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private const int SigTerm = 15;

    /// <summary>libc's kill(2): .NET cannot send a process SIGTERM, and minimal Debian has no /bin/kill.</summary>
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private static void WaitForRows(Process p, string dir, int rows)
    {
        var results = Path.Combine(dir, "results.csv");
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < deadline && !(File.Exists(results) && File.ReadAllLines(results).Length >= rows + 1) && !p.HasExited)
            Thread.Sleep(100);
        Assert.False(p.HasExited, "the bench finished before it could be stopped; give it more work");
    }

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
        var args = new[] { "bench", "--tasks", "multinormal-dense-5-5-0.5,1v1-normal-0.75", "--estimators", "cca", "--samples", "8", "--out", outDir };
        Assert.Equal(3, Run(args));
        var rows = Rows(outDir);
        Assert.Equal(2, rows.Length);
        Assert.Contains(",failed,", rows[0]);
        Assert.Contains("ArgumentException", rows[0]);
        Assert.Contains(",ok,", rows[1]);

        // the next run retries the failed job (and only it): one more row, and it still counts once
        Assert.Equal(3, Run(args));
        var again = Rows(outDir);
        Assert.Equal(3, again.Length);
        Assert.Equal(rows, again.Take(2));
        Assert.StartsWith("multinormal-dense-5-5-0.5,cca,1,", again[2]);
        var summary = File.ReadAllLines(Path.Combine(outDir, "summary.csv"));
        var header = summary[0].Split(',');
        var dense = summary.Single(l => l.StartsWith("multinormal-dense-5-5-0.5,")).Split(',');
        Assert.Equal("1", dense[Array.IndexOf(header, "Runs")]);
        Assert.Equal("1", dense[Array.IndexOf(header, "Failed")]);
    }

    [Fact]
    public void ARunWithOtherSettingsOnTheSameOutIsRefusedAndChangesNothing()
    {
        var outDir = Path.Combine(_dir, "manifest");
        var args = new[] { "bench", "--tasks", "1v1-normal-0.75,multinormal-dense-2-2-0.5", "--estimators", "cca", "--samples", "400", "--out", outDir };
        Assert.Equal(0, Run(args));
        var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "manifest.json"))).RootElement;
        Assert.Equal(400, manifest.GetProperty("samples").GetInt32());
        Assert.Equal(2, manifest.GetProperty("jobs").GetArrayLength());
        Assert.Matches("^[0-9a-f]{40}$|^unknown$", manifest.GetProperty("commit").GetString());
        Assert.False(string.IsNullOrEmpty(manifest.GetProperty("torchSharp").GetString()));
        var before = Snapshot(outDir);

        foreach (var (option, value, named) in new[] { ("--samples", "300", "--samples: 400, not 300"), ("--seeds", "2", "--seeds: 1, not 2"),
                     ("--profile", "quick", "--profile: default, not quick"), ("--shard", "0/2", "--shard: 0/1, not 0/2") })
        {
            var changed = args.ToList();
            var at = changed.IndexOf(option);
            if (at >= 0) changed[at + 1] = value;
            else changed.InsertRange(1, new[] { option, value });
            var (code, _, err) = RunCaptured(changed.ToArray());
            Assert.Equal(2, code);
            Assert.Contains(named, err);
            Assert.Single(err.Trim().Split('\n'));
            Assert.Equal(before, Snapshot(outDir));
        }
    }

    [Fact]
    public void SetReachesEveryJobIsRecordedAndAResumeWithOtherOptionsIsRefused()
    {
        var outDir = Path.Combine(_dir, "set");
        string[] Args(params string[] set) =>
            ["bench", "--tasks", "1v1-normal-0.75", "--estimators", "ksg", "--seeds", "2", "--samples", "500", "--out", outDir, .. set];
        Assert.Equal(0, Run(Args("--set", "k=3")));
        // each job's estimate is KSG with k = 3 on that seed's sample, not the default k
        var task = BenchmarkTasks.Find("1v1-normal-0.75");
        foreach (var (row, seed) in Rows(outDir).Select((r, i) => (r.Split(','), i + 1)))
        {
            var (x, y) = task.Sample(500, seed);
            var k3 = Estimators.Create("ksg", new EstimatorSettings { Extra = new Dictionary<string, string> { ["k"] = "3" } }).Estimate(x, y).Estimate;
            var plain = Estimators.Create("ksg").Estimate(x, y).Estimate;
            Assert.NotEqual(k3, plain);
            Assert.Equal(k3, double.Parse(row[3], System.Globalization.CultureInfo.InvariantCulture), 12);
        }
        var manifestPath = Path.Combine(outDir, "manifest.json");
        var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllText(manifestPath)).RootElement;
        Assert.Equal(["k=3"], manifest.GetProperty("options").EnumerateArray().Select(e => e.GetString()!).ToArray());
        var before = Snapshot(outDir);

        // other options, or none, are another plan: refused with both named, nothing changed
        foreach (var (set, named) in new[] { (new[] { "--set", "k=5" }, "--set: k=3, not k=5"), ([], "--set: k=3, not none") })
        {
            var (code, _, err) = RunCaptured(Args(set));
            Assert.Equal(2, code);
            Assert.Contains(named, err);
            Assert.Equal(before, Snapshot(outDir));
        }

        // a manifest written before --set existed has no options: it resumes a run without --set
        var old = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject();
        Assert.True(old.Remove("options"));
        File.WriteAllText(manifestPath, old.ToJsonString());
        Assert.Equal(0, Run(Args()));
        Assert.Equal(before[Path.Combine(outDir, "results.csv")], Snapshot(outDir)[Path.Combine(outDir, "results.csv")]);
    }

    [Fact]
    public void ASetKeyThatAnEstimatorOfTheRunDoesNotReadIsRefusedBeforeAnythingIsWritten()
    {
        // cca reads no options: the whole run is refused, naming the key and cca, and no folder is made
        var outDir = Path.Combine(_dir, "set-bad");
        var (code, _, err) = RunCaptured("bench", "--tasks", "1v1-normal-0.75", "--estimators", "ksg,cca", "--set", "k=3", "--out", outDir);
        Assert.Equal(1, code);
        Assert.Contains("'k'", err);
        Assert.Contains("cca", err);
        Assert.False(Directory.Exists(outDir));

        // an out-of-range value of an MMG option, in highmi: the option's own message, before anything trains
        (code, _, err) = RunCaptured("highmi", "--mi", "1", "--transforms", "none", "--estimators", "mmg-debiased", "--set", "overtime=-1", "--out", outDir);
        Assert.Equal(1, code);
        Assert.Contains("overtime", err);
        Assert.False(Directory.Exists(outDir));

        (code, _, err) = RunCaptured("bench", "--speed", "--set", "k=3");
        Assert.Equal(2, code);
        Assert.Contains("--set does not apply to --speed", err);
    }

    [Fact]
    public void AResultsFileThatIsNotOursIsRefusedNotAppendedTo()
    {
        var outDir = Path.Combine(_dir, "foreign");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "results.csv"), "name,value\nalpha,1\n");
        var before = Snapshot(outDir);
        var (code, _, err) = RunCaptured("bench", "--tasks", "1v1-normal-0.75", "--estimators", "cca", "--samples", "300", "--out", outDir);
        Assert.Equal(1, code);
        Assert.Contains("results.csv was not written by mmg", err);
        Assert.Equal(before, Snapshot(outDir));

        // ours, but with no manifest: its settings are unknown, so it is not resumed either
        File.WriteAllText(Path.Combine(outDir, "results.csv"), "task,estimator,seed,estimate,std_error,ground_truth,seconds,status,error\n1v1-normal-0.75,cca,1,0.4,0.01,0.41,0.1,ok,\n");
        (code, _, err) = RunCaptured("bench", "--tasks", "1v1-normal-0.75", "--estimators", "cca", "--samples", "300", "--out", outDir);
        Assert.Equal(1, code);
        Assert.Contains("no manifest.json", err);
        Assert.False(File.Exists(Path.Combine(outDir, "manifest.json")));
    }

    [Fact]
    public void TwoRunsOnOneOutCannotInterleave()
    {
        var outDir = Path.Combine(_dir, "locked");
        Directory.CreateDirectory(outDir);
        using (new FileStream(Path.Combine(outDir, ".mmg.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var (code, _, err) = RunCaptured("bench", "--tasks", "1v1-normal-0.75", "--estimators", "cca", "--samples", "300", "--out", outDir);
            Assert.Equal(1, code);
            Assert.Contains("in use by another mmg run", err);
            Assert.False(File.Exists(Path.Combine(outDir, "results.csv")));
            Assert.False(File.Exists(Path.Combine(outDir, "manifest.json")));
        }
        Assert.Equal(0, Run("bench", "--tasks", "1v1-normal-0.75", "--estimators", "cca", "--samples", "300", "--out", outDir));
        Assert.False(File.Exists(Path.Combine(outDir, ".mmg.lock")));
    }

    [Fact]
    public void OffATerminalEachJobLogsOneLine()
    {
        var (code, stdout, _) = RunCaptured("bench", "--tasks", "1v1-normal-0.75,multinormal-dense-2-2-0.5", "--estimators", "cca,ksg", "--samples", "300",
            "--out", Path.Combine(_dir, "log"));
        Assert.Equal(0, code);
        var lines = stdout.Split('\n').Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @" job [1-4]/4 \S+ (cca|ksg) seed 1: \d\.\d{4} ± \d\.\d{4} \(truth \d\.\d{4}\), \d+\.\d s, ok$")).ToArray();
        Assert.Equal(4, lines.Length);
        Assert.DoesNotContain("━", stdout);   // no progress bar
    }

    [Fact]
    public void OutTakesTheShardIndexAndThreadsComeFromSlurm()
    {
        var spec = Path.Combine(_dir, "shard-{shard}");
        var threads = TorchSharp.torch.get_num_threads();
        Environment.SetEnvironmentVariable("SLURM_CPUS_PER_TASK", "2");
        try
        {
            Assert.Equal(0, Run("bench", "--tasks", "1v1-normal-0.75,multinormal-dense-2-2-0.5", "--estimators", "cca", "--samples", "300", "--shard", "1/2", "--out", spec));
            Assert.Equal(2, TorchSharp.torch.get_num_threads());
        }
        finally
        {
            Environment.SetEnvironmentVariable("SLURM_CPUS_PER_TASK", null);
            TorchSharp.torch.set_num_threads(threads);
        }
        Assert.Single(Rows(Path.Combine(_dir, "shard-1")));
        var (code, _, err) = RunCaptured("bench", "--tasks", "1v1-normal-0.75", "--estimators", "cca", "--out", spec);
        Assert.Equal(2, code);
        Assert.Contains("{shard}", err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "shard-{shard}")));
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
        var inputs = Snapshot(_dir);
        var merged = Path.Combine(_dir, "merged");
        Assert.Equal(0, Run("bench", "merge", a, b, "--out", merged));
        Assert.Equal(6, Rows(merged).Length);
        Assert.Equal(Rows(a).Concat(Rows(b)).OrderBy(r => r), Rows(merged).OrderBy(r => r));
        Assert.Equal(inputs, Snapshot(_dir).Where(f => !f.Key.StartsWith(merged)).ToDictionary());
        Assert.Equal(2, Run("bench", "--tasks", tasks, "--shard", "2/2", "--out", a));
    }

    [Fact]
    public void MergeNeedsOutNeverWritesItsInputsAndRefusesMissingShardsUnlessAllowed()
    {
        var tasks = "1v1-normal-0.75,multinormal-dense-2-2-0.5,multinormal-dense-3-3-0.5";
        var shards = Enumerable.Range(0, 3).Select(i => Path.Combine(_dir, $"s{i}")).ToArray();
        for (var i = 0; i < 3; i++)
            Assert.Equal(0, Run("bench", "--tasks", tasks, "--estimators", "cca", "--samples", "300", "--shard", $"{i}/3", "--out", shards[i]));
        // a half-written last line (a killed run) is ignored by merge, and left as it is
        File.AppendAllText(Path.Combine(shards[1], "results.csv"), "multinormal-dense-2-2-0.5,cca,1,0.3");
        var inputs = Snapshot(_dir);
        var merged = Path.Combine(_dir, "merged");

        Assert.Equal(2, Run("bench", "merge", shards[0], shards[1]));   // no --out
        var (code, _, err) = RunCaptured("bench", "merge", shards[0], shards[1], "--out", merged);
        Assert.Equal(1, code);
        Assert.Contains("shard 2/3 is missing", err);
        Assert.Contains("nothing written", err);
        Assert.False(Directory.Exists(merged));
        Assert.NotEqual(0, Run("bench", "merge", shards[0], shards[1], shards[2], "--out", shards[0]));
        Assert.Equal(inputs, Snapshot(_dir));

        Assert.Equal(0, Run("bench", "merge", shards[0], shards[1], "--allow-partial", "--out", merged));
        Assert.Equal(Rows(shards[0]).Length + Rows(shards[1]).Length - 1, Rows(merged).Length);
        Assert.Equal(0, Run("bench", "merge", shards[0], shards[1], shards[2], "--out", merged));   // a complete merge replaces the partial one
        Assert.Equal(3, Rows(merged).Length);
        Assert.Equal(inputs, Snapshot(_dir).Where(f => !f.Key.StartsWith(merged)).ToDictionary());

        // shards of different runs do not merge
        var other = Path.Combine(_dir, "other");
        Assert.Equal(0, Run("bench", "--tasks", tasks, "--estimators", "cca", "--samples", "400", "--shard", "2/3", "--out", other));
        (code, _, err) = RunCaptured("bench", "merge", shards[0], shards[1], other, "--out", Path.Combine(_dir, "m2"));
        Assert.Equal(1, code);
        Assert.Contains("--samples: 300, not 400", err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "m2")));
    }

    [Fact]
    public void ShardAutoReadsSlurmAndKubernetesVariables()
    {
        static (int, int) Auto(int count, params (string Name, string Value)[] vars)
        {
            var env = vars.ToDictionary(v => v.Name, v => v.Value);
            var r = Experiments.Bench.autoShard(Microsoft.FSharp.Core.FuncConvert.FromFunc<string, string>(n => env.TryGetValue(n, out var v) ? v : null!), count);
            return (r.Item1, r.Item2);
        }
        Assert.Equal((2, 4), Auto(0, ("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_MAX", "3")));
        Assert.Equal((0, 4), Auto(0, ("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_MAX", "4")));
        Assert.Equal((1, 3), Auto(0, ("SLURM_ARRAY_TASK_ID", "6"), ("SLURM_ARRAY_TASK_MIN", "5"), ("SLURM_ARRAY_TASK_MAX", "7")));
        // one element resubmitted alone (sbatch --array=2) with the count given
        Assert.Equal((2, 4), Auto(0, ("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "1"), ("MMG_SHARD_COUNT", "4")));
        Assert.Equal((2, 4), Auto(4, ("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "1")));
        Assert.Equal((5, 8), Auto(0, ("JOB_COMPLETION_INDEX", "5"), ("MMG_SHARD_COUNT", "8")));
        Assert.Equal((5, 8), Auto(8, ("JOB_COMPLETION_INDEX", "5")));
        Assert.Contains("MMG_SHARD_COUNT", Assert.ThrowsAny<ArgumentException>(() => Auto(0, ("JOB_COMPLETION_INDEX", "5"))).Message);
        Assert.Contains("not contiguous", Assert.ThrowsAny<ArgumentException>(() => Auto(0, ("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "2"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_MAX", "2"))).Message);
        Assert.Contains("outside", Assert.ThrowsAny<ArgumentException>(() => Auto(0, ("JOB_COMPLETION_INDEX", "8"), ("MMG_SHARD_COUNT", "8"))).Message);
        Assert.Contains("SLURM_ARRAY_TASK_ID", Assert.ThrowsAny<ArgumentException>(() => Auto(0)).Message);
        Assert.Contains("not an integer", Assert.ThrowsAny<ArgumentException>(() => Auto(0, ("SLURM_ARRAY_TASK_ID", "x"), ("SLURM_ARRAY_TASK_COUNT", "4"))).Message);

        var (code, _, err) = RunCaptured("bench", "--tasks", "1v1-normal-0.75", "--estimators", "cca", "--shard", "auto", "--out", Path.Combine(_dir, "auto"));
        Assert.Equal(2, code);
        Assert.Contains("--shard auto needs", err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "auto")));
    }

    [Fact]
    public void ShardsBalanceTheEstimatedCostAndKeepMmgVariantsTogether()
    {
        var ids = new[] { "multinormal-dense-50-50-0.5", "1v1-normal-0.75", "normal_cdf-1v1-normal-0.75", "multinormal-dense-25-25-0.5",
            "1v1-additive-0.1", "multinormal-dense-2-2-0.5", "multinormal-dense-3-3-0.5", "multinormal-dense-5-5-0.5" };
        var tasks = ids.ToDictionary(t => t, BenchmarkTasks.Find);
        var all = Experiments.Bench.jobs(ids, new[] { "mmg", "mmg-orthogonal", "ksg", "cca" }, 2);
        var cost = Microsoft.FSharp.Core.FuncConvert.FromFunc<Experiments.BenchJob[], double>(g =>
            Experiments.Bench.groupCost(tasks[g[0].Task].DimX, tasks[g[0].Task].DimY, "default", 0, 0, g.Select(j => j.Estimator)));
        double Load(Experiments.BenchJob[] shard) => shard.GroupBy(j => (j.Task, j.Seed)).Sum(g => cost.Invoke(g.ToArray()));

        // the MMG variants of a group train once: a group with four MMG variants costs what one costs
        var one = Experiments.Bench.groupCost(1, 1, "default", 0, 0, new[] { "mmg" });
        Assert.Equal(one, Experiments.Bench.groupCost(1, 1, "default", 0, 0, new[] { "mmg", "mmg-orthogonal", "mmg-adaptive", "mmg-orthogonal-adaptive" }));
        Assert.True(Experiments.Bench.groupCost(50, 50, "default", 0, 0, new[] { "mmg" }) > 3 * one);
        Assert.True(Experiments.Bench.groupCost(1, 1, "default", 20000, 0, new[] { "mmg" }) > 1.9 * one);

        var byCost = Enumerable.Range(0, 4).Select(i => Experiments.Bench.shardByCost(cost, i, 4, all)).ToArray();
        var roundRobin = Enumerable.Range(0, 4).Select(i => Experiments.Bench.shard(i, 4, all)).ToArray();
        Assert.Equal(all.OrderBy(Experiments.Bench.jobKey), byCost.SelectMany(s => s).OrderBy(Experiments.Bench.jobKey));
        foreach (var group in all.GroupBy(j => (j.Task, j.Seed)))
            Assert.Single(byCost, s => s.Any(j => j.Task == group.Key.Task && j.Seed == group.Key.Seed));
        static double Spread(double[] loads) => loads.Max() / loads.Min();
        var costSpread = Spread(byCost.Select(Load).ToArray());
        Assert.True(costSpread < Spread(roundRobin.Select(Load).ToArray()), $"cost-aware spread {costSpread} is not better than round-robin");
        Assert.True(costSpread < 1.5, $"shard loads differ by {costSpread}x");
        // deterministic: the same plan gives the same shards
        Assert.Equal(byCost.Select(s => s.Select(Experiments.Bench.jobKey)), Enumerable.Range(0, 4).Select(i => Experiments.Bench.shardByCost(cost, i, 4, all).Select(Experiments.Bench.jobKey)));
    }

    [Fact]
    [Trait("Category", "Long")]
    public void SigtermStopsCleanlyWithExitCode75AndTheRunResumes()
    {
        var outDir = Path.Combine(_dir, "sigterm");
        var args = new[] { "bench", "--tasks", "1v1-normal-0.75", "--estimators", "cca,mmg-orthogonal", "--profile", "quick",
            "--steps", "1000", "--samples", "600", "--threads", "1", "--out", outDir };
        using (var p = StartMmg(args))
        {
            WaitForRows(p, outDir, 1);   // cca is done, MMG is training
            Assert.Equal(0, Kill(p.Id, SigTerm));
            Assert.True(p.WaitForExit(15_000), "mmg did not stop within 15 s of SIGTERM");
            Assert.Equal(75, p.ExitCode);
        }
        var text = File.ReadAllText(Path.Combine(outDir, "results.csv"));
        Assert.EndsWith("\n", text);   // no half row
        var before = Rows(outDir);
        Assert.Single(before);
        Assert.False(File.Exists(Path.Combine(outDir, ".mmg.lock")));
        Assert.Equal(0, Run(args));
        var after = Rows(outDir);
        Assert.Equal(2, after.Length);
        Assert.Equal(before, after.Take(1));
        Assert.StartsWith("1v1-normal-0.75,mmg-orthogonal,1,", after[1]);
    }

    [Fact]
    public void TwoSigtermsAtOnceAreOneRequestAndStopGracefully()
    {
        // Slurm's scancel signals mmg and the batch script, which forwards its own TERM: one cancel
        // arrives twice within milliseconds and must not count as "stop now".
        var outDir = Path.Combine(_dir, "sigterm2");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mmg.dll"));
        foreach (var a in new[] { "bench", "--tasks", "1v1-normal-0.75", "--estimators", "cca,mmg-orthogonal", "--profile", "quick",
                     "--steps", "1000", "--samples", "600", "--threads", "1", "--out", outDir })
            psi.ArgumentList.Add(a);
        var err = new System.Text.StringBuilder();
        using var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (err) err.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        WaitForRows(p, outDir, 1);
        Assert.Equal(0, Kill(p.Id, SigTerm));
        Assert.Equal(0, Kill(p.Id, SigTerm));
        Assert.True(p.WaitForExit(15_000), "mmg did not stop within 15 s of SIGTERM");
        p.WaitForExit();
        Assert.Equal(75, p.ExitCode);
        string text;
        lock (err) text = err.ToString();
        Assert.Contains("SIGTERM received", text);
        Assert.DoesNotContain("abandoned", text);
    }

    [Fact]
    public void ShardsKeepTheJobsOfOneTaskAndSeedTogether()
    {
        var all = Experiments.Bench.jobs(new[] { "a", "b", "c" }, new[] { "mmg", "mmg-orthogonal", "ksg" }, 2);
        var shards = Enumerable.Range(0, 4).Select(i => Experiments.Bench.shard(i, 4, all)).ToArray();
        Assert.Equal(all.Length, shards.Sum(s => s.Length));
        foreach (var group in all.GroupBy(j => (j.Task, j.Seed)))
            Assert.Single(shards, s => s.Any(j => j.Task == group.Key.Task && j.Seed == group.Key.Seed));
    }

    [Fact]
    [Trait("Category", "Long")]
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

    [Fact]
    [Trait("Category", "Long")]
    public void ConsistencyJobsResumeRefuseOtherSettingsAndMergeByFigureOnly()
    {
        var outDir = Path.Combine(_dir, "consistency");
        var args = new[] { "consistency", "--quick", "--test", "baseline", "--images", "300", "--estimators", "cca", "--threads", "1", "--out", outDir };
        var (code, stdout, err) = RunCaptured(args);
        Assert.True(code == 0, err);
        Assert.Contains("1 to run", stdout);
        var job = Path.Combine(outDir, "jobs", "baseline_cca_seed1.csv");
        var rows = File.ReadAllLines(Path.Combine(outDir, "results.csv"));
        Assert.Equal(File.ReadAllLines(job), rows);
        Assert.True(rows.Length > 2);

        // a rerun has nothing to do and changes no job file; other settings are refused
        var before = File.ReadAllBytes(job);
        (code, stdout, _) = RunCaptured(args);
        Assert.Equal(0, code);
        Assert.Contains("1 already in", stdout);
        Assert.Equal(before, File.ReadAllBytes(job));
        // each finished estimate is kept: a job whose row file is gone is rebuilt from them, equal, without touching them
        var kept = Directory.GetFiles(Path.Combine(outDir, "estimates", "cca_seed1"));
        Assert.Equal(4, kept.Length); // I(A; B_r) for the four crops of --quick
        var stamps = kept.Select(File.GetLastWriteTimeUtc).ToArray();
        File.Delete(job);
        (code, stdout, _) = RunCaptured(args);
        Assert.Equal(0, code);
        Assert.Contains("1 to run", stdout);
        Assert.Equal(before, File.ReadAllBytes(job));
        Assert.Equal(stamps, kept.Select(File.GetLastWriteTimeUtc).ToArray());
        var seeds = args.Concat(new[] { "--seeds", "2" }).ToArray();
        (code, _, err) = RunCaptured(seeds);
        Assert.Equal(2, code);
        Assert.Contains("--seeds: 1, not 2", err);

        // shards merge by copying their job files into one folder and drawing from there (below);
        // a job with a failed estimate is retried by the next run (ConsistencyFailuresAreRetried)
        var merged = Path.Combine(_dir, "consistency-merged");
        Directory.CreateDirectory(Path.Combine(merged, "jobs"));
        File.Copy(job, Path.Combine(merged, "jobs", Path.GetFileName(job)));
        Assert.Equal(0, Run("consistency", "--figure-only", "--out", merged));
        Assert.Equal(rows, File.ReadAllLines(Path.Combine(merged, "results.csv")));
        Assert.True(File.Exists(Path.Combine(merged, "consistency.png")));
    }

    [Fact]
    [Trait("Category", "Long")]
    public void ConsistencyFailuresAreRetriedByTheNextRun()
    {
        // 400 images: additivity's halves of 200 rows are too few for MMG's batch of 256, so every
        // estimate of the job fails at once (before any training), deterministically
        var outDir = Path.Combine(_dir, "consistency-failing");
        var args = new[] { "consistency", "--quick", "--test", "additivity", "--images", "400", "--steps", "10", "--threads", "1", "--out", outDir };
        var (code, stdout, err) = RunCaptured(args);
        Assert.Equal(3, code);
        Assert.Contains("the same command retries them", err);
        var job = Path.Combine(outDir, "jobs", "additivity_mmg-debiased_seed1.csv");
        Assert.Contains("fewer than the batch size", File.ReadAllText(job));
        (code, stdout, err) = RunCaptured(args);
        Assert.Equal(3, code);
        Assert.Contains("0 already in", stdout);
        Assert.Contains("1 with failed estimates, retried", stdout);
        Assert.False(Directory.Exists(Path.Combine(outDir, "estimates")) && Directory.EnumerateFiles(Path.Combine(outDir, "estimates"), "*", SearchOption.AllDirectories).Any(),
            "a failed estimate must not be kept");
    }
}
