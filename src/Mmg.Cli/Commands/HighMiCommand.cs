using System.Globalization;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary><c>mmg highmi</c>: sparse 3×3 two-pair Gaussians and their half-cube and spiral transforms at growing MI (paper §5.2).</summary>
internal static class HighMiCommand
{
    public static int Run(CommandContext c)
    {
        try
        {
            return Run(c, c.Console(false));
        }
        catch (UsageException e)
        {
            c.Err.WriteLine($"mmg: error: {e.Message}");
            return ExitCodes.Usage;
        }
    }

    private static int Run(CommandContext c, IAnsiConsole console)
    {
        var outDir = JobRunner.OutDir(c, JobRunner.Shard(c));
        var resultsPath = Path.Combine(outDir, "results.csv");
        var code = ExitCodes.Done;
        var mis = c.GetList("mi", "1,2.5,5,7.5,10,12.5,15").Select(v =>
            double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var mi) && double.IsFinite(mi) && mi > 0
                ? mi
                : throw new ArgumentException($"--mi: '{v}' is not a positive number of nats; give a comma-separated list such as 2.5,5,10.")).ToArray();
        var transforms = c.GetList("transforms", "none,half_cube,spiral");
        var tasks = new Dictionary<string, BenchmarkTask>();
        var panelOf = new Dictionary<string, string>();
        foreach (var t in transforms)
        foreach (var mi in mis)
        {
            var task = BenchmarkTasks.HighMi(t, mi);
            tasks[task.Id] = task;
            panelOf[task.Id] = t;
        }
        if (File.Exists(outDir)) throw new ArgumentException($"--out {outDir} is a file; give a folder for results.csv and highmi.png.");
        if (!c.Has("figure-only"))
        {
            var estimators = c.GetList("estimators", "mmg-adaptive,mmg-orthogonal-adaptive,mmg-debiased");
            foreach (var e in estimators)
                if (!Estimators.Names.Contains(e)) throw new UsageException($"unknown estimator '{e}'; known: {string.Join(", ", Estimators.Names)}.");
            var outcome = JobRunner.Run(c, new JobPlan("highmi", tasks.Keys.ToArray(), tasks, estimators.ToArray(), c.GetInt("seeds", 1)));
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
