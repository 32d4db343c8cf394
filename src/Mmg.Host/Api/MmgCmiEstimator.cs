namespace Mmg;

/// <summary>Options of the MMG-CMI estimator (conditional MI I(X;Y|Z)).</summary>
public sealed class MmgCmiOptions : EstimatorSettings
{
    /// <summary>The headline variant: mmg-cmi, mmg-cmi-adaptive, mmg-cmi-orthogonal,
    /// mmg-cmi-orthogonal-adaptive (default) or mmg-cmi-debiased.</summary>
    public string Variant { get; init; } = Core.CmiRegistry.defaultName;

    /// <summary>Network width (default 64; the paper profile: 64 / 128 / 256 by dim_x + dim_y + dim_z).</summary>
    public int? Width { get; init; }

    /// <summary>(a, ε) draws per test row at estimation time (default: the profile's).</summary>
    public int? Repeats { get; init; }

    /// <summary>Return pointwise CMI of every held-out test row in <see cref="EstimateResult.Pointwise"/>
    /// (difference form of the variant's model).</summary>
    public bool Pointwise { get; init; }

    /// <summary>Local permutations for the test of conditional independence H0: I(X;Y|Z) = 0 on the
    /// held-out rows (0 or null = no test; the p-value is <see cref="EstimateResult.IndependencePValue"/>).
    /// y moves only among rows with nearby z; the trained model is not retrained per permutation.</summary>
    public int? Permutations { get; init; }

    /// <summary>Size of the z-neighbourhood y may move within in that test (default 5).</summary>
    public int? NeighboursInZ { get; init; }

    /// <summary>Which columns go through normal-scores maps fit on the training rows before the
    /// standardisation (<see cref="NormalScoresColumns"/>; default: the estimator's).</summary>
    public NormalScoresColumns NormalScores { get; init; }

    /// <summary>Knots of the maps when <see cref="NormalScores"/> is <see cref="NormalScoresColumns.All"/> (default 128).</summary>
    public int? NormalScoresKnots { get; init; }

    internal Core.EstimatorOptions ToCoreWithExtras() =>
        ToCore([("normal-scores", NormalScoresText(NormalScores, NormalScoresKnots))], ("width", Width), ("repeats", Repeats), ("permutations", Permutations), ("k-perm", NeighboursInZ));
}

/// <summary>
/// The MMG-CMI estimator: trains one noise predictor that always sees z and sees y or not, and
/// reports all five variants (mmg-cmi, mmg-cmi-adaptive, mmg-cmi-orthogonal,
/// mmg-cmi-orthogonal-adaptive, mmg-cmi-debiased) with standard errors; keeps the trained model.
/// </summary>
/// <example><code>
/// using var est = new MmgCmiEstimator(new MmgCmiOptions { Seed = 1 });
/// EstimateResult r = est.Estimate(x, y, z);
/// est.Model!.Save("cmi-model");  // later: using var m = MmgCmiModel.Load("cmi-model"); m.Estimate(x2, y2, z2);
/// </code></example>
public sealed class MmgCmiEstimator : IConditionalMutualInformationEstimator, IDisposable
{
    private readonly MmgCmiOptions _options;
    private readonly Core.CmiEstimator _inner;

    /// <summary>A new estimator; <paramref name="options"/> null means all defaults.</summary>
    /// <exception cref="ArgumentException">Unknown variant or option.</exception>
    public MmgCmiEstimator(MmgCmiOptions? options = null)
    {
        _options = options ?? new MmgCmiOptions();
        _inner = new Core.CmiEstimator(_options.Variant, _options.ToCoreWithExtras());
    }

    /// <inheritdoc />
    public string Name => _options.Variant;

    /// <summary>The model trained by the last <see cref="Estimate"/> call, or null.</summary>
    public MmgCmiModel? Model { get; private set; }

    /// <summary>Splits the rows, trains on the training part and estimates I(X;Y|Z) on the test part.</summary>
    /// <exception cref="ArgumentException">Bad input (NaN, unequal rows, constant column, too few rows).</exception>
    public EstimateResult Estimate(double[,] x, double[,] y, double[,] z, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(z);
        var (r, m) = _inner.EstimateWithModel(x, y, z, Estimators.Callback(progress, cancellationToken)!, _options.Pointwise).ToValueTuple();
        Model?.Dispose();
        Model = new MmgCmiModel(m, _options.Variant);
        return EstimateResult.From(r);
    }

