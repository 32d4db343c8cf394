namespace Mmg;

/// <summary>Training progress of a neural estimator.</summary>
/// <param name="Phase">What is being trained, e.g. "denoiser (fixed q)".</param>
/// <param name="Step">Steps done in this phase.</param>
/// <param name="TotalSteps">Steps in this phase.</param>
/// <param name="Loss">Smoothed training loss.</param>
/// <param name="ItersPerSecond">Training speed so far.</param>
public sealed record TrainingStatus(string Phase, int Step, int TotalSteps, double Loss, double ItersPerSecond);

/// <summary>One estimate with its standard error, e.g. one MMG variant.</summary>
public sealed record VariantEstimate(string Name, double Estimate, double StdError);

/// <summary>ε-space MMSE curves on a log-SNR grid; MI = ½ ∫ Gap d(log-SNR).</summary>
public sealed record MmseCurves(
    IReadOnlyList<double> LogSnr,
    IReadOnlyList<double> Unconditional,
    IReadOnlyList<double> Conditional,
    IReadOnlyList<double> Gap,
    IReadOnlyList<double> OrthogonalGap);

/// <summary>An interval for an estimate, in nats.</summary>
/// <param name="Low">Lower end.</param>
/// <param name="High">Upper end.</param>
/// <param name="Level">Nominal coverage, e.g. 0.95.</param>
/// <param name="Method">What it accounts for. MMG and MMG-CMI: "forms+monte-carlo" (the model
/// error its difference and orthogonal forms reveal, plus the evaluation's Monte Carlo error) or
/// "forms+cross-fit-K" (the same forms bracket, plus training, data and Monte Carlo variability
/// over K folds); other estimators name their own (e.g. "monte-carlo").</param>
public sealed record EstimateInterval(double Low, double High, double Level, string Method);

/// <summary>The result of an estimate, in nats.</summary>
public sealed record EstimateResult
{
    /// <summary>Estimator name, e.g. "mmg-debiased".</summary>
    public required string Estimator { get; init; }

    /// <summary>The MI estimate in nats.</summary>
    public required double Estimate { get; init; }

    /// <summary>Its standard error (NaN where the estimator has none).</summary>
    public required double StdError { get; init; }

    /// <summary>Wall-clock seconds of the whole estimate, training included.</summary>
    public required double Seconds { get; init; }

    /// <summary>Every variant computed in the same run (MMG: all four).</summary>
    public required IReadOnlyList<VariantEstimate> Variants { get; init; }

    /// <summary>MMSE curves (MMG estimators), else null.</summary>
    public MmseCurves? Curves { get; init; }

    /// <summary>Pointwise MI when requested (MMG estimators): one value per input row, in input
    /// order, each from a model that did not train on that row (cross-fitting); else empty.</summary>
    public required IReadOnlyList<double> Pointwise { get; init; }

    /// <summary>An interval for the estimate (MMG estimators), else null; see
    /// <see cref="EstimateInterval.Method"/> for what it accounts for.</summary>
    public EstimateInterval? Interval { get; init; }

    /// <summary>p-value of the permutation test of independence, H0: I(X;Y) = 0, when requested
    /// (MMG: <c>MmgOptions.Permutations</c>), else NaN.</summary>
    public double IndependencePValue { get; init; } = double.NaN;

    /// <summary>Every setting used, as text.</summary>
    public required IReadOnlyDictionary<string, string> Settings { get; init; }

    /// <summary>Always "nats".</summary>
    public string Unit => "nats";

    internal static EstimateResult From(Core.EstimatorResult r) => new()
    {
        Estimator = r.Estimator,
        Estimate = r.Estimate,
        StdError = r.StdError,
        Seconds = r.Seconds,
        Variants = r.Variants.Select(v => new VariantEstimate(v.Name, v.Estimate, v.StdError)).ToArray(),
        Curves = r.Curves is { } c ? FromCurves(c.Value) : null,
        Pointwise = r.Pointwise,
        Interval = r.Interval is { } i ? new EstimateInterval(i.Value.Low, i.Value.High, i.Value.Level, i.Value.Method) : null,
        IndependencePValue = r.IndependencePValue,
        Settings = new Dictionary<string, string>(r.Settings),
    };

