namespace Mmg;

/// <summary>A conditional-MI estimator: I(X;Y|Z) in nats from x [n, dim_x], y [n, dim_y] and z [n, dim_z].</summary>
public interface IConditionalMutualInformationEstimator
{
    /// <summary>The estimator's name.</summary>
    string Name { get; }

    /// <summary>Estimates I(X;Y|Z) in nats. A z with no columns (new double[n, 0]) estimates I(X;Y).</summary>
    /// <exception cref="ArgumentException">Bad input (NaN, unequal rows, constant column, too few rows).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked at every progress report of the training, about 200 per phase).</exception>
    EstimateResult Estimate(double[,] x, double[,] y, double[,] z, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default);
}

/// <summary>Every conditional-MI estimator by name: the five mmg-cmi variants, ksg-cmi, gaussian-cmi.</summary>
public static class ConditionalEstimators
{
    /// <summary>The conditional-MI estimator names.</summary>
    public static IReadOnlyList<string> Names => Core.CmiRegistry.names.ToArray();

    /// <summary>The default, "mmg-cmi-orthogonal-adaptive".</summary>
    public static string Default => Core.CmiRegistry.defaultName;

    /// <summary>A new conditional-MI estimator by name.</summary>
    /// <exception cref="ArgumentException">Unknown name, or an MI-only estimator (the message says which ones can condition).</exception>
    public static IConditionalMutualInformationEstimator Create(string name, EstimatorSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        return new Wrapped(Core.CmiRegistry.create(name, (settings ?? new EstimatorSettings()).ToCore()));
    }

    private sealed class Wrapped(Core.ICmiEstimator inner) : IConditionalMutualInformationEstimator
    {
        public string Name => inner.Name;

        public EstimateResult Estimate(double[,] x, double[,] y, double[,] z, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(x);
            ArgumentNullException.ThrowIfNull(y);
            ArgumentNullException.ThrowIfNull(z);
            return EstimateResult.From(inner.Estimate(x, y, z, Estimators.Callback(progress, cancellationToken)!));
        }
    }
}

/// <summary>A conditional-MI benchmark task: a sampler of (X, Y, Z) that knows I(X;Y|Z) exactly.</summary>
public sealed class ConditionalBenchmarkTask
{
    private readonly Core.CmiTask _inner;

    internal ConditionalBenchmarkTask(Core.CmiTask inner) => _inner = inner;

    /// <summary>Id, e.g. "cmi-collider-1-1-1-0.5".</summary>
    public string Id => _inner.Id;

    /// <summary>Display name.</summary>
    public string Name => _inner.Name;

    /// <summary>Family: confounder, chain, collider, cmi-dense, cmi-sparse.</summary>
    public string Family => _inner.Family;

    /// <summary>Dimension of X.</summary>
    public int DimX => _inner.DimX;

    /// <summary>Dimension of Y.</summary>
    public int DimY => _inner.DimY;

    /// <summary>Dimension of Z.</summary>
    public int DimZ => _inner.DimZ;

    /// <summary>The exact I(X;Y|Z) in nats.</summary>
    public double TrueConditionalMutualInformation => _inner.TrueCMI;

    /// <summary>The exact I(X;Y) in nats (for contrast).</summary>
    public double TrueMutualInformation => _inner.TrueMI;

    /// <summary>n samples with the given seed.</summary>
    public (double[,] X, double[,] Y, double[,] Z) Sample(int n, int seed)
    {
        var (x, y, z) = _inner.Sample.Invoke(n).Invoke(seed);
        return (x, y, z);
    }

    /// <summary>All conditional-MI tasks.</summary>
    public static IReadOnlyList<ConditionalBenchmarkTask> All { get; } = Core.CmiTasks.all.Select(t => new ConditionalBenchmarkTask(t)).ToArray();

    /// <summary>A task by id.</summary>
    /// <exception cref="ArgumentException">Unknown id (the message lists the ids).</exception>
    public static ConditionalBenchmarkTask Find(string id) => new(Core.CmiTasks.find(id));
}
