namespace Mmg;

/// <summary>The [n, d] arrays the estimators take, from jagged rows or from column arrays.</summary>
/// <example><code>
/// double[,] x = Matrix.FromRows(new[] { new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 } });   // 2 rows, 2 columns
/// double[,] y = Matrix.FromColumns(heights, weights);                                  // one column per array
/// </code></example>
public static class Matrix
{
    /// <summary>Rows <c>rows[i][j]</c> as an [n, d] array.</summary>
    /// <exception cref="ArgumentException">No rows, a null row, or a row whose length differs from row 0's (the message names the row).</exception>
    public static double[,] FromRows(double[][] rows, string name = "rows") => Build(name, rows, "row", "every row needs the same number of columns", byRow: true);

    /// <summary>Columns <c>columns[j][i]</c> as an [n, d] array (one array per column, all of length n).</summary>
    /// <exception cref="ArgumentException">No columns, a null column, or a column whose length differs from column 0's (the message names the column).</exception>
    public static double[,] FromColumns(params double[][] columns) => FromColumnsNamed("columns", columns);

    internal static double[,] FromColumnsNamed(string name, params double[][] columns) =>
        Build(name, columns, "column", "every column needs one value per row", byRow: false);

    /// <summary>Equal-length parts (rows or columns, as <paramref name="part"/> says) into one array;
    /// the checks and messages are shared.</summary>
    private static double[,] Build(string name, double[][] parts, string part, string rule, bool byRow)
    {
        ArgumentNullException.ThrowIfNull(parts, name);
        if (parts.Length == 0) throw new ArgumentException($"{name} has no {part}s.", name);
        if (parts[0] is null) throw new ArgumentException($"{name}: {part} 0 is null.", name);
        int len = parts[0].Length;
        var m = byRow ? new double[parts.Length, len] : new double[len, parts.Length];
        for (int k = 0; k < parts.Length; k++)
        {
            var p = parts[k] ?? throw new ArgumentException($"{name}: {part} {k} is null.", name);
            if (p.Length != len)
                throw new ArgumentException($"{name}: {part} {k} has {p.Length} values but {part} 0 has {len}; {rule}.", name);
            for (int i = 0; i < len; i++)
                if (byRow) m[k, i] = p[i]; else m[i, k] = p[i];
        }
        return m;
    }
}

/// <summary>Jagged-row (<c>double[][]</c>) and single-column (<c>double[]</c>) forms of every
/// estimator's <c>Estimate</c>; each converts with <see cref="Matrix"/> and calls the
/// <c>double[,]</c> form, so results are identical.</summary>
public static class EstimatorArrayExtensions
{
    /// <summary>I(X;Y) from jagged rows: <c>x[i]</c> and <c>y[i]</c> are row i.</summary>
    public static EstimateResult Estimate(this IMutualInformationEstimator estimator, double[][] x, double[][] y, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        return estimator.Estimate(Matrix.FromRows(x, nameof(x)), Matrix.FromRows(y, nameof(y)), progress, cancellationToken);
    }

    /// <summary>I(X;Y) of two one-dimensional variables, one value per row.</summary>
    public static EstimateResult Estimate(this IMutualInformationEstimator estimator, double[] x, double[] y, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        return estimator.Estimate(Matrix.FromColumnsNamed(nameof(x), x), Matrix.FromColumnsNamed(nameof(y), y), progress, cancellationToken);
    }

    /// <summary>I(X;Y|Z) from jagged rows: <c>x[i]</c>, <c>y[i]</c> and <c>z[i]</c> are row i.</summary>
    public static EstimateResult Estimate(this IConditionalMutualInformationEstimator estimator, double[][] x, double[][] y, double[][] z, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        return estimator.Estimate(Matrix.FromRows(x, nameof(x)), Matrix.FromRows(y, nameof(y)), Matrix.FromRows(z, nameof(z)), progress, cancellationToken);
    }

    /// <summary>I(X;Y|Z) of three one-dimensional variables, one value per row.</summary>
    public static EstimateResult Estimate(this IConditionalMutualInformationEstimator estimator, double[] x, double[] y, double[] z, IProgress<TrainingStatus>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(estimator);
        return estimator.Estimate(Matrix.FromColumnsNamed(nameof(x), x), Matrix.FromColumnsNamed(nameof(y), y), Matrix.FromColumnsNamed(nameof(z), z), progress, cancellationToken);
    }
}
