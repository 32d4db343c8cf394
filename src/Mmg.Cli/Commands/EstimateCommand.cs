using System.Globalization;
using System.Text.Json;
using Mmg.CliArguments;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary><c>mmg estimate</c>: one estimate on a task, a CSV, or the bundled sample.</summary>
internal static class EstimateCommand
{
    /// <summary>The bundled sample: 5000 rows of 1v1-normal-0.75 (data/sample.csv).</summary>
    public const string BundledTask = "1v1-normal-0.75";

    public static string BundledPath => Path.Combine(AppContext.BaseDirectory, "data", "sample.csv");

    /// <summary>Estimators that train no network: torch options do not apply to them.</summary>
    private static readonly string[] Classical = ["ksg", "cca"];

    public static int Run(EstimateOptions o, CommandContext c)
    {
        if (IsConditional(o)) return RunConditional(o, c);
        var seed = o.Seed;
        var name = o.Estimator ?? Estimators.Default;
        if (!Estimators.Names.Contains(name))
            throw new ArgumentException($"unknown estimator '{name}'; known: {string.Join(", ", Estimators.Names)}.");
        var isMmg = Core.Registry.isMmg(name);
        if (!isMmg && Options.FirstGiven(("plot", o.Plot), ("save-model", o.SaveModel), ("load-model", o.LoadModel), ("pointwise", o.Pointwise), ("folds", o.Folds)) is { } notMmg)
            throw new ArgumentException($"--{notMmg} needs an MMG estimator (mmg, mmg-adaptive, mmg-orthogonal, mmg-orthogonal-adaptive, mmg-debiased), not '{name}'.");
        if (o.Test is not null && !isMmg && !IndependenceTest.Estimators.Contains(name))
            throw new ArgumentException($"--test needs an MMG estimator or one of {string.Join(", ", IndependenceTest.Estimators)}, not '{name}'.");
        if (Classical.Contains(name)) RefuseNetworkOptions(o.Training, name);
        if (o.LoadModel is not null
            && Options.FirstGiven(("profile", o.Training.Profile), ("steps", o.Training.Steps), ("save-model", o.SaveModel), ("folds", o.Folds), ("set", o.Set)) is { } trainingOption)
            throw new ArgumentException($"--{trainingOption} does not apply with --load-model: a loaded model is used as saved, not trained again; drop --{trainingOption}.");
        CheckSourceAndFileOutputs(o);
        if (o.SaveModel is { } saveDir) Outputs.CheckModelFolder("save-model", saveDir);
        Outputs.CheckDistinct(Paths(o));
        // A saved model is verified (format version, checksums) before libtorch is loaded.
        if (o.LoadModel is { } loadDir) Core.ModelFiles.read(loadDir);

        var console = c.Console(useStderr: o.Json == "-");
        var (x, y, truth, source) = LoadData(o, console);

        if (!Classical.Contains(name)) o.Training.ApplyThreads();
        var settings = o.Training.Settings(seed, o.Set);
        WarnRenamed(console, o.Set);
        var pointwise = o.Pointwise is not null;
        EstimateResult result;
        MmgEstimator? trained = null;
        try
        {
            if (o.LoadModel is { } modelDir)
            {
                using var model = MmgModel.Load(modelDir, settings.Device, name);
                result = model.Estimate(x, y, seed: seed, pointwise: pointwise);
                if (o.Test is { } permutations)
                    result = result with { IndependencePValue = model.IndependencePValue(x, y, permutations, seed) };
            }
            else if (isMmg)
            {
                trained = new MmgEstimator(new MmgOptions
                {
                    Variant = name, Seed = settings.Seed, Device = settings.Device, Profile = settings.Profile, Steps = settings.Steps, Pointwise = pointwise,
                    Extra = settings.Extra, Folds = o.Folds, Permutations = o.Test,
                });
                var est = trained;
                result = ProgressBars.Run(console, name, p => est.Estimate(x, y, p));
            }
            else
            {
                var est = Estimators.Create(name, settings);
                result = ProgressBars.Run(console, name, p => est.Estimate(x, y, p));
                if (o.Test is { } permutations)
                    result = result with { IndependencePValue = IndependenceTest.Run(name, x, y, permutations, o.Training.Settings(seed, o.Set)).PValue };
            }

            RequireFinite(result);
            Report.Table(console, result, truth);
            if (result.Settings.TryGetValue("warning", out var warning))
                console.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}");
            if (o.SaveModel is { } dir)
            {
                trained!.Model!.Save(dir);
                console.MarkupLine($"model saved to [bold]{Markup.Escape(dir)}[/]");
            }
        }
        finally
        {
            trained?.Dispose();
        }
        if (o.Json is { } jsonPath) WriteJson(c, jsonPath, result, truth, source, x, y);
        if (o.Plot is { } png && result.Curves is { } curves)
        {
            Reports.Plots.Curves(curves, string.Create(CultureInfo.InvariantCulture,
                $"{result.Estimator}: I = {result.Estimate:0.000} ± {result.StdError:0.000} nats{(truth is { } t ? $" (truth {t:0.000})" : "")}"), png);
            console.MarkupLine($"plot written to [bold]{Markup.Escape(png)}[/]");
        }
        if (o.Pointwise is { } pw) WritePointwise(pw, result.Pointwise);
        return 0;
    }

    /// <summary>I(X;Y|Z) is asked for by a CMI task, a conditional estimator, a --load-model folder
    /// holding a conditional model (unless --estimator or --z says otherwise), --z (other than
    /// "none"), or Z&lt;digits&gt; columns in the input (unless --z none). An unreadable input is not
    /// conditional here: the plain path then reports its error.</summary>
    private static bool IsConditional(EstimateOptions o)
    {
        if (o.Task is { } id && Core.CmiTasks.isCmi(id)) return true;
        if (o.Estimator is { } e && Core.CmiRegistry.isCmi(e)) return true;
        // with neither --estimator nor --z, a saved conditional model asks for I(X;Y|Z) (an MI
        // model does not silently drop Z columns: the conditional path refuses it, naming it)
        if (o.Estimator is null && o.Z is null && o.LoadModel is { } m && Core.ModelFiles.kindOf(m) == Core.ModelFiles.CmiKind)
            return true;
        if (o.Z is { } z) return !z.Trim().Equals("none", StringComparison.OrdinalIgnoreCase);
        if (o.Input is not { } path || !File.Exists(path)) return false;
        try { return Experiments.DataFiles.defaultZColumns(Experiments.DataFiles.columns(path)).Length > 0; }
        catch (InvalidDataException) { return false; }
    }

    /// <summary>Estimators of I(X;Y|Z) that train no network.</summary>
    private static readonly string[] ClassicalConditional = ["ksg-cmi", "gaussian-cmi"];

    private static int RunConditional(EstimateOptions o, CommandContext c)
    {
        var seed = o.Seed;
        var name = o.Estimator ?? Core.CmiRegistry.defaultName;
        if (!Core.CmiRegistry.isCmi(name))
            throw new ArgumentException($"'{name}' estimates I(X;Y) only and cannot condition on Z; use one of {string.Join(", ", Core.CmiRegistry.names)} (or --z none to ignore the Z columns).");
        var isMmg = Core.CmiRegistry.isMmg(name);
        if (o.Folds is not null)
            throw new ArgumentException("--folds is not available for conditional MI yet; drop --folds or add --z none for I(X;Y).");
        if (o.Test is not null && (!isMmg || o.LoadModel is not null))
            throw new ArgumentException(isMmg
                ? "--test with --load-model is not available for conditional MI yet; drop one of them (a fresh estimate with --test tests on its held-out rows)."
                : $"--test for conditional MI needs an MMG-CMI estimator ({string.Join(", ", Core.CmiEstimator.Variants)}), not '{name}'; for KSG-CMI use `mmg citest`.");
        if (!isMmg && Options.FirstGiven(("plot", o.Plot), ("pointwise", o.Pointwise), ("save-model", o.SaveModel), ("load-model", o.LoadModel)) is { } notMmg)
            throw new ArgumentException($"--{notMmg} needs an MMG-CMI estimator ({string.Join(", ", Core.CmiEstimator.Variants)}), not '{name}'.");
        if (ClassicalConditional.Contains(name)) RefuseNetworkOptions(o.Training, name);
        if (o.LoadModel is not null
            && Options.FirstGiven(("profile", o.Training.Profile), ("steps", o.Training.Steps), ("save-model", o.SaveModel), ("set", o.Set)) is { } trainingOption)
            throw new ArgumentException($"--{trainingOption} does not apply with --load-model: a loaded model is used as saved, not trained again; drop --{trainingOption}.");
        CheckSourceAndFileOutputs(o);
        if (o.SaveModel is { } saveDir) Outputs.CheckModelFolder("save-model", saveDir);
        Outputs.CheckDistinct(Paths(o));
        // A saved model is verified (format version, kind, checksums) before libtorch is loaded.
        if (o.LoadModel is { } loadDir) Core.ModelFiles.readConditional(loadDir);
        var console = c.Console(useStderr: o.Json == "-");

        double[,] x, y, z;
        double? truth = null;
        string source;
        string[] zNames;
        var settings = o.Training.Settings(seed, o.Set);
        WarnRenamed(console, o.Set);
        if (o.Task is { } id)
        {
            if (!Core.CmiTasks.isCmi(id)) throw new ArgumentException($"'{id}' is an MI task (no Z); conditional estimators need a CMI task (see `mmg tasks`, kind cmi).");
            var task = ConditionalBenchmarkTask.Find(id);
            var n = o.Samples ?? Core.MmgProfiles.byName(settings.Profile, task.DimX, task.DimY + task.DimZ).Samples;
            var columns = task.DimX + task.DimY + task.DimZ;
            if ((long)n * columns > Core.Tasks.MaxValues)
                throw new ArgumentException($"--samples {n} of task {task.Id} ({columns} columns) is more than the limit of {Core.Tasks.MaxValues} values; use at most {Core.Tasks.MaxValues / columns} samples.");
            (x, y, z) = task.Sample(n, seed);
            truth = task.TrueConditionalMutualInformation;
            zNames = Enumerable.Range(0, task.DimZ).Select(j => $"Z{j}").ToArray();
            source = $"task {task.Id} ({task.DimX}×{task.DimY} | {task.DimZ}), {n} samples, seed {seed}";
        }
        else if (o.Input is { } path)
        {
            var (s, zz, names) = Experiments.DataFiles.readCsvConditional(path, o.X, o.Y, o.Z).ToValueTuple();
            (x, y, z, zNames) = (s.X, s.Y, zz, names);
            source = $"{path}: {x.GetLength(0)} rows, x = [{string.Join(",", s.XNames)}], y = [{string.Join(",", s.YNames)}], z = [{string.Join(",", names)}]";
        }
        else throw new ArgumentException("conditional MI needs --input (with Z columns or --z) or a CMI --task.");
        console.MarkupLine(Markup.Escape(source));

        if (!ClassicalConditional.Contains(name)) o.Training.ApplyThreads();
        EstimateResult result;
        MmgCmiEstimator? trained = null;
        try
        {
            if (o.LoadModel is { } modelDir)
            {
                // no training: every row is a test row
                using var model = MmgCmiModel.Load(modelDir, settings.Device, name);
                result = model.Estimate(x, y, z, seed: seed, pointwise: o.Pointwise is not null);
            }
            else if (isMmg)
            {
                trained = new MmgCmiEstimator(new MmgCmiOptions
                {
                    Variant = name, Seed = settings.Seed, Device = settings.Device, Profile = settings.Profile, Steps = settings.Steps,
                    Pointwise = o.Pointwise is not null, Extra = settings.Extra, Permutations = o.Test,
                });
                var est = trained;
                result = ProgressBars.Run(console, name, p => est.Estimate(x, y, z, p));
            }
            else
            {
                var est = ConditionalEstimators.Create(name, settings);
                result = ProgressBars.Run(console, name, p => est.Estimate(x, y, z, p));
            }

            RequireFinite(result);
            Report.Table(console, result, truth, "I(X;Y|Z)", "true CMI");
            if (o.SaveModel is { } dir)
            {
                trained!.Model!.Save(dir);
                console.MarkupLine($"model saved to [bold]{Markup.Escape(dir)}[/]");
            }
        }
        finally
        {
            trained?.Dispose();
        }
        if (o.Json is { } jsonPath)
        {
            var doc = (Dictionary<string, object?>)JsonDocument(result, truth, source, x.GetLength(0), x.GetLength(1), y.GetLength(1));
            doc["quantity"] = "I(X;Y|Z)";
            doc["dim_z"] = z.GetLength(1);
            doc["z_columns"] = zNames;
            var text = JsonSerializer.Serialize(doc, CommandContext.Json);
            if (jsonPath == "-") c.Out.WriteLine(text);
            else Report.WriteAtomically(jsonPath, text);
        }
        if (o.Plot is { } png && result.Curves is { } curves)
        {
            Reports.Plots.Curves(curves, string.Create(CultureInfo.InvariantCulture,
                $"{result.Estimator}: I(X;Y|Z) = {result.Estimate:0.000} ± {result.StdError:0.000} nats{(truth is { } t ? $" (truth {t:0.000})" : "")}"), png);
            console.MarkupLine($"plot written to [bold]{Markup.Escape(png)}[/]");
        }
        if (o.Pointwise is { } pw) WritePointwise(pw, result.Pointwise, "pointwise_cmi");
        return 0;
    }

    /// <summary>Options that only neural estimators take are refused for one that trains no network.</summary>
    private static void RefuseNetworkOptions(TrainingOptions t, string name)
    {
        if (Options.FirstGiven(("device", t.Device), ("profile", t.Profile), ("steps", t.Steps), ("threads", t.Threads)) is { } opt)
            throw new ArgumentException($"--{opt} does not apply to {name}: it trains no network (it runs on the CPU without libtorch); drop --{opt}.");
    }

    /// <summary>The data source options agree, and every file output is checked before any data
    /// is read or anything trained.</summary>
    private static void CheckSourceAndFileOutputs(EstimateOptions o)
    {
        if (o.Task is not null && o.Input is not null) throw new ArgumentException("give either --task or --input, not both.");
        if (o.Samples is not null && o.Task is null) throw new ArgumentException("--samples applies to --task only.");
        if ((o.X ?? o.Y ?? o.Z) is not null && o.Input is null) throw new ArgumentException("--x, --y and --z select CSV columns and need --input.");
        Outputs.CheckFile("json", o.Json);
        Outputs.CheckFile("plot", o.Plot);
        Outputs.CheckFile("pointwise", o.Pointwise);
    }

    /// <summary>The paths read or written, by option name, for <see cref="Outputs.CheckDistinct"/>.</summary>
    private static (string, string?)[] Paths(EstimateOptions o) =>
        [("input", o.Input), ("json", o.Json), ("plot", o.Plot), ("pointwise", o.Pointwise), ("save-model", o.SaveModel), ("load-model", o.LoadModel)];

    /// <summary>A NaN or infinite estimate is a failure, not a result: nothing is written.</summary>
    internal static void RequireFinite(EstimateResult r)
    {
        if (!double.IsFinite(r.Estimate))
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"{r.Estimator} produced a non-finite estimate ({r.Estimate}); training diverged or the data overflow; nothing was written. Rescale the data, or try more rows, another --seed or another estimator."));
        foreach (var v in r.Variants)
            if (!double.IsFinite(v.Estimate))
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                    $"{r.Estimator}: the variant {v.Name} is not a finite number ({v.Estimate}); training diverged; nothing was written. Try more rows, another --seed or another estimator."));
    }

    private static (double[,] X, double[,] Y, double? Truth, string Source) LoadData(EstimateOptions o, IAnsiConsole console)
    {
        var seed = o.Seed;
        if (o.Task is { } id)
        {
            var task = BenchmarkTasks.Find(id);
            var n = o.Samples ?? Core.MmgProfiles.byName(o.Training.Profile ?? "default", task.DimX, task.DimY).Samples;
            if ((long)n * (task.DimX + task.DimY) > Core.Tasks.MaxValues)
                throw new ArgumentException($"--samples {n} of task {task.Id} ({task.DimX + task.DimY} columns) is more than the limit of {Core.Tasks.MaxValues} values; use at most {Core.Tasks.MaxValues / (task.DimX + task.DimY)} samples.");
            var (x, y) = task.Sample(n, seed);
            var source = $"task {task.Id} ({task.DimX}×{task.DimY}), {n} samples, seed {seed}";
            console.MarkupLine(Markup.Escape(source));
            return (x, y, task.TrueMutualInformation, source);
        }
        if (o.Input is { } path)
        {
            var s = Experiments.DataFiles.readCsv(path, o.X, o.Y);
            var source = $"{path}: {s.X.GetLength(0)} rows, x = [{string.Join(",", s.XNames)}], y = [{string.Join(",", s.YNames)}]";
            console.MarkupLine(Markup.Escape(source));
            return (s.X, s.Y, null, source);
        }
        var bundled = Experiments.DataFiles.readCsv(BundledPath, null, null);
        var truth = BenchmarkTasks.Find(BundledTask).TrueMutualInformation;
        var msg = $"No --input or --task given: estimating on the bundled sample data/sample.csv ({bundled.X.GetLength(0)} rows of {BundledTask}, true MI {truth:0.0000} nats).";
        console.MarkupLine(Markup.Escape(msg));
        return (bundled.X, bundled.Y, truth, "bundled data/sample.csv");
    }

    internal static object JsonDocument(EstimateResult r, double? truth, string source, int rows, int dimX, int dimY) => new Dictionary<string, object?>
    {
        ["estimator"] = r.Estimator,
        ["estimate"] = r.Estimate,
        ["std_error"] = r.StdError,
        ["unit"] = r.Unit,
        ["interval"] = r.Interval is { } i ? new Dictionary<string, object> { ["low"] = i.Low, ["high"] = i.High, ["level"] = i.Level, ["method"] = i.Method } : null,
        ["independence_p_value"] = double.IsNaN(r.IndependencePValue) ? null : r.IndependencePValue,
        ["variants"] = r.Variants.ToDictionary(v => v.Name, v => new Dictionary<string, double> { ["estimate"] = v.Estimate, ["std_error"] = v.StdError }),
        ["ground_truth"] = truth,
        ["seconds"] = r.Seconds,
        ["settings"] = r.Settings,
        ["source"] = source,
        ["rows"] = rows,
        ["dim_x"] = dimX,
        ["dim_y"] = dimY,
        ["curves"] = r.Curves is { } c ? new Dictionary<string, object>
        {
            ["log_snr"] = c.LogSnr, ["unconditional"] = c.Unconditional, ["conditional"] = c.Conditional, ["gap"] = c.Gap, ["orthogonal_gap"] = c.OrthogonalGap,
        } : null,
    };

    private static void WriteJson(CommandContext c, string path, EstimateResult r, double? truth, string source, double[,] x, double[,] y)
    {
        var text = JsonSerializer.Serialize(JsonDocument(r, truth, source, x.GetLength(0), x.GetLength(1), y.GetLength(1)), CommandContext.Json);
        if (path == "-") c.Out.WriteLine(text);
        else Report.WriteAtomically(path, text);
    }

    private static void WritePointwise(string path, IReadOnlyList<double> values, string column = "pointwise_mi")
    {
        // MMG: one value per input row, keyed by the input row number (0-based data row, header
        // excluded); MMG-CMI: one value per held-out test row, in test-row order (with
        // --load-model every row is a test row: one value per input row)
        var lines = new List<string> { $"row,{column}" };
        lines.AddRange(values.Select((v, i) => string.Create(CultureInfo.InvariantCulture, $"{i},{v:R}")));
        Report.WriteAtomically(path, string.Join("\n", lines) + "\n");
    }

    /// <summary>One line per --set key given under its former (camelCase) name: it is still read.</summary>
    private static void WarnRenamed(IAnsiConsole console, IReadOnlyDictionary<string, string>? set)
    {
        if (set is null) return;
        foreach (var renamed in Core.Estimation.renamedIn(set))
            console.MarkupLine($"[yellow]note:[/] option {Markup.Escape(renamed)} (the former name is still read; use the new one)");
    }
}
