using System.Globalization;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary><c>mmg bench</c>: every (task, estimator, seed), resumable and shardable; <c>mmg bench merge</c>.</summary>
internal static class BenchCommand
{
    public static int Run(CommandContext c)
    {
        if (c.Has("speed")) return Speed(c);
        var taskIds = c.Get("tasks") is null or "all" ? Core.Tasks.all.Select(t => t.Id).ToArray()
            : c.Get("tasks") == "cmi" ? Core.CmiTasks.all.Select(t => t.Id).ToArray() : c.GetList("tasks", "");
        var cmiCount = taskIds.Count(Core.CmiTasks.isCmi);
        if (cmiCount > 0 && cmiCount < taskIds.Length)
            throw new ArgumentException("--tasks mixes MI and CMI tasks; run them as two benchmarks (MI estimators cannot condition on Z).");
        if (cmiCount > 0) return RunConditional(c, taskIds);
        var tasks = taskIds.Select(BenchmarkTasks.Find).ToArray();
        var estimators = c.Get("estimators") == "all" ? Estimators.Names.ToArray() : c.GetList("estimators", Estimators.Default);
        foreach (var e in estimators)
            if (!Estimators.Names.Contains(e)) throw new ArgumentException($"unknown estimator '{e}'; known: {string.Join(", ", Estimators.Names)}.");
        var seeds = c.GetInt("seeds", 1);
        var outDir = c.Get("out") ?? throw new ArgumentException("--out DIR is required (results.csv, summary.csv and heatmap.png go there).");
        Directory.CreateDirectory(outDir);
        var resultsPath = Path.Combine(outDir, "results.csv");

        var all = Core.Bench.jobs(taskIds, estimators, seeds);
        var mine = c.Get("shard") is { } spec ? Core.Bench.shard(Core.Bench.parseShard(spec).Item1, Core.Bench.parseShard(spec).Item2, all) : all;
        var done = Core.Bench.readRows(resultsPath);
        var todo = Core.Bench.remaining(done, mine);
        var console = c.Console(false);
        console.MarkupLine(Markup.Escape($"{mine.Length} jobs ({tasks.Length} tasks × {estimators.Length} estimators × {seeds} seeds{(c.Has("shard") ? $", shard {c.Get("shard")}" : "")}); {mine.Length - todo.Length} already in {resultsPath}, {todo.Length} to run."));

        RunJobs(c, console, tasks.ToDictionary(t => t.Id), todo, resultsPath);

        WriteSummary(console, outDir, Core.Bench.readRows(resultsPath), tasks.Length);
        return 0;
    }

