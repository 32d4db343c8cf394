using System.Globalization;
using Mmg.CliArguments;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary><c>mmg bench</c>: every (task, estimator, seed), resumable and shardable; <c>mmg bench merge</c>.</summary>
internal static class BenchCommand
{
    public static int Run(BenchOptions o, CommandContext c)
    {
        o.Training.ApplyThreads();
        if (o.Speed && o.Set is not null)
        {
            c.Err.WriteLine("mmg: error: --set does not apply to --speed (it times the default denoiser and KSG).");
            return ExitCodes.Usage;
        }
        if (o.Speed) return Speed(o, c);
        try
        {
            var taskIds = o.Tasks switch
            {
                ["all"] => Core.Tasks.all.Select(t => t.Id).ToArray(),
                ["cmi"] => Core.CmiTasks.all.Select(t => t.Id).ToArray(),
                var ids => ids,
            };
            var cmiCount = taskIds.Count(Core.CmiTasks.isCmi);
            if (cmiCount > 0 && cmiCount < taskIds.Length)
                throw new UsageException("--tasks mixes MI and CMI tasks; run them as two benchmarks (MI estimators cannot condition on Z).");
            JobPlan plan;
            if (cmiCount > 0)
            {
                // the benchmark on CMI tasks: conditional estimators, I(X;Y|Z) as the truth
                var cmiTasks = taskIds.Select(Core.CmiTasks.find).ToArray();
                var names = Core.CmiRegistry.names.ToArray();
                var cmiEstimators = o.Estimators switch { null => [Core.CmiRegistry.defaultName], ["all"] => names, var given => given };
                foreach (var e in cmiEstimators)
                    if (!Core.CmiRegistry.isCmi(e)) throw new UsageException($"'{e}' is not a conditional-MI estimator; for CMI tasks use: {string.Join(", ", names)}.");
                plan = new JobPlan("bench", taskIds, new Dictionary<string, BenchmarkTask>(), cmiEstimators, o.Seeds, o.Training, o.Samples)
                {
                    CmiTasks = cmiTasks.ToDictionary(t => t.Id),
                    Set = o.Set,
                };
            }
            else
            {
                var tasks = taskIds.Select(BenchmarkTasks.Find).ToArray();
                var estimators = o.Estimators switch { null => [Estimators.Default], ["all"] => Estimators.Names.ToArray(), var given => given };
                foreach (var e in estimators)
                    if (!Estimators.Names.Contains(e)) throw new UsageException($"unknown estimator '{e}'; known: {string.Join(", ", Estimators.Names)}.");
                plan = new JobPlan("bench", taskIds, tasks.ToDictionary(t => t.Id), estimators, o.Seeds, o.Training, o.Samples) { Set = o.Set };
            }
            return JobRunner.Run(c, o.Job, plan, outcome => WriteSummary(c.Console(false), outcome.OutDir, outcome.Rows)).Code;
        }
        catch (UsageException e)
        {
            c.Err.WriteLine($"mmg: error: {e.Message}");
            return ExitCodes.Usage;
        }
    }

    /// <summary>
    /// <c>mmg bench merge</c>: reads the shard folders (never changes them), checks their manifests
    /// belong together, reports missing or incomplete shards (exit 1 and nothing written unless
    /// --allow-partial), and writes results.csv, manifest.json, summary.csv and heatmap.png to --out.
    /// </summary>
    public static int Merge(MergeOptions o, CommandContext c)
    {
        var (dirs, outDir) = (o.Dirs, o.Out);
        var report = Experiments.Bench.mergePlan(dirs, o.AllowVersionChange);
        Experiments.Bench.checkMergeOut(dirs, outDir, report.Manifest);
        var m = report.Manifest;
        var shardCount = report.MissingShards.Length + dirs.Length;
        var problems = report.MissingShards.Select(i => $"shard {i}/{shardCount} is missing (no folder given)").Concat(report.IncompleteShards).ToList();
        foreach (var p in problems) c.Err.WriteLine($"mmg: merge: {p}");
        if (report.MissingJobs > 0 && !o.AllowPartial)
        {
            c.Err.WriteLine($"mmg: error: {report.MissingJobs} of {m.Jobs.Length} jobs have no row (missing or incomplete shards); nothing written. Run them, or pass --allow-partial to merge what there is.");
            return ExitCodes.Error;
        }
        var created = !Directory.Exists(outDir);
        Directory.CreateDirectory(outDir);
        FolderLock folderLock;
        try
        {
            folderLock = FolderLock.Take(outDir);
        }
        catch
        {
            if (created && !Directory.EnumerateFileSystemEntries(outDir).Any()) Directory.Delete(outDir);
            throw;
        }
        using (folderLock)
        {
            Experiments.Bench.writeMerge(dirs, outDir, report);
            var console = c.Console(false);
            console.MarkupLine(Markup.Escape($"merged {report.Rows.Length} of {m.Jobs.Length} jobs from {dirs.Length} folders into {Path.Combine(outDir, "results.csv")}"));
            WriteSummary(console, outDir, report.Rows);
        }
        var failed = report.Rows.Count(r => r.Status != "ok");
        if (failed > 0) c.Err.WriteLine($"mmg: {failed} of {report.Rows.Length} merged jobs failed; rerun their shards to retry them. Exit code 3.");
        return failed > 0 ? ExitCodes.DoneWithFailures : ExitCodes.Done;
    }

