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

    /// <summary>The core's progress callback: reports to <paramref name="progress"/> and throws
    /// OperationCanceledException once <paramref name="cancellationToken"/> is cancelled (the training
    /// loops report about 200 times per phase, so a cancelled call stops within a fraction of a phase;
    /// the batch tensors are disposed on the way out).</summary>
    internal static Action<Core.TrainingProgress>? Callback(IProgress<TrainingStatus>? progress, CancellationToken cancellationToken = default)
    {
        if (progress is null && !cancellationToken.CanBeCanceled) return null;
        return p =>
        {
            cancellationToken.ThrowIfCancellationRequested();
            progress?.Report(new TrainingStatus(p.Phase, p.Step, p.TotalSteps, p.Loss, p.ItersPerSecond));
        };
    }

    private sealed class Wrapped(Core.IMiEstimator inner) : IMutualInformationEstimator
    {
        public string Name => inner.Name;

        public EstimateResult Estimate(double[,] x, double[,] y, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(y);
            return EstimateResult.From(inner.Estimate(x, y, Callback(progress, cancellationToken)!));
        }
    }
}