    /// <summary>As <see cref="Estimate"/>, but the trained model is returned to the caller, who owns it
    /// (dispose it when done); the estimator keeps no reference to it, so a later call does not
    /// dispose it, and <see cref="Model"/> is left as it was.</summary>
    public (EstimateResult Result, MmgCmiModel Model) Fit(double[,] x, double[,] y, double[,] z, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(z);
        var (r, m) = _inner.EstimateWithModel(x, y, z, Estimators.Callback(progress, cancellationToken)!, _options.Pointwise).ToValueTuple();
        return (EstimateResult.From(r), new MmgCmiModel(m, _options.Variant));
    }

    /// <summary><see cref="Fit(double[,], double[,], double[,], IProgress{TrainingStatus}?, CancellationToken)"/> on jagged rows (<c>x[i]</c>, <c>y[i]</c>, <c>z[i]</c> are row i).</summary>
    public (EstimateResult Result, MmgCmiModel Model) Fit(double[][] x, double[][] y, double[][] z, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default) =>
        Fit(Matrix.FromRows(x, nameof(x)), Matrix.FromRows(y, nameof(y)), Matrix.FromRows(z, nameof(z)), progress, cancellationToken);

    /// <inheritdoc />
    public void Dispose() => Model?.Dispose();
}

/// <summary>A trained MMG-CMI model: estimates and pointwise CMI on new samples without retraining;
/// saves to a folder and loads from one (an MI model's folder is refused, naming what it holds).</summary>
public sealed class MmgCmiModel : IDisposable
{
    private readonly Core.CmiModel _inner;
    private readonly string _variant;

    internal MmgCmiModel(Core.CmiModel inner, string variant)
    {
        _inner = inner;
        _variant = variant;
    }

    /// <summary>Loads a model saved with <see cref="Save"/>; <paramref name="variant"/> is the headline of its estimates.</summary>
    /// <exception cref="ArgumentException">Unknown variant, or no such folder / no model.json.</exception>
    /// <exception cref="InvalidDataException">model.json is not JSON, has no or a newer format version,
    /// holds an MI model (save and load those with <see cref="MmgModel"/>), or a weight file does not
    /// match its SHA-256.</exception>
    public static MmgCmiModel Load(string directory, string device = "cpu", string? variant = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var v = variant ?? Core.CmiRegistry.defaultName;
        if (!Core.CmiEstimator.Variants.Contains(v))
            throw new ArgumentException($"unknown MMG-CMI variant '{v}'; use {string.Join(", ", Core.CmiEstimator.Variants)}.", nameof(variant));
        return new(Core.CmiModel.Load(directory, Core.Estimation.device(device)), v);
    }

    /// <summary>Saves the model (weights, standardisation of x, y and z, log-SNR densities) to a
    /// folder, written as a unit; a folder that holds other files is refused.</summary>
    public void Save(string directory) => _inner.Save(directory);

    /// <summary>Settings the model was trained with.</summary>
    public IReadOnlyDictionary<string, string> Settings => _inner.Settings;

    /// <summary>The headline variant of <see cref="Estimate"/>.</summary>
    public string Variant => _variant;

    /// <summary>Columns of x the model was trained on.</summary>
    public int DimX => _inner.Shape.DimX;

    /// <summary>Columns of y the model was trained on.</summary>
    public int DimY => _inner.Shape.DimY;

    /// <summary>Columns of z the model was trained on.</summary>
    public int DimZ => _inner.DimZ;

    /// <summary>All five variants of I(X;Y|Z) on (x, y, z), every row a test row; the same seed gives the same numbers.</summary>
    /// <exception cref="ArgumentException">Bad input, or other column counts than the model was trained on.</exception>
    public EstimateResult Estimate(double[,] x, double[,] y, double[,] z, int repeats = 10, int seed = 0, bool pointwise = false)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(z);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var e = _inner.Evaluate(x, y, z, repeats, seed, pointwise ? _variant : "", 64);
        return EstimateResult.FromEvaluation(e, Core.CmiEstimator.Variants, _variant, _inner.Settings, sw.Elapsed.TotalSeconds);
    }

    /// <summary>Pointwise CMI (nats) of each row of (x, y, z) (difference form of this variant's model),
    /// averaged over <paramref name="repeats"/> draws. Score only rows the model did not train on.</summary>
    public double[] Pointwise(double[,] x, double[,] y, double[,] z, int repeats = 10, int seed = 0) =>
        Estimate(x, y, z, repeats, seed, pointwise: true).Pointwise.ToArray();

    /// <inheritdoc />
    public void Dispose() => ((IDisposable)_inner).Dispose();
}
