using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using Microsoft.FSharp.Core;
using Mmg.CliArguments;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary>Exit codes of the job runners (<c>bench</c>, <c>highmi</c>, <c>bench merge</c>); docs/cluster.md has the table.</summary>
internal static class ExitCodes
{
    /// <summary>Every job done and ok.</summary>
    public const int Done = 0;

    /// <summary>An error: bad input, I/O, a folder in use or not ours, missing or incomplete shards in a merge.</summary>
    public const int Error = 1;

    /// <summary>A bad command line, or one that conflicts with the manifest of its --out.</summary>
    public const int Usage = 2;

    /// <summary>Every job ran, some failed (their rows say why; a rerun retries them).</summary>
    public const int DoneWithFailures = 3;

    /// <summary>Stopped by SIGTERM/SIGINT between jobs (no half row): run the same command again, or requeue.</summary>
    public const int Interrupted = 75;
}

/// <summary>A command line that is wrong or conflicts with its --out (exit code 2).</summary>
internal sealed class UsageException(string message) : ArgumentException(message);

/// <summary>What a run covers: tasks (by id, in order), estimators, seeds, and how each job runs
/// (--profile, --steps, --device; --samples, or null for the profile's). A run on conditional-MI
/// tasks (issue 14) gives them as <see cref="CmiTasks"/> (and no <see cref="Tasks"/>): its jobs
/// sample (x, y, z), run the conditional estimators and take I(X;Y|Z) as the truth.</summary>
internal sealed record JobPlan(string Command, IReadOnlyList<string> TaskIds, IReadOnlyDictionary<string, BenchmarkTask> Tasks, string[] Estimators, int Seeds,
    TrainingOptions Training, int? Samples)
{
    /// <summary>The CMI tasks by id, or null for an MI run.</summary>
    public IReadOnlyDictionary<string, Core.CmiTask>? CmiTasks { get; init; }

    /// <summary>The estimator-specific options of <c>--set</c>, given to every job, or null.</summary>
    public IReadOnlyDictionary<string, string>? Set { get; init; }

    /// <summary>A job's estimator settings: the training options, its seed and <see cref="Set"/>.</summary>
    public EstimatorSettings Settings(int seed) => Training.Settings(seed, Set);

    /// <summary>Refuses, before anything is written, a <c>--set</c> key that one of the run's
    /// estimators does not read or a value out of its range (the estimator's own message, naming
    /// the key; exit code 1, as for <c>mmg estimate --set</c>).</summary>
    public void CheckSet()
    {
        if (Set is null) return;
        var core = Settings(1).ToCore();
        foreach (var e in Estimators)
        {
            object estimator;
            try
            {
                estimator = CmiTasks is null ? Core.Registry.create(e, core) : Core.CmiRegistry.create(e, core);
            }
            catch (ArgumentException ex) when (ex.Message.StartsWith("unknown option", StringComparison.Ordinal))
            {
                throw new ArgumentException($"--set: {ex.Message.Split(" (Parameter")[0]} --set goes to every estimator of the run; bench {e} in a run of its own.", ex);
            }
            (estimator as IDisposable)?.Dispose();
        }
    }

    /// <summary>dim_x and the dimension that sizes the MMG profile (dim_y, or dim_y + dim_z for CMI).</summary>
    public (int DimX, int DimY) Dims(string id) =>
        CmiTasks is { } cmi ? (cmi[id].DimX, cmi[id].DimY + cmi[id].DimZ) : (Tasks[id].DimX, Tasks[id].DimY);
}

/// <summary>How a run ended: its exit code, output folder and the latest row of each of its jobs.</summary>
internal sealed record JobOutcome(int Code, string OutDir, Experiments.BenchRow[] Rows);

/// <summary>
/// The resumable, shardable job runner shared by <c>mmg bench</c> and <c>mmg highmi</c>: the shard
/// (i/n or from the scheduler's environment), the manifest, the folder lock, SIGTERM/SIGINT
/// handling, and one flushed row per job.
/// </summary>
internal static class JobRunner
{
    /// <summary>Seconds a signalled run waits for the current job to stop before abandoning it.</summary>
    public static readonly TimeSpan AbandonAfter = TimeSpan.FromSeconds(20);

    /// <summary>The shard from --shard (i/n or auto) and --shard-count, or null for an unsharded run.</summary>
    public static (int Index, int Count)? Shard(JobOptions job)
    {
        var count = job.ShardCount ?? 0;
        if (job.Shard is not { } spec)
            return job.ShardCount is not null ? throw new UsageException("--shard-count goes with --shard auto.") : null;
        try
        {
            var (i, n) = spec == "auto"
                ? Experiments.Bench.autoShard(FuncConvert.FromFunc<string, string>(v => Environment.GetEnvironmentVariable(v)!), count).ToValueTuple()
                : Experiments.Bench.parseShard(spec).ToValueTuple();
            if (spec != "auto" && count > 0 && count != n) throw new UsageException($"--shard {spec} and --shard-count {count} disagree.");
            return (i, n);
        }
        catch (ArgumentException e) when (e is not UsageException)
        {
            throw new UsageException(e.Message.Replace(" (Parameter 'shard')", ""));
        }
    }

    /// <summary>--out with '{shard}' replaced by the shard index.</summary>
    public static string OutDir(JobOptions job, (int Index, int Count)? shard)
    {
        var spec = job.Out ?? throw new UsageException("--out DIR is required (results.csv, manifest.json and the summary go there).");
        if (!spec.Contains("{shard}", StringComparison.Ordinal)) return spec;
        return shard is { } s ? spec.Replace("{shard}", s.Index.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            : throw new UsageException("--out contains {shard} but the run has no --shard.");
    }

    /// <summary>Torch threads from SLURM_CPUS_PER_TASK when --threads is not given.</summary>
    public static void ThreadsFromScheduler(TrainingOptions training)
    {
        if (training.Threads is not null) return;
        if (Environment.GetEnvironmentVariable("SLURM_CPUS_PER_TASK") is { } s && int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0)
            Core.Estimation.setThreads(n);
    }

    /// <summary>The tool's version (version+commit), its commit, and TorchSharp's version.</summary>
    public static (string Tool, string Commit, string TorchSharp) Versions()
    {
        static string Informational(Assembly a) =>
            a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? a.GetName().Version?.ToString() ?? "unknown";
        var tool = Informational(typeof(Cli).Assembly);
        var plus = tool.IndexOf('+', StringComparison.Ordinal);
        var torch = Informational(typeof(TorchSharp.torch).Assembly);
        var torchPlus = torch.IndexOf('+', StringComparison.Ordinal);
        return (tool, plus >= 0 ? tool[(plus + 1)..] : "unknown", torchPlus >= 0 ? torch[..torchPlus] : torch);
    }

    /// <summary>
    /// Runs the plan's jobs of this shard in --out, resuming what is there; <paramref name="finish"/>
    /// (summaries, figures) runs while the folder is still locked, unless the run was interrupted.
    /// Returns 0, 3 or 75.
    /// </summary>
    public static JobOutcome Run(CommandContext c, JobOptions job, JobPlan plan, Action<JobOutcome>? finish = null)
    {
        // the option values were checked when the options were parsed; the shard and --out are
        // checked here, before anything is written
        var seeds = plan.Seeds;
        var settings = plan.Settings(0);
        var (device, profile) = (settings.Device, settings.Profile);
        var steps = plan.Training.Steps ?? 0;
        var samples = plan.Samples ?? 0;
        var shard = Shard(job);
        var outDir = OutDir(job, shard);
        plan.CheckSet();
        ThreadsFromScheduler(plan.Training);

        var all = Experiments.Bench.jobs(plan.TaskIds, plan.Estimators, seeds);
        var (index, count) = shard ?? (0, 1);
        var cost = FuncConvert.FromFunc<Experiments.BenchJob[], double>(group =>
        {
            var (dimX, dimY) = plan.Dims(group[0].Task);
            return Experiments.Bench.groupCost(dimX, dimY, profile, steps, samples, group.Select(j => j.Estimator));
        });
        var mine = Experiments.Bench.shardByCost(cost, index, count, all);
        var (tool, commit, torchSharp) = Versions();
        var manifest = new Experiments.BenchManifest(Experiments.Bench.ManifestFormat, plan.Command, plan.TaskIds.ToArray(), plan.Estimators, seeds, profile, steps, samples,
            device, Experiments.Bench.manifestOptions(plan.Set), index, count, mine.Select(Experiments.Bench.jobKey).ToArray(), tool, commit, torchSharp, DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture));

        var resultsPath = Path.Combine(outDir, "results.csv");
        using (OpenFolder(outDir, manifest, resultsPath, Experiments.Bench.header, job.AllowVersionChange))
        using (var stop = new Interruption(c.Err, AbandonAfter))
        {
            Experiments.Bench.repairTail(resultsPath);
            var done = Experiments.Bench.readRows(resultsPath);
            var todo = Experiments.Bench.remaining(done, mine);
            var console = c.Console(false);
            var failedBefore = Experiments.Bench.latest(done).Count(r => r.Status == "failed" && todo.Any(j => j.Task == r.Task && j.Estimator == r.Estimator && j.Seed == r.Seed));
            console.MarkupLine(Markup.Escape(
                $"{mine.Length} jobs ({plan.TaskIds.Count} tasks × {plan.Estimators.Length} estimators × {seeds} seeds{(shard is { } s ? $", shard {s.Index}/{s.Count}" : "")}); " +
                $"{mine.Length - todo.Length} already in {resultsPath}, {todo.Length} to run{(failedBefore > 0 ? $" ({failedBefore} failed before, retried)" : "")}."));
            var finished = RunJobs(c, console, plan, todo, resultsPath, stop);
            var keys = mine.Select(Experiments.Bench.jobKey).ToHashSet();
            var rows = Experiments.Bench.latest(Experiments.Bench.readRows(resultsPath)).Where(r => keys.Contains($"{r.Task},{r.Estimator},{r.Seed}")).ToArray();
            if (!finished)
            {
                c.Err.WriteLine($"mmg: interrupted: {rows.Count(r => r.Status == "ok")} of {mine.Length} jobs done in {outDir}; run the same command again (or requeue) to resume. Exit code 75.");
                return new JobOutcome(ExitCodes.Interrupted, outDir, rows);
            }
            var failed = rows.Count(r => r.Status != "ok");
            var outcome = new JobOutcome(failed > 0 ? ExitCodes.DoneWithFailures : ExitCodes.Done, outDir, rows);
            finish?.Invoke(outcome);
            if (failed > 0) c.Err.WriteLine($"mmg: {failed} of {mine.Length} jobs failed (see the error column of {resultsPath}); a rerun retries them. Exit code 3.");
            return outcome;
        }
    }

    /// <summary>
    /// Creates --out, takes its lock and checks (or, the first time, writes) its manifest; on a
    /// refusal the lock is released and a folder created here is removed again.
    /// </summary>
    public static FolderLock OpenFolder(string outDir, Experiments.BenchManifest manifest, string resultsPath, string header, bool allowVersionChange)
    {
        var created = !Directory.Exists(outDir);
        Directory.CreateDirectory(outDir);
        FolderLock? folderLock = null;
        try
        {
            folderLock = FolderLock.Take(outDir);
            CheckOrWriteManifest(outDir, manifest, resultsPath, header, allowVersionChange);
            return folderLock;
        }
        catch
        {
            folderLock?.Dispose();
            if (created && !Directory.EnumerateFileSystemEntries(outDir).Any()) Directory.Delete(outDir);
            throw;
        }
    }

    /// <summary>Writes the manifest of a new --out; for an existing one, refuses other settings, another tool, or a results.csv that is not ours.</summary>
    private static void CheckOrWriteManifest(string outDir, Experiments.BenchManifest requested, string resultsPath, string header, bool allowVersionChange)
    {
        var recorded = Experiments.Bench.tryReadManifest(outDir);
        if (recorded is null)
        {
            if (File.Exists(resultsPath))
            {
                using (var reader = new StreamReader(resultsPath))
                    if (reader.ReadLine() is not { } first || first.TrimEnd('\r') != header)
                        throw new InvalidDataException($"{resultsPath} was not written by mmg (its first line is not '{header}'); choose another --out.");
                throw new InvalidDataException($"{resultsPath} has no {Experiments.Bench.ManifestFile} beside it (made by an older mmg or by hand), so its settings are unknown; use another --out.");
            }
            Experiments.Bench.writeManifest(outDir, requested);
            return;
        }
        var plan = Experiments.Bench.planDifferences(true, recorded.Value, requested).ToArray();
        if (plan.Length > 0)
            throw new UsageException($"{outDir} holds a run with other settings ({string.Join("; ", plan)}); rerun with the settings in {Path.Combine(outDir, Experiments.Bench.ManifestFile)} or use another --out.");
        var versions = Experiments.Bench.versionDifferences(recorded.Value, requested).ToArray();
        if (versions.Length > 0 && !allowVersionChange)
            throw new UsageException($"{outDir} was started by {string.Join("; ", versions)}; pass --allow-version-change to resume it anyway, or use another --out.");
    }

    /// <summary>
    /// Runs jobs, appending (and flushing) one row per job: with a progress bar on a terminal, else
    /// one log line per job. Returns false when a signal stopped it (the current job's row is not
    /// written).
    /// </summary>
    internal static bool RunJobs(CommandContext c, IAnsiConsole console, JobPlan plan, Experiments.BenchJob[] todo, string resultsPath, Interruption stop)
    {
        var terminal = ReferenceEquals(c.Out, Console.Out) && !Console.IsOutputRedirected;
        if (!terminal) return RunAll(c, plan, todo, resultsPath, stop, (_, _) => { }, (k, row) => c.Out.WriteLine(LogLine(k, todo.Length, row)));
        var finished = true;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var bar = ctx.AddTask("jobs", maxValue: Math.Max(1, todo.Length));
                finished = RunAll(c, plan, todo, resultsPath, stop,
                    (_, job) => bar.Description = Markup.Escape($"{job.Task} / {job.Estimator} / seed {job.Seed}"),
                    (_, _) => bar.Increment(1));
                bar.Description = finished ? "jobs" : "jobs (interrupted)";
                bar.StopTask();
            });
        return finished;
    }

    private static bool RunAll(CommandContext c, JobPlan plan, Experiments.BenchJob[] todo, string resultsPath, Interruption stop,
        Action<int, Experiments.BenchJob> starting, Action<int, Experiments.BenchRow> finished)
    {
        var k = 0;
        var progress = new Action<Core.TrainingProgress>(_ => stop.ThrowIfRequested());
        // Jobs of the same (task, seed) that are MMG variants share one training run:
        // MMG (and MMG-CMI) computes all five variants at once, so each extra variant costs nothing.
        foreach (var group in todo.GroupBy(j => (j.Task, j.Seed)))
        {
            Core.EstimatorResult? shared = null;
            foreach (var job in group)
            {
                if (stop.Requested) return false;
                starting(k, job);
                var cmiTask = plan.CmiTasks?[job.Task];
                var isMmg = cmiTask is null ? Core.Registry.isMmg(job.Estimator) : Core.CmiRegistry.isMmg(job.Estimator);
                var truth = cmiTask is { } ct ? ct.TrueCMI : plan.Tasks[job.Task].TrueMutualInformation;
                Experiments.BenchRow row;
                try
                {
                    row = Experiments.Bench.run(job, truth, FuncConvert.FromFunc(() =>
                    {
                        if (isMmg && shared is not null) return AsVariant(shared, job.Estimator);
                        var settings = plan.Settings(job.Seed);
                        var (dimX, dimY) = plan.Dims(job.Task);
                        var n = plan.Samples ?? Core.MmgProfiles.byName(settings.Profile, dimX, dimY).Samples;
                        Core.EstimatorResult result;
                        if (cmiTask is { } t)
                        {
                            var (x, y, z) = t.Sample.Invoke(n).Invoke(job.Seed);
                            result = Core.CmiRegistry.create(job.Estimator, settings.ToCore()).Estimate(x, y, z, progress);
                        }
                        else
                        {
                            var (x, y) = plan.Tasks[job.Task].Sample(n, job.Seed);
                            result = Core.Registry.create(job.Estimator, settings.ToCore()).Estimate(x, y, progress);
                        }
                        if (isMmg) shared = result;
                        return result;
                    }));
                }
                catch (OperationCanceledException)
                {
                    return false;
                }
                // a job that failed while a signal was pending may have failed because of it: no row
                if (stop.Requested && row.Status != "ok") return false;
                stop.Write(() => Experiments.Bench.appendRow(resultsPath, row));
                k++;
                finished(k, row);
            }
        }
        return !stop.Requested || k == todo.Length;
    }

    private static string LogLine(int k, int total, Experiments.BenchRow r)
    {
        var ci = CultureInfo.InvariantCulture;
        var result = r.Status == "ok"
            ? string.Create(ci, $"{r.Estimate:0.0000} ± {r.StdError:0.0000} (truth {r.GroundTruth:0.0000}), {r.Seconds:0.0} s, ok")
            : string.Create(ci, $"{r.Seconds:0.0} s, failed: {r.Error}");
        return string.Create(ci, $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ssZ} job {k}/{total} {r.Task} {r.Estimator} seed {r.Seed}: {result}");
    }

    private static Core.EstimatorResult AsVariant(Core.EstimatorResult r, string variant)
    {
        var v = r.Variants.Single(v => v.Name == variant);
        return new Core.EstimatorResult(variant, v.Estimate, v.StdError, r.Seconds, r.Variants, r.Curves, r.Pointwise, r.Interval, r.IndependencePValue, r.Settings);
    }
}