    private static void WriteSummary(IAnsiConsole console, string outDir, Experiments.BenchRow[] rows)
    {
        if (rows.Length == 0) return;
        var summary = Experiments.Bench.summarize(rows);
        Experiments.Bench.writeSummary(Path.Combine(outDir, "summary.csv"), summary);
        var estimators = summary.Select(s => s.Estimator).Distinct().ToArray();
        var tasks = summary.Select(s => s.Task).Distinct().ToArray();
        var table = new Table().AddColumns("task", "estimator", "truth", "mean", "std", "bias", "ok");
        foreach (var s in summary)
            table.AddRow(Markup.Escape(s.Task), Markup.Escape(s.Estimator), Report.F(s.GroundTruth, "0.000"), Report.F(s.Mean, "0.000"),
                Report.F(s.Std, "0.000"), Report.F(s.Bias, "+0.000;-0.000"), s.Success ? "[green]yes[/]" : (s.Failed > 0 ? $"[red]{s.Failed} failed[/]" : "[red]no[/]"));
        console.Write(table);
        foreach (var e in estimators)
        {
            var k = summary.Count(s => s.Estimator == e && s.Success);
            console.MarkupLine(Markup.Escape($"{e}: {k}/{tasks.Length} tasks succeeded"));
        }
        var bias = new double[tasks.Length, estimators.Length];
        var est = new double[tasks.Length, estimators.Length];
        for (var i = 0; i < tasks.Length; i++)
        for (var j = 0; j < estimators.Length; j++)
        {
            var s = summary.FirstOrDefault(r => r.Task == tasks[i] && r.Estimator == estimators[j]);
            bias[i, j] = s is null ? double.NaN : s.RelativeBias;
            est[i, j] = s is null ? double.NaN : s.Mean;
        }
        var labels = tasks.Select(t => $"{t} ({Report.F(summary.First(s => s.Task == t).GroundTruth, "0.00")})").ToArray();
        Reports.Plots.BiasHeatmap(labels, estimators, bias, est, Path.Combine(outDir, "heatmap.png"));
        console.MarkupLine(Markup.Escape($"wrote {Path.Combine(outDir, "summary.csv")} and heatmap.png"));
    }

    /// Throughput: training iterations/second of the denoiser at the 1×1 and 25×25 sizes, and KSG at 10k samples.
    private static int Speed(BenchOptions o, CommandContext c)
    {
        var console = c.Console(false);
        var table = new Table().AddColumns("what", "threads", "setting", "result");
        var lines = new List<string> { "what,threads,setting,result,unit" };
        var steps = o.Training.Steps ?? 300;
        foreach (var (dx, dy) in new[] { (1, 1), (25, 25) })
        foreach (var threads in new[] { 1, 2 })
        {
            var width = Core.Network.defaultWidth(dx, dy);
            var itps = Experiments.Performance.trainingSpeed(dx, dy, width, 256, steps, threads);
            var setting = $"{dx}x{dy}, width {width}, batch 256";
            table.AddRow("denoiser training", threads.ToString(CultureInfo.InvariantCulture), setting, $"{itps:0} it/s");
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"denoiser training,{threads},{setting},{itps:0.0},it/s"));
        }
        var (ksgEstimate, ksgSeconds) = Core.Classical.benchmarkKsg(10000, 1).ToValueTuple();
        table.AddRow("ksg", "-", "10000 samples, bivariate normal", string.Create(CultureInfo.InvariantCulture, $"{ksgSeconds:0.000} s (estimate {ksgEstimate:0.0000})"));
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"ksg,-,10000 samples,{ksgSeconds:0.000},s"));
        console.Write(table);
        if (o.Job.Out is { } outDir) Report.WriteAtomically(Path.Combine(outDir, "speed.csv"), string.Join("\n", lines) + "\n");
        return 0;
    }
}
