using Mmg.CliArguments;

namespace Mmg;

/// <summary>
/// What the commands do with their typed options. The values are checked when the options record
/// is built (src/Mmg.Cli.Arguments: counts in range, known --device and --profile, well-formed
/// --set), before anything is read, trained or written and without loading libtorch; the commands
/// check only how options combine (e.g. --device with an estimator that trains no network).
/// </summary>
internal static class Options
{
    /// <summary>The estimator settings of <c>--profile</c>, <c>--device</c>, <c>--steps</c> with their
    /// defaults, and the estimator-specific options of <c>--set</c> (a copy per call).</summary>
    public static EstimatorSettings Settings(this TrainingOptions training, int seed, IReadOnlyDictionary<string, string>? extra = null) => new()
    {
        Seed = seed,
        Device = training.Device ?? "cpu",
        Profile = training.Profile ?? "default",
        Steps = training.Steps,
        Extra = extra is null ? new Dictionary<string, string>(StringComparer.Ordinal) : new Dictionary<string, string>(extra, StringComparer.Ordinal),
    };

    /// <summary>Sets torch's CPU threads from --threads (default 1). Only commands that train call
    /// this: it loads libtorch, which <c>--help</c>, <c>tasks</c> and early errors never need.</summary>
    public static void ApplyThreads(this TrainingOptions training) => Core.Estimation.setThreads(training.Threads ?? 0);

    /// <summary>The name of the first option that was given (whose value is not null), or null:
    /// for checks of options that do not apply, e.g. <c>FirstGiven(("plot", o.Plot), ("folds", o.Folds))</c>.</summary>
    public static string? FirstGiven(params (string Name, object? Value)[] options) =>
        options.FirstOrDefault(o => o.Value is not null).Name;
}