/// <summary>
/// An exclusive lock on an output folder (<c>.mmg.lock</c>, an advisory flock held while the
/// file is open): a second run on the same folder is refused, and a killed run's lock goes with
/// its process.
/// </summary>
internal sealed class FolderLock : IDisposable
{
    /// <summary>The lock file's name.</summary>
    public const string FileName = ".mmg.lock";

    private readonly FileStream _file;

    private FolderLock(FileStream file) => _file = file;

    /// <summary>Takes the lock or throws an IOException naming the folder.</summary>
    public static FolderLock Take(string dir)
    {
        var path = Path.Combine(dir, FileName);
        try
        {
            var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            using (var w = new StreamWriter(file, leaveOpen: true))
                w.Write(string.Create(CultureInfo.InvariantCulture, $"pid {Environment.ProcessId} on {Environment.MachineName} since {DateTime.UtcNow:o}\n"));
            file.Flush(true);
            return new FolderLock(file);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new IOException($"{dir} is in use by another mmg run (it holds {path}); wait for it to end or use another --out.");
        }
    }

    /// <inheritdoc />
    public void Dispose() => _file.Dispose();
}

/// <summary>
/// SIGTERM/SIGINT during a run: the first signal lets the current job finish (neural training
/// stops at its next progress report) and no new job starts; after <c>abandonAfter</c>, or at a
/// second signal, the process exits with code 75 at once, never while a row is being written.
/// </summary>
internal sealed class Interruption : IDisposable
{
    private readonly object _write = new();
    private readonly TextWriter _err;
    private readonly TimeSpan _abandonAfter;
    private readonly PosixSignalRegistration[] _registrations;
    private int _signals;
    private long _firstSignalTicks;
    private volatile bool _disposed;

