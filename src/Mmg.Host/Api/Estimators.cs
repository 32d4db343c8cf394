namespace Mmg;

/// <summary>Every estimator by name (<c>mmg estimators</c> lists them).</summary>
public static class Estimators
{
    /// <summary>The estimator names.</summary>
    public static IReadOnlyList<string> Names => Core.Registry.names.ToArray();

    /// <summary>The default estimator, "mmg-debiased".</summary>
    public static string Default => Core.Registry.defaultName;

    /// <summary>A new estimator by name.</summary>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    public static IMutualInformationEstimator Create(string name, EstimatorSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        var options = (settings ?? new EstimatorSettings()).ToCore();
        return new Wrapped(Core.Registry.create(name, options));
    }

    internal static Action<Core.TrainingProgress>? Callback(IProgress<TrainingStatus>? progress) =>
        progress is null ? null : p => progress.Report(new TrainingStatus(p.Phase, p.Step, p.TotalSteps, p.Loss, p.ItersPerSecond));

    private sealed class Wrapped(Core.IMiEstimator inner) : IMutualInformationEstimator
    {
        public string Name => inner.Name;

        public EstimateResult Estimate(double[,] x, double[,] y, IProgress<TrainingStatus>? progress = null)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(y);
            return EstimateResult.From(inner.Estimate(x, y, Callback(progress)!));
        }
    }
}
