using Xunit;

namespace Mmg.Tests;

/// <summary>The independence test from C#, used the way a C# consumer would.</summary>
[Collection("torch")]
public class IndependenceApiTests
{
    private static (double[,] X, double[,] Y) Bivariate(int n, int seed) => BenchmarkTasks.Find("1v1-normal-0.75").Sample(n, seed);

    /// <summary>n rows of x (2 columns) and y (1 column), independent, N(0, 1) entries.</summary>
    private static (double[,] X, double[,] Y) Independent(int n, int seed)
    {
        var rng = new Random(seed);
        double G() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        var x = new double[n, 2];
        var y = new double[n, 1];
        for (var i = 0; i < n; i++) { x[i, 0] = G(); x[i, 1] = G(); y[i, 0] = G(); }
        return (x, y);
    }

    [Theory]
    [InlineData("ksg")]
    [InlineData("cca")]
    public void DependentDataGetTheSmallestPossiblePValueAndTheStatisticIsTheEstimate(string name)
    {
        // rho = 0.75 at n = 400: MI 0.41 nats against a null spread of about 0.01; no permutation
        // comes near, so p = 1 / (1 + 99).
        var (x, y) = Bivariate(400, 1);
        var r = IndependenceTest.Run(name, x, y, permutations: 99, new EstimatorSettings { Seed = 3 });
        Assert.Equal(name, r.Estimator);
        Assert.Equal(0, r.Exceedances);
        Assert.Equal(0.01, r.PValue, 12);
        Assert.True(r.Rejects(0.05));
        Assert.Equal(99, r.Null.Count);
        Assert.Equal(3, r.Seed);
        var estimate = Estimators.Create(name, new EstimatorSettings { Seed = 3 }).Estimate(x, y).Estimate;
        Assert.Equal(estimate, r.Statistic, 10);
        Assert.Contains("permutation", r.Method);
    }

    [Fact]
    public void IndependentDataGiveAPValueConsistentWithItsNullAndTheSeedRepeatsIt()
    {
        var (x, y) = Independent(300, 5);
        var a = IndependenceTest.Run("ksg", x, y, permutations: 49, new EstimatorSettings { Seed = 1 });
        var b = IndependenceTest.Run("ksg", x, y, permutations: 49, new EstimatorSettings { Seed = 1 });
        Assert.Equal(a.PValue, b.PValue);
        Assert.Equal(a.Null, b.Null);
        var exceed = a.Null.Count(v => v >= a.Statistic);
        Assert.Equal(exceed, a.Exceedances);
        Assert.Equal((1.0 + exceed) / 50.0, a.PValue, 12);
        // a fixed, seeded draw of independent data: its p-value is above the 0.05 level
        Assert.True(a.PValue > 0.05, $"p = {a.PValue}");
    }

    [Fact]
    public void BadRequestsThrowArgumentExceptionNamingTheProblem()
    {
        var (x, y) = Bivariate(100, 2);
        var ex = Assert.Throws<ArgumentException>(() => IndependenceTest.Run("mine", x, y));
        Assert.Contains("'ksg' and 'cca'", ex.Message);
        Assert.Contains("permutation", Assert.Throws<ArgumentException>(() => IndependenceTest.Run("cca", x, y, permutations: 0)).Message);
        Assert.Equal(new[] { "ksg", "cca" }, IndependenceTest.Estimators);
    }
}