    /// <summary>A second signal this soon after the first is the same request: Slurm's scancel
    /// signals every process of the job, and the batch script forwards its own TERM to mmg too,
    /// so one cancel arrives twice within milliseconds.</summary>
    private static readonly TimeSpan SameRequest = TimeSpan.FromSeconds(2);

    public Interruption(TextWriter err, TimeSpan abandonAfter)
    {
        _err = err;
        _abandonAfter = abandonAfter;
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal), PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal)];
    }

    /// <summary>Whether a signal arrived.</summary>
    public bool Requested => Volatile.Read(ref _signals) > 0;

    /// <summary>Throws OperationCanceledException once a signal arrived (called from training progress).</summary>
    public void ThrowIfRequested()
    {
        if (Requested) throw new OperationCanceledException("interrupted by a signal");
    }

    /// <summary>Runs a write to the end: an abandoning exit waits for it (so no half row).</summary>
    public void Write(Action write)
    {
        lock (_write) write();
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        var now = Environment.TickCount64;
        var first = Interlocked.CompareExchange(ref _firstSignalTicks, now, 0);
        if (first != 0 && now - first < (long)SameRequest.TotalMilliseconds)
            return;   // the same request again (see SameRequest)
        var n = Interlocked.Increment(ref _signals);
        if (n == 1)
        {
            _err.WriteLine($"mmg: {context.Signal} received: stopping the current job (no row is written for it); exit code 75 follows.");
            _ = Task.Delay(_abandonAfter).ContinueWith(_ => Abandon(), TaskScheduler.Default);
        }
        else Abandon();
    }

    private void Abandon()
    {
        lock (_write)
        {
            if (_disposed) return;
            _err.WriteLine("mmg: interrupted: the current job was abandoned (no row written); run the same command again to resume. Exit code 75.");
            _err.Flush();
            Console.Out.Flush();
            // Exit at once, without the runtime's and libtorch's exit-time teardown: the training
            // thread may be inside a native torch call, and tearing libtorch down under it
            // crashed the process (exit 139 instead of 75, seen under Slurm). Rows are flushed as
            // they are written and the write lock is held here, so nothing is lost.
            ImmediateExit(ExitCodes.Interrupted);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        foreach (var r in _registrations) r.Dispose();
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "_exit")]
    private static extern void PosixExit(int status);

    private static void ImmediateExit(int code)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            try { PosixExit(code); }
            catch (DllNotFoundException) { }
            catch (EntryPointNotFoundException) { }
        }
        Environment.Exit(code);
    }
}
