using System.Globalization;
using Mmg.CliArguments;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary><c>mmg consistency</c>: the MNIST self-consistency tests (paper §5.3).</summary>
internal static class ConsistencyCommand
{
    private const string Header = "test,estimator,seed,r,k,numerator,denominator,ratio,ideal,seconds,error";

    public static int Run(ConsistencyOptions o, CommandContext c)
    {
        o.Training.ApplyThreads();
        try
        {
            return RunChecked(o, c);
        }
        catch (UsageException e)
        {
            c.Err.WriteLine($"mmg: error: {e.Message}");
            return ExitCodes.Usage;
        }
    }

    /// <summary>
    /// Jobs are (test, estimator, seed). Each finished job's rows go to jobs/&lt;test&gt;_&lt;estimator&gt;_seed&lt;seed&gt;.csv,
    /// written atomically, so a rerun skips finished jobs and a signal never leaves half a job; each
    /// finished estimate is kept in estimates/&lt;estimator&gt;_seed&lt;seed&gt;/, so a stopped job resumes
    /// from its last estimate and the tests share the values they have in common;
    /// results.csv is rebuilt from the job files after every run. Shards (--shard i/n or auto,
    /// '{shard}' in --out) split the job list; merging is copying the shards' jobs/*.csv into one
    /// folder and running --figure-only there.
    /// </summary>
    private static int RunChecked(ConsistencyOptions o, CommandContext c)
    {
        var shard = JobRunner.Shard(o.Job);
        var outDir = JobRunner.OutDir(o.Job, shard);
        if (File.Exists(outDir)) throw new ArgumentException($"--out {outDir} is a file; give a folder for results.csv and consistency.png.");
        var resultsPath = Path.Combine(outDir, "results.csv");
        var jobsDir = Path.Combine(outDir, "jobs");
        var console = c.Console(false);
        var code = ExitCodes.Done;
        if (!o.FigureOnly)
        {
            var test = Experiments.Consistency.testName(o.Test);
            var tests = test == "all" ? Experiments.Consistency.tests : new[] { test };
            var estimators = o.Estimators ?? [Estimators.Default];
            foreach (var e in estimators)
                if (!Estimators.Names.Contains(e)) throw new UsageException($"unknown estimator '{e}'; known: {string.Join(", ", Estimators.Names)}.");
            var seeds = o.Seeds;
            JobRunner.ThreadsFromScheduler(o.Training);
            var d = o.Quick ? Experiments.ConsistencyConfig.Quick : Experiments.ConsistencyConfig.Default;
            var synthetic = o.Quick && o.Data is null;
            var imagesPath = synthetic ? Path.Combine(outDir, "synthetic-images-idx3-ubyte") : Path.Combine(o.Data ?? Path.Combine("data", "cache", "mnist"), "train-images-idx3-ubyte");
            if (!synthetic && !File.Exists(imagesPath))
                throw new FileNotFoundException($"{imagesPath} not found; fetch MNIST with `bash data/fetch-mnist.sh` (or pass --data DIR, or --quick for a synthetic run).", imagesPath);
            var cfg = new Experiments.ConsistencyConfig(imagesPath, o.Images ?? d.Count, d.Rows, d.K, d.Latent, d.AeSteps, d.Seed,
                Path.Combine(outDir, "autoencoders"), "");
            // too few images is refused here, before the folder is made, not by the first job
            var available = synthetic ? Experiments.ConsistencyConfig.Quick.Count : Experiments.Idx.dims(imagesPath)[0];
            if (cfg.Count > available)
                throw new UsageException(synthetic
                    ? $"--images {cfg.Count}: the synthetic images of --quick are {available}; give --images {available} or less, or --data DIR for real images."
                    : $"--images {cfg.Count}: {imagesPath} holds only {available} images; give --images {available} or less.");

            var all = Experiments.Bench.jobs(tests, estimators, seeds);
            var (index, count) = shard ?? (0, 1);
            var mine = Experiments.Bench.shard(index, count, all);
            var (tool, commit, torchSharp) = JobRunner.Versions();
            var settings = o.Training.Settings(0);
            var manifest = new Experiments.BenchManifest(Experiments.Bench.ManifestFormat, o.Quick ? "consistency --quick" : "consistency", tests, estimators, seeds,
                settings.Profile, o.Training.Steps ?? 0, o.Images is not null ? cfg.Count : 0, settings.Device, [],
                index, count, mine.Select(Experiments.Bench.jobKey).ToArray(), tool, commit, torchSharp, DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture));
            using var folder = JobRunner.OpenFolder(outDir, manifest, resultsPath, Header, o.Job.AllowVersionChange);
            if (synthetic) SyntheticImages(imagesPath);
            Directory.CreateDirectory(jobsDir);
            // a job runs again when its file is missing or has a failed row (its finished estimates are kept, so only the failures are redone)
            var todo = mine.Where(j => !File.Exists(JobFile(jobsDir, j)) || HasFailure(JobFile(jobsDir, j))).ToArray();
            var retried = todo.Count(j => File.Exists(JobFile(jobsDir, j)));
            console.MarkupLine(Markup.Escape($"{mine.Length} jobs (tests × estimators × seeds{(shard is { } s ? $", shard {s.Index}/{s.Count}" : "")}); {mine.Length - todo.Length} already in {jobsDir}, {todo.Length} to run{(retried > 0 ? $" ({retried} with failed estimates, retried)" : "")}."));
            using var stop = new Interruption(c.Err, JobRunner.AbandonAfter);
            var interrupted = false;
            foreach (var job in todo)
            {
                if (stop.Requested) { interrupted = true; break; }
                var est = Core.Registry.create(job.Estimator, o.Training.Settings(job.Seed).ToCore());
                // every finished estimate is kept per (estimator, seed) in this folder, whose manifest fixes the settings:
                // a stopped job resumes from its last estimate, and dpi reuses the baseline's I(A; B_{r+K})
                var jobCfg = cfg.WithEstimatesDir(Path.Combine(outDir, "estimates", string.Create(CultureInfo.InvariantCulture, $"{job.Estimator}_seed{job.Seed}")));
                Experiments.ConsistencyRow[] rows;
                try
                {
                    rows = ProgressBars.Run(console, $"{job.Task} / {job.Estimator} / seed {job.Seed}", p =>
                    {
                        var report = Estimators.Callback(p);
                        return Experiments.Consistency.run(job.Task, est, jobCfg, new Action<Core.TrainingProgress>(s => { stop.ThrowIfRequested(); report?.Invoke(s); }));
                    });
                }
                catch (OperationCanceledException)
                {
                    interrupted = true;
                    break;
                }
                // an estimator stopped by the signal reports an error row: drop the whole job
                if (stop.Requested && rows.Any(r => !string.IsNullOrEmpty(r.Error))) { interrupted = true; break; }
                var lines = rows.Select(r => string.Join(",", r.Test, r.Estimator, job.Seed.ToString(CultureInfo.InvariantCulture), r.R.ToString(CultureInfo.InvariantCulture),
                    r.K.ToString(CultureInfo.InvariantCulture), N(r.Numerator), N(r.Denominator), N(r.Ratio), N(r.Ideal), N(r.Seconds),
                    "\"" + (r.Error ?? "").Replace("\"", "'") + "\""));
                stop.Write(() => Report.WriteAtomically(JobFile(jobsDir, job), string.Join("\n", lines.Prepend(Header)) + "\n"));
                if (!ReferenceEquals(c.Out, Console.Out) || Console.IsOutputRedirected)
                    c.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ} job {job.Task} {job.Estimator} seed {job.Seed}: {rows.Length} rows, {rows.Count(r => !string.IsNullOrEmpty(r.Error))} failed"));
            }
            // results.csv: every finished job of this folder, in job order
            var done = mine.Select(j => JobFile(jobsDir, j)).Where(File.Exists).ToArray();
            var body = done.SelectMany(f => File.ReadAllLines(f).Skip(1).Where(l => l.Length > 0)).ToArray();
            Report.WriteAtomically(resultsPath, string.Join("\n", body.Prepend(Header)) + "\n");
            if (interrupted)
            {
                c.Err.WriteLine($"mmg: interrupted: {done.Length} of {mine.Length} jobs done in {outDir}; run the same command again (or requeue) to resume (finished estimates are kept). Exit code 75.");
                return ExitCodes.Interrupted;
            }
            if (body.Any(IsFailedRow))
            {
                c.Err.WriteLine($"mmg: some consistency estimates failed (see the error column of {resultsPath}); the same command retries them (finished estimates are kept). Exit code 3.");
                code = ExitCodes.DoneWithFailures;
            }
        }
        else if (Directory.Exists(jobsDir) && Directory.EnumerateFiles(jobsDir, "*.csv").Any())
        {
            // --figure-only over merged shards: the job files of every shard copied into one jobs/ folder
            var body = Directory.EnumerateFiles(jobsDir, "*.csv").Order(StringComparer.Ordinal).SelectMany(f => File.ReadAllLines(f).Skip(1).Where(l => l.Length > 0));
            Report.WriteAtomically(resultsPath, string.Join("\n", body.Prepend(Header)) + "\n");
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
        return code;
    }

    private static string JobFile(string jobsDir, Experiments.BenchJob j) =>
        Path.Combine(jobsDir, string.Create(CultureInfo.InvariantCulture, $"{j.Task}_{j.Estimator}_seed{j.Seed}.csv"));

    /// <summary>Whether a result row failed: every row's last field is the quoted error, empty when it succeeded.</summary>
    private static bool IsFailedRow(string line) => line.Length > 0 && !line.EndsWith(",\"\"", StringComparison.Ordinal);

    /// <summary>Whether a job file has a failed row.</summary>
    private static bool HasFailure(string jobFile) => File.ReadAllLines(jobFile).Skip(1).Any(IsFailedRow);

    private static string N(double v) => double.IsNaN(v) ? "" : v.ToString("R", CultureInfo.InvariantCulture);

    private static double P(string s) => string.IsNullOrEmpty(s) ? double.NaN : double.Parse(s, CultureInfo.InvariantCulture);

    /// <summary>A synthetic IDX file of procedural images for --quick runs without MNIST.</summary>
    private static void SyntheticImages(string path)
    {
        if (File.Exists(path)) return;
        using var images = Experiments.Consistency.synthetic(0, Experiments.ConsistencyConfig.Quick.Count);
        var tmp = path + ".tmp";
        Experiments.Idx.writeImages(tmp, images);
        File.Move(tmp, path, true);
    }
}
