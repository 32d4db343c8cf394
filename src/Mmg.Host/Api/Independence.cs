namespace Mmg;

/// <summary>The outcome of a test of independence, H0: I(X;Y) = 0.</summary>
/// <param name="Estimator">The estimator whose MI estimate is the statistic ("ksg" or "cca").</param>
/// <param name="Statistic">The MI estimate on the data as given, in nats.</param>
/// <param name="PValue">(1 + #{permuted statistics ≥ Statistic}) / (1 + Permutations); never 0.</param>
/// <param name="Permutations">Number of permutations of y's rows.</param>
/// <param name="Exceedances">How many permuted statistics reached the observed one.</param>
/// <param name="Null">The permuted statistics, in the order drawn.</param>
/// <param name="Seed">Seed of the permutations (and of KSG's tie-breaking jitter).</param>
/// <param name="Seconds">Wall-clock seconds of the whole test.</param>
/// <param name="Method">How the p-value was obtained, in words.</param>
public sealed record IndependenceTestResult(
    string Estimator,
    double Statistic,
    double PValue,
    int Permutations,
    int Exceedances,
    IReadOnlyList<double> Null,
    int Seed,
    double Seconds,
    string Method)
{
    /// <summary>True when the p-value is at most <paramref name="alpha"/> (reject independence).</summary>
    public bool Rejects(double alpha = 0.05) => PValue <= alpha;
}

/// <summary>
/// Permutation tests of independence with a cheap estimator's MI estimate as the statistic.
/// Permuting y's rows against x's keeps both marginals and destroys any dependence, so the
/// p-value is valid for any n and any number of permutations: with 99 or 999 permutations the
/// chance of p ≤ 0.05 under independence is exactly 5%.
/// </summary>
public static class IndependenceTest
{
    /// <summary>The estimators the permutation test supports: "ksg" and "cca".</summary>
    public static IReadOnlyList<string> Estimators { get; } = new[] { "ksg", "cca" };

    /// <summary>Default number of permutations (p-values in steps of 0.001).</summary>
    public static int DefaultPermutations => Core.Independence.DefaultPermutations;

    /// <summary>
    /// Tests H0: x and y are independent. x is [n, dim_x], y is [n, dim_y], rows are samples.
    /// <paramref name="settings"/> supplies the seed (permutations and KSG's jitter) and KSG's
    /// options in Extra ("k", "allow-discrete", "drop-duplicates").
    /// </summary>
    /// <exception cref="ArgumentException">Bad input (as for the estimate), an estimator other
    /// than "ksg" or "cca", or fewer than 1 permutation.</exception>
    public static IndependenceTestResult Run(string estimator, double[,] x, double[,] y, int permutations = 999, EstimatorSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        var r = Core.Independence.test(estimator, (settings ?? new EstimatorSettings()).ToCore(), permutations, x, y);
        return new IndependenceTestResult(r.Estimator, r.Statistic, r.PValue, r.Permutations, r.Exceedances,
            r.Null.ToArray(), r.Seed, r.Seconds, r.Method);
    }
}
