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
    public static double[,] FromRows(double[][] rows, string name = "rows")
    {
        ArgumentNullException.ThrowIfNull(rows, name);
        if (rows.Length == 0) throw new ArgumentException($"{name} has no rows.", name);
        if (rows[0] is null) throw new ArgumentException($"{name}: row 0 is null.", name);
        int d = rows[0].Length;
        var m = new double[rows.Length, d];
        for (int i = 0; i < rows.Length; i++)
        {
            var row = rows[i] ?? throw new ArgumentException($"{name}: row {i} is null.", name);
            if (row.Length != d)
                throw new ArgumentException($"{name}: row {i} has {row.Length} values but row 0 has {d}; every row needs the same number of columns.", name);
            for (int j = 0; j < d; j++) m[i, j] = row[j];
        }
        return m;
    }

    /// <summary>Columns <c>columns[j][i]</c> as an [n, d] array (one array per column, all of length n).</summary>
    /// <exception cref="ArgumentException">No columns, a null column, or a column whose length differs from column 0's (the message names the column).</exception>
    public static double[,] FromColumns(params double[][] columns) => FromColumnsNamed("columns", columns);

    internal static double[,] FromColumnsNamed(string name, params double[][] columns)
    {
        ArgumentNullException.ThrowIfNull(columns, name);
        if (columns.Length == 0) throw new ArgumentException($"{name} has no columns.", name);
        if (columns[0] is null) throw new ArgumentException($"{name}: column 0 is null.", name);
        int n = columns[0].Length;
        var m = new double[n, columns.Length];
        for (int j = 0; j < columns.Length; j++)
        {
            var col = columns[j] ?? throw new ArgumentException($"{name}: column {j} is null.", name);
            if (col.Length != n)
                throw new ArgumentException($"{name}: column {j} has {col.Length} values but column 0 has {n}; every column needs one value per row.", name);
            for (int i = 0; i < n; i++) m[i, j] = col[i];
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