    /// <summary>Runs jobs with a progress bar, appending (and flushing) one row per job.</summary>
    internal static void RunJobs(CommandContext c, IAnsiConsole console, IReadOnlyDictionary<string, BenchmarkTask> byId, Core.BenchJob[] todo, string resultsPath)
    {
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask("jobs", maxValue: Math.Max(1, todo.Length));
                // Jobs of the same (task, seed) that are MMG variants share one training run:
                // MMG computes all four variants at once, so each extra variant costs nothing.
                foreach (var group in todo.GroupBy(j => (j.Task, j.Seed)))
                {
                    Core.EstimatorResult? shared = null;
                    foreach (var job in group)
                    {
                        bar.Description = Markup.Escape($"{job.Task} / {job.Estimator} / seed {job.Seed}");
                        var task = byId[job.Task];
                        var isMmg = Core.Registry.isMmg(job.Estimator);
                        var row = Core.Bench.run(job, task.TrueMutualInformation, Microsoft.FSharp.Core.FuncConvert.FromFunc(() =>
                        {
                            if (isMmg && shared is not null) return AsVariant(shared, job.Estimator);
                            var settings = c.Settings(job.Seed);
                            var n = c.Has("samples") ? c.GetInt("samples", 0) : Core.MmgProfiles.byName(settings.Profile, task.DimX, task.DimY).Samples;
                            var (x, y) = task.Sample(n, job.Seed);
                            var result = Core.Registry.create(job.Estimator, settings.ToCore()).Estimate(x, y, null!);
                            if (isMmg) shared = result;
                            return result;
                        }));
                        Core.Bench.appendRow(resultsPath, row);
                        bar.Increment(1);
                    }
                }
                bar.Description = "jobs";
                bar.StopTask();
            });
    }

    /// <summary>The benchmark on CMI tasks: as Run, with conditional estimators and I(X;Y|Z) as the truth.</summary>
    private static int RunConditional(CommandContext c, string[] taskIds)
    {
        var tasks = taskIds.Select(Core.CmiTasks.find).ToArray();
        var names = Core.CmiRegistry.names.ToArray();
        var estimators = c.Get("estimators") == "all" ? names : c.GetList("estimators", Core.CmiRegistry.defaultName);
        foreach (var e in estimators)
            if (!Core.CmiRegistry.isCmi(e)) throw new ArgumentException($"'{e}' is not a conditional-MI estimator; for CMI tasks use: {string.Join(", ", names)}.");
        var seeds = c.GetInt("seeds", 1);
        var outDir = c.Get("out") ?? throw new ArgumentException("--out DIR is required (results.csv, summary.csv and heatmap.png go there).");
        Directory.CreateDirectory(outDir);
        var resultsPath = Path.Combine(outDir, "results.csv");
        var all = Core.Bench.jobs(taskIds, estimators, seeds);
        var mine = c.Get("shard") is { } spec ? Core.Bench.shard(Core.Bench.parseShard(spec).Item1, Core.Bench.parseShard(spec).Item2, all) : all;
        var todo = Core.Bench.remaining(Core.Bench.readRows(resultsPath), mine);
        var console = c.Console(false);
        console.MarkupLine(Markup.Escape($"{mine.Length} jobs ({tasks.Length} CMI tasks × {estimators.Length} estimators × {seeds} seeds{(c.Has("shard") ? $", shard {c.Get("shard")}" : "")}); {mine.Length - todo.Length} already in {resultsPath}, {todo.Length} to run."));
        var byId = tasks.ToDictionary(t => t.Id);
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask("jobs", maxValue: Math.Max(1, todo.Length));
                // the MMG-CMI variants of one (task, seed) share one training run
                foreach (var group in todo.GroupBy(j => (j.Task, j.Seed)))
                {
                    Core.EstimatorResult? shared = null;
                    foreach (var job in group)
                    {
                        bar.Description = Markup.Escape($"{job.Task} / {job.Estimator} / seed {job.Seed}");
                        var task = byId[job.Task];
                        var isMmg = Core.CmiRegistry.isMmg(job.Estimator);
                        var row = Core.Bench.run(job, task.TrueCMI, Microsoft.FSharp.Core.FuncConvert.FromFunc(() =>
                        {
                            if (isMmg && shared is not null) return AsVariant(shared, job.Estimator);
                            var settings = c.Settings(job.Seed);
                            var n = c.Has("samples") ? c.GetInt("samples", 0) : Core.MmgProfiles.byName(settings.Profile, task.DimX, task.DimY + task.DimZ).Samples;
                            var (x, y, z) = task.Sample.Invoke(n).Invoke(job.Seed);
                            var result = Core.CmiRegistry.create(job.Estimator, settings.ToCore()).Estimate(x, y, z, null!);
                            if (isMmg) shared = result;
                            return result;
                        }));
                        Core.Bench.appendRow(resultsPath, row);
                        bar.Increment(1);
                    }
                }
                bar.Description = "jobs";
                bar.StopTask();
            });
        WriteSummary(console, outDir, Core.Bench.readRows(resultsPath), tasks.Length);
        return 0;
    }

    private static Core.EstimatorResult AsVariant(Core.EstimatorResult r, string variant)
    {
        var v = r.Variants.Single(v => v.Name == variant);
        return new Core.EstimatorResult(variant, v.Estimate, v.StdError, r.Seconds, r.Variants, r.Curves, r.Pointwise, r.Interval, r.IndependencePValue, r.Settings);
    }

    public static int Merge(CommandContext c)
    {
        var dirs = (c.Get("dirs") ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var outDir = c.Get("out") ?? dirs[0];
        var rows = Core.Bench.merge(dirs, outDir);
        var console = c.Console(false);
        console.MarkupLine(Markup.Escape($"merged {rows.Length} rows from {dirs.Length} directories into {Path.Combine(outDir, "results.csv")}"));
        WriteSummary(console, outDir, rows, rows.Select(r => r.Task).Distinct().Count());
        return 0;
    }

    private static void WriteSummary(IAnsiConsole console, string outDir, Core.BenchRow[] rows, int taskCount)
    {
        if (rows.Length == 0) return;
        var summary = Core.Bench.summarize(rows);
        Core.Bench.writeSummary(Path.Combine(outDir, "summary.csv"), summary);
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
    private static int Speed(CommandContext c)
    {
        var console = c.Console(false);
        var table = new Table().AddColumns("what", "threads", "setting", "result");
        var lines = new List<string> { "what,threads,setting,result,unit" };
        var steps = c.GetInt("steps", 300);
        foreach (var (dx, dy) in new[] { (1, 1), (25, 25) })
        foreach (var threads in new[] { 1, 2 })
        {
            var width = Core.Network.defaultWidth(dx, dy);
            var itps = Core.Performance.trainingSpeed(dx, dy, width, 256, steps, threads);
            var setting = $"{dx}x{dy}, width {width}, batch 256";
            table.AddRow("denoiser training", threads.ToString(CultureInfo.InvariantCulture), setting, $"{itps:0} it/s");
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"denoiser training,{threads},{setting},{itps:0.0},it/s"));
        }
        var (ksgEstimate, ksgSeconds) = Core.Classical.benchmarkKsg(10000, 1).ToValueTuple();
        table.AddRow("ksg", "-", "10000 samples, bivariate normal", string.Create(CultureInfo.InvariantCulture, $"{ksgSeconds:0.000} s (estimate {ksgEstimate:0.0000})"));
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"ksg,-,10000 samples,{ksgSeconds:0.000},s"));
        console.Write(table);
        if (c.Get("out") is { } outDir) Report.WriteAtomically(Path.Combine(outDir, "speed.csv"), string.Join("\n", lines) + "\n");
        return 0;
    }
}
