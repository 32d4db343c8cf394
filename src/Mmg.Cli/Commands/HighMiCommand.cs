using Mmg.CliArguments;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary><c>mmg highmi</c>: sparse 3×3 two-pair Gaussians and their half-cube and spiral transforms at growing MI (paper §5.2).</summary>
internal static class HighMiCommand
{
    public static int Run(HighMiOptions o, CommandContext c)
    {
        o.Training.ApplyThreads();
        try
        {
            return Run(o, c, c.Console(false));
        }
        catch (UsageException e)
        {
            c.Err.WriteLine($"mmg: error: {e.Message}");
            return ExitCodes.Usage;
        }
    }

    private static int Run(HighMiOptions o, CommandContext c, IAnsiConsole console)
    {
        var outDir = JobRunner.OutDir(o.Job, JobRunner.Shard(o.Job));
        var resultsPath = Path.Combine(outDir, "results.csv");
        var code = ExitCodes.Done;
        var tasks = new Dictionary<string, BenchmarkTask>();
        var panelOf = new Dictionary<string, string>();
        foreach (var t in o.Transforms)
        foreach (var mi in o.Mi)
        {
            var task = BenchmarkTasks.HighMi(t, mi);
            tasks[task.Id] = task;
            panelOf[task.Id] = t;
        }
        if (File.Exists(outDir)) throw new ArgumentException($"--out {outDir} is a file; give a folder for results.csv and highmi.png.");
        if (!o.FigureOnly)
        {
            foreach (var e in o.Estimators)
                if (!Estimators.Names.Contains(e)) throw new UsageException($"unknown estimator '{e}'; known: {string.Join(", ", Estimators.Names)}.");
            var outcome = JobRunner.Run(c, o.Job, new JobPlan("highmi", tasks.Keys.ToArray(), tasks, o.Estimators, o.Seeds, o.Training, o.Samples) { Set = o.Set });
            if (outcome.Code == ExitCodes.Interrupted) return outcome.Code;
            code = outcome.Code;
        }
        var rows = Experiments.Bench.readRows(resultsPath);
        if (rows.Length == 0) throw new InvalidOperationException($"{resultsPath} has no results to plot.");
        var summary = Experiments.Bench.summarize(rows);
        Experiments.Bench.writeSummary(Path.Combine(outDir, "summary.csv"), summary);
        var points = summary.Where(s => panelOf.ContainsKey(s.Task))
            .Select(s => (panelOf[s.Task], s.Estimator, s.GroundTruth, s.Mean, double.IsNaN(s.Std) ? 0.0 : s.Std)).ToList();
        var table = new Table().AddColumns("task", "estimator", "truth", "mean", "std", "bias");
        foreach (var s in summary)
            table.AddRow(Markup.Escape(s.Task), Markup.Escape(s.Estimator), Report.F(s.GroundTruth, "0.00"), Report.F(s.Mean, "0.00"), Report.F(s.Std, "0.00"), Report.F(s.Bias, "+0.00;-0.00"));
        console.Write(table);
        if (points.Count > 0)
        {
            Reports.Plots.EstimateVersusTruth(points, Path.Combine(outDir, "highmi.png"), "High MI");
            console.MarkupLine(Markup.Escape($"wrote {Path.Combine(outDir, "highmi.png")}"));
        }
        return code;
    }
}