    /// <summary>A saved or trained MMG / MMG-CMI model's evaluation (every row a test row):
    /// <paramref name="names"/> are the five variants in Core.MmgEvaluation's order, the headline is
    /// <paramref name="variant"/>, the interval its model's forms bracket plus the Monte Carlo error.</summary>
    internal static EstimateResult FromEvaluation(Core.MmgEvaluation e, IReadOnlyList<string> names, string variant, IReadOnlyDictionary<string, string> settings, double seconds)
    {
        var parts = new[] { e.Mmg, e.MmgAdaptive, e.MmgOrthogonal, e.MmgOrthogonalAdaptive, e.MmgDebiased };
        var variants = parts.Select((p, i) => new VariantEstimate(names[i], p.Mean, p.StdError)).ToArray();
        var headIndex = Array.FindIndex(variants, v => v.Name == variant);
        var head = variants[headIndex];
        var interval = Core.ModelEvaluation.interval(
            variants.Select(v => new Core.NamedEstimate(v.Name, v.Estimate, v.StdError)).ToArray(), headIndex, 1.96 * head.StdError, "monte-carlo");
        return new EstimateResult
        {
            Estimator = variant,
            Estimate = head.Estimate,
            StdError = head.StdError,
            Seconds = seconds,
            Variants = variants,
            Curves = FromCurves(e.Curves),
            Pointwise = e.Pointwise,
            Interval = new EstimateInterval(interval.Low, interval.High, interval.Level, interval.Method),
            Settings = new Dictionary<string, string>(settings)
            {
                ["debiased_scale"] = e.DebiasedScale.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture),
            },
        };
    }

    internal static MmseCurves FromCurves(Core.MmseCurves c) =>
        new(c.LogSnr, c.Unconditional, c.Conditional, c.Gap, c.OrthogonalGap);
}

/// <summary>Options every estimator understands. Null means "the estimator's default".</summary>
public class EstimatorSettings
{
    /// <summary>Random seed; runs with the same seed repeat exactly.</summary>
    public int Seed { get; init; }

    /// <summary>"cpu" or "cuda".</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>"default", "paper" or "quick".</summary>
    public string Profile { get; init; } = "default";

    /// <summary>Training steps.</summary>
    public int? Steps { get; init; }

    /// <summary>Training batch size.</summary>
    public int? BatchSize { get; init; }

    /// <summary>Learning rate.</summary>
    public double? LearningRate { get; init; }

    /// <summary>Fraction of rows held out for the estimate.</summary>
    public double? TestFraction { get; init; }

    /// <summary>Estimator-specific options by name (e.g. "k" for ksg, "width" for MMG).</summary>
    public IDictionary<string, string> Extra { get; init; } = new Dictionary<string, string>();

    /// <summary>The core options, with typed settings written into Extra under their option names
    /// (those that are set).</summary>
    internal Core.EstimatorOptions ToCore(params (string Key, int? Value)[] typed) => ToCore([], typed);

    /// <summary>The same, with settings given as text too (those that are set).</summary>
    internal Core.EstimatorOptions ToCore((string Key, string? Value)[] texts, params (string Key, int? Value)[] typed)
    {
        var extra = new Dictionary<string, string>(Extra);
        foreach (var (key, value) in typed)
            if (value is { } v) extra[key] = v.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach (var (key, value) in texts)
            if (value is { } v) extra[key] = v;
        return new(Seed, Device, Profile, Steps ?? 0, BatchSize ?? 0, LearningRate ?? double.NaN, TestFraction ?? 0.0, extra);
    }

    /// <summary>The option text of a normal-scores choice (null: the estimator's default).</summary>
    internal static string? NormalScoresText(NormalScoresColumns columns, int? knots) => columns switch
    {
        NormalScoresColumns.Default => knots is null ? null : throw new ArgumentException("NormalScoresKnots applies to NormalScores = All; set NormalScores = NormalScoresColumns.All too.", nameof(knots)),
        NormalScoresColumns.None => "off",
        NormalScoresColumns.Auto => knots is null ? "auto" : throw new ArgumentException("NormalScoresKnots applies to NormalScores = All only (Auto uses 128 knots).", nameof(knots)),
        NormalScoresColumns.All => (knots ?? 128).ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => throw new ArgumentOutOfRangeException(nameof(columns), columns, "unknown NormalScoresColumns value."),
    };
}

/// <summary>Which columns of x, y (and z) an MMG estimator sends through normal-scores maps fit on
/// the training rows before the standardisation: a monotone map of each column to Gaussian
/// marginals, which leaves the MI (and CMI) unchanged (docs/accuracy.md).</summary>
public enum NormalScoresColumns
{
    /// <summary>The estimator's default (MMG: <see cref="Auto"/>; see docs/accuracy.md).</summary>
    Default,
    /// <summary>No maps: the columns are standardised as they are.</summary>
    None,
    /// <summary>Only columns whose plain standardisation misrepresents the bulk: light or bounded
    /// tails, a scale set by a few extreme rows, or a skewed bulk (128 knots).</summary>
    Auto,
    /// <summary>Every column (<c>NormalScoresKnots</c> knots, default 128).</summary>
    All,
}

/// <summary>An MI estimator: x is [n, dim_x], y is [n, dim_y], rows are samples.</summary>
public interface IMutualInformationEstimator
{
    /// <summary>The estimator's name.</summary>
    string Name { get; }

    /// <summary>Estimates I(X;Y) in nats.</summary>
    /// <exception cref="ArgumentException">Bad input (NaN, unequal rows, constant column, too few rows).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (checked at every progress report of the training, about 200 per phase).</exception>
    EstimateResult Estimate(double[,] x, double[,] y, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default);
}
