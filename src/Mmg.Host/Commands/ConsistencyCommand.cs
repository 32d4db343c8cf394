using System.Globalization;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary><c>mmg consistency</c>: the MNIST self-consistency tests (paper §5.3).</summary>
internal static class ConsistencyCommand
{
    private const string Header = "test,estimator,seed,r,k,numerator,denominator,ratio,ideal,seconds,error";

    public static int Run(CommandContext c)
    {
        var outDir = c.Get("out") ?? throw new ArgumentException("--out DIR is required.");
        if (File.Exists(outDir)) throw new ArgumentException($"--out {outDir} is a file; give a folder for results.csv and consistency.png.");
        var resultsPath = Path.Combine(outDir, "results.csv");
        var console = c.Console(false);
        if (!c.Has("figure-only"))
        {
            var test = Core.Consistency.testName(c.Get("test") ?? "all");
            var estimators = c.GetList("estimators", Estimators.Default);
            foreach (var e in estimators)
                if (!Estimators.Names.Contains(e)) throw new ArgumentException($"unknown estimator '{e}'; known: {string.Join(", ", Estimators.Names)}.");
            var d = c.Has("quick") ? Core.ConsistencyConfig.Quick : Core.ConsistencyConfig.Default;
            var synthetic = c.Has("quick") && !c.Has("data");
            var imagesPath = synthetic ? "" : Path.Combine(c.Get("data") ?? Path.Combine("data", "cache", "mnist"), "train-images-idx3-ubyte");
            if (!synthetic && !File.Exists(imagesPath))
                throw new FileNotFoundException($"{imagesPath} not found; fetch MNIST with `bash data/fetch-mnist.sh` (or pass --data DIR, or --quick for a synthetic run).", imagesPath);
            // the output folder is created only once the options are known to be good
            Directory.CreateDirectory(outDir);
            if (synthetic) imagesPath = SyntheticImages(outDir);
            var cfg = new Core.ConsistencyConfig(imagesPath, c.GetInt("images", d.Count), d.Rows, d.K, d.Latent, d.AeSteps, d.Seed,
                Path.Combine(outDir, "autoencoders"));
            var lines = new List<string> { Header };
            foreach (var e in estimators)
            for (var seed = 1; seed <= c.GetInt("seeds", 1); seed++)
            {
                var settings = c.Settings(seed).ToCore();
                var est = Core.Registry.create(e, settings);
                var rows = ProgressBars.Run(console, $"{test} / {e} / seed {seed}", p =>
                    Core.Consistency.run(test, est, cfg, Estimators.Callback(p)!));
                foreach (var r in rows)
                    lines.Add(string.Join(",", r.Test, r.Estimator, seed.ToString(CultureInfo.InvariantCulture), r.R.ToString(CultureInfo.InvariantCulture),
                        r.K.ToString(CultureInfo.InvariantCulture), N(r.Numerator), N(r.Denominator), N(r.Ratio), N(r.Ideal), N(r.Seconds),
                        "\"" + (r.Error ?? "").Replace("\"", "'") + "\""));
            }
            Report.WriteAtomically(resultsPath, string.Join("\n", lines) + "\n");
        }
        if (!File.Exists(resultsPath)) throw new FileNotFoundException($"{resultsPath}: no results to plot.", resultsPath);
        var parsed = File.ReadAllLines(resultsPath).Skip(1).Where(l => l.Length > 0).Select(l => l.Split(',')).ToArray();
        var groups = parsed.GroupBy(p => (Test: p[0], Estimator: p[1], R: int.Parse(p[3], CultureInfo.InvariantCulture)));
        var points = new List<(string, string, double, double, double, double)>();
        var table = new Table().AddColumns("test", "estimator", "r", "ratio (mean)", "std", "ideal");
        foreach (var g in groups.OrderBy(g => g.Key.Test).ThenBy(g => g.Key.Estimator).ThenBy(g => g.Key.R))
        {
            var ratios = g.Select(p => P(p[7])).Where(double.IsFinite).ToArray();
            var mean = ratios.Length > 0 ? ratios.Average() : double.NaN;
            var std = ratios.Length > 1 ? Math.Sqrt(ratios.Sum(v => (v - mean) * (v - mean)) / (ratios.Length - 1)) : 0.0;
            var ideal = P(g.First()[8]);
            points.Add((g.Key.Test, g.Key.Estimator, g.Key.R, mean, std, ideal));
            table.AddRow(g.Key.Test, Markup.Escape(g.Key.Estimator), g.Key.R.ToString(CultureInfo.InvariantCulture), Report.F(mean, "0.000"), Report.F(std, "0.000"), Report.F(ideal, "0.0"));
        }
        console.Write(table);
        if (points.Count > 0)
        {
            Reports.Plots.Ratios(points, Path.Combine(outDir, "consistency.png"));
            console.MarkupLine(Markup.Escape($"wrote {resultsPath} and {Path.Combine(outDir, "consistency.png")}"));
        }
        return 0;
    }

    private static string N(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);

    private static double P(string s) => string.IsNullOrEmpty(s) ? double.NaN : double.Parse(s, CultureInfo.InvariantCulture);

    /// <summary>A synthetic IDX file of procedural images for --quick runs without MNIST.</summary>
    private static string SyntheticImages(string outDir)
    {
        var path = Path.Combine(outDir, "synthetic-images-idx3-ubyte");
        if (!File.Exists(path))
        {
            using var images = Core.Consistency.synthetic(0, Core.ConsistencyConfig.Quick.Count);
            Core.Idx.writeImages(path, images);
        }
        return path;
    }
}
