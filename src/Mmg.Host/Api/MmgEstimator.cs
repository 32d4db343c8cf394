namespace Mmg;

/// <summary>Options of the MMG estimator.</summary>
public sealed class MmgOptions : EstimatorSettings
{
    /// <summary>The headline variant: mmg, mmg-adaptive, mmg-orthogonal, mmg-orthogonal-adaptive or mmg-debiased (default).</summary>
    public string Variant { get; init; } = "mmg-debiased";

    /// <summary>Network width (default 64; the paper profile: 64 / 128 / 256 by data dimension).</summary>
    public int? Width { get; init; }

    /// <summary>(a, ε) draws per test row at estimation time (default 10).</summary>
    public int? Repeats { get; init; }

    /// <summary>Return pointwise MI for every input row in <see cref="EstimateResult.Pointwise"/>
    /// (difference form, cross-fitted: <see cref="Folds"/> models, 5 unless set).</summary>
    public bool Pointwise { get; init; }

    /// <summary>K-fold cross-fitting (K ≥ 2): K models, every row scored by a model that did not
    /// train on it, and an interval over the folds; 1 (default) = one train/test split.</summary>
    public int? Folds { get; init; }

    /// <summary>Permutations for the test of independence on held-out rows (0 = no test).</summary>
    public int? Permutations { get; init; }

    /// <summary>Which columns go through normal-scores maps fit on the training rows before the
    /// standardisation (<see cref="NormalScoresColumns"/>; default: the estimator's).</summary>
    public NormalScoresColumns NormalScores { get; init; }

    /// <summary>Knots of the maps when <see cref="NormalScores"/> is <see cref="NormalScoresColumns.All"/> (default 128).</summary>
    public int? NormalScoresKnots { get; init; }

    internal Core.EstimatorOptions ToCoreWithExtras() =>
        ToCore([("normal-scores", NormalScoresText(NormalScores, NormalScoresKnots))], ("width", Width), ("repeats", Repeats), ("folds", Folds), ("permutations", Permutations));
}

/// <summary>
/// The MMG estimator: trains one conditional denoiser and reports all five variants
/// (mmg, mmg-adaptive, mmg-orthogonal, mmg-orthogonal-adaptive, mmg-debiased) with standard errors.
/// </summary>
/// <example><code>
/// using var est = new MmgEstimator(new MmgOptions { Seed = 1 });
/// EstimateResult r = est.Estimate(x, y);
/// est.Model!.Save("model");  // later: using var m = MmgModel.Load("model"); m.Estimate(x2, y2);
/// </code></example>
public sealed class MmgEstimator : IMutualInformationEstimator, IDisposable
{
    private readonly MmgOptions _options;
    private readonly Core.MmgEstimator _inner;

    /// <summary>A new estimator; <paramref name="options"/> null means all defaults.</summary>
    public MmgEstimator(MmgOptions? options = null)
    {
        _options = options ?? new MmgOptions();
        _inner = new Core.MmgEstimator(_options.Variant, _options.ToCoreWithExtras());
    }

    /// <inheritdoc />
    public string Name => _options.Variant;

    /// <summary>The model trained by the last <see cref="Estimate"/> call, or null.</summary>
    public MmgModel? Model { get; private set; }

    /// <summary>Splits the rows, trains on the training part and estimates on the test part.</summary>
    public EstimateResult Estimate(double[,] x, double[,] y, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        var (r, m) = _inner.EstimateWithModel(x, y, Estimators.Callback(progress, cancellationToken)!, _options.Pointwise).ToValueTuple();
        Model?.Dispose();
        Model = new MmgModel(m, _options.Variant);
        return EstimateResult.From(r);
    }

    /// <summary>As <see cref="Estimate"/>, but the trained model is returned to the caller, who owns it
    /// (dispose it when done); the estimator keeps no reference to it, so a later call does not
    /// dispose it, and <see cref="Model"/> is left as it was.</summary>
    public (EstimateResult Result, MmgModel Model) Fit(double[,] x, double[,] y, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        var (r, m) = _inner.EstimateWithModel(x, y, Estimators.Callback(progress, cancellationToken)!, _options.Pointwise).ToValueTuple();
        return (EstimateResult.From(r), new MmgModel(m, _options.Variant));
    }

    /// <summary><see cref="Fit(double[,], double[,], IProgress{TrainingStatus}?, CancellationToken)"/> on jagged rows (<c>x[i]</c>, <c>y[i]</c> are row i).</summary>
    public (EstimateResult Result, MmgModel Model) Fit(double[][] x, double[][] y, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default) =>
        Fit(Matrix.FromRows(x, nameof(x)), Matrix.FromRows(y, nameof(y)), progress, cancellationToken);

    /// <inheritdoc />
    public void Dispose() => Model?.Dispose();
}

/// <summary>A trained MMG model: estimates and pointwise MI on new samples without retraining.</summary>
public sealed class MmgModel : IDisposable
{
    private readonly Core.MmgModel _inner;
    private readonly string _variant;

    internal MmgModel(Core.MmgModel inner, string variant)
    {
        _inner = inner;
        _variant = variant;
    }

    /// <summary>Loads a model saved with <see cref="Save"/>.</summary>
    public static MmgModel Load(string directory, string device = "cpu", string variant = "mmg-debiased") =>
        new(Core.MmgModel.Load(directory, Core.Estimation.device(device)), variant);

    /// <summary>Saves the model (weights, standardisation, log-SNR densities) to a directory.</summary>
    public void Save(string directory) => _inner.Save(directory);

    /// <summary>Settings the model was trained with.</summary>
    public IReadOnlyDictionary<string, string> Settings => _inner.Settings;

    /// <summary>All five variants on (x, y), every row a test row.</summary>
    public EstimateResult Estimate(double[,] x, double[,] y, int repeats = 10, int seed = 0, bool pointwise = false)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var e = _inner.Evaluate(x, y, repeats, seed, pointwise ? _variant : "", 64);
        return EstimateResult.FromEvaluation(e, Core.MmgEstimator.Variants, _variant, _inner.Settings, sw.Elapsed.TotalSeconds);
    }

    /// <summary>Permutation test of independence on (x, y), rows this model did not train on:
    /// the p-value of H0: I(X;Y) = 0 (exact under H0; see docs/uncertainty.md).</summary>
    public double IndependencePValue(double[,] x, double[,] y, int permutations = 199, int seed = 0) =>
        _inner.PermutationTest(x, y, permutations, seed).Item1;

    /// <summary>Pointwise MI (nats) of each row of (x, y) (difference form of this variant's model),
    /// averaged over <paramref name="repeats"/> draws. Score only rows the model did not train on.</summary>
    public double[] Pointwise(double[,] x, double[,] y, int repeats = 10, int seed = 0) =>
        Estimate(x, y, repeats, seed, pointwise: true).Pointwise.ToArray();

    /// <inheritdoc />
    public void Dispose() => ((IDisposable)_inner).Dispose();
}
