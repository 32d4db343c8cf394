using Xunit;

namespace Mmg.Tests;

/// <summary>The C# surface, used the way a C# consumer would.</summary>
[Collection("torch")]
public class ApiTests
{
    private static (double[,] X, double[,] Y) Bivariate(int n, int seed) => BenchmarkTasks.Find("1v1-normal-0.75").Sample(n, seed);

    [Fact]
    [Trait("Category", "Long")]
    public void MmgEstimatorReportsAllVariantsAndItsModelReloads()
    {
        var (x, y) = Bivariate(800, 1);
        using var est = new MmgEstimator(new MmgOptions { Variant = "mmg-orthogonal-adaptive", Profile = "quick", Steps = 150, Seed = 1, Pointwise = true, NormalScores = NormalScoresColumns.All, NormalScoresKnots = 32 });
        var progress = new List<TrainingStatus>();
        EstimateResult r = est.Estimate(x, y, new Recorder(progress));
        Assert.Equal("mmg-orthogonal-adaptive", r.Estimator);
        Assert.Equal(new[] { "mmg", "mmg-adaptive", "mmg-orthogonal", "mmg-orthogonal-adaptive", "mmg-debiased" }, r.Variants.Select(v => v.Name));
        Assert.True(double.IsFinite(r.Estimate) && r.StdError > 0);
        Assert.Equal("nats", r.Unit);
        Assert.NotNull(r.Curves);
        Assert.Equal(r.Curves!.LogSnr.Count, r.Curves.Gap.Count);
        Assert.Equal(800, r.Pointwise.Count); // every input row, cross-fitted over 5 folds
        Assert.Equal(r.Variants.Single(v => v.Name == "mmg-adaptive").Estimate, r.Pointwise.Average(), 9);
        Assert.NotNull(r.Interval);
        Assert.Equal("forms+cross-fit-5", r.Interval!.Method);
        Assert.True(r.Interval.Low <= r.Estimate && r.Estimate <= r.Interval.High);
        Assert.Equal("quick", r.Settings["profile"]);
        Assert.Equal("32", r.Settings["normal_scores"]); // and the saved model below carries the maps
        Assert.Contains(progress, p => p.Phase.Contains("adaptive") && p.Step == p.TotalSteps);

        var dir = Directory.CreateTempSubdirectory("mmg-api-").FullName;
        try
        {
            est.Model!.Save(dir);
            using var loaded = MmgModel.Load(dir, variant: "mmg-orthogonal-adaptive");
            var (x2, y2) = Bivariate(300, 2);
            var a = est.Model.Estimate(x2, y2, repeats: 2, seed: 3);
            var b = loaded.Estimate(x2, y2, repeats: 2, seed: 3);
            Assert.Equal(a.Estimate, b.Estimate);
            Assert.Equal(300, loaded.Pointwise(x2, y2, repeats: 1).Length);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void NormalScoresChoicesReachTheCoreAndMisplacedKnotsAreRefused()
    {
        // Φ(X) has a uniform marginal, Y a Gaussian one: Auto maps x only, None nothing, All both
        var (x, y) = Bivariate(600, 1);
        var ux = new double[600, 1];
        for (var i = 0; i < 600; i++) ux[i, 0] = 0.5 * (1 + System.Math.Tanh(0.8 * x[i, 0]));
        string Columns(NormalScoresColumns c)
        {
            using var est = new MmgEstimator(new MmgOptions { Profile = "quick", Steps = 40, Seed = 1, NormalScores = c });
            return est.Estimate(ux, y).Settings["normal_scores_columns"];
        }
        Assert.Equal("x: 1; y: none", Columns(NormalScoresColumns.Auto));
        Assert.Equal("x: none; y: none", Columns(NormalScoresColumns.None));
        Assert.Equal("x: 1; y: 1", Columns(NormalScoresColumns.All));
        var e = Assert.Throws<ArgumentException>(() => new MmgEstimator(new MmgOptions { NormalScores = NormalScoresColumns.Auto, NormalScoresKnots = 64 }));
        Assert.Contains("NormalScores = All only", e.Message);
        Assert.Throws<ArgumentException>(() => new MmgCmiEstimator(new MmgCmiOptions { NormalScoresKnots = 64 }));
        Assert.Throws<ArgumentException>(() => new MmgEstimator(new MmgOptions { NormalScores = NormalScoresColumns.All, NormalScoresKnots = 1 }));
    }

    [Fact]
    public void FitHandsTheModelToTheCallerAndALaterCallLeavesItAlive()
    {
        var (x, y) = Bivariate(600, 1);
        using var est = new MmgEstimator(new MmgOptions { Profile = "quick", Steps = 60, Seed = 1 });
        var (r1, m1) = est.Fit(x, y);
        using (m1)
        {
            Assert.Null(est.Model); // Fit does not keep the model
            var (x2, y2) = Bivariate(300, 2);
            var before = m1.Estimate(x2, y2, repeats: 2, seed: 3).Estimate;
            // a second Fit and an Estimate on the same estimator do not dispose the caller's model
            var (_, m2) = est.Fit(x, y);
            m2.Dispose();
            est.Estimate(x, y);
            Assert.NotNull(est.Model);
            Assert.Equal(before, m1.Estimate(x2, y2, repeats: 2, seed: 3).Estimate);
            Assert.NotSame(m1, est.Model);
            Assert.True(double.IsFinite(r1.Estimate));
        }
        // the conditional estimator the same way
        var task = ConditionalBenchmarkTask.Find("cmi-collider-1-1-1-0.5");
        var (cx, cy, cz) = task.Sample(600, 1);
        using var cmi = new MmgCmiEstimator(new MmgCmiOptions { Profile = "quick", Steps = 60, Seed = 1 });
        var (cr, cm) = cmi.Fit(cx, cy, cz);
        using (cm)
        {
            Assert.Null(cmi.Model);
            cmi.Estimate(cx, cy, cz);
            Assert.True(double.IsFinite(cm.Estimate(cx, cy, cz, repeats: 1, seed: 0).Estimate));
            Assert.True(double.IsFinite(cr.Estimate));
        }
    }

    [Fact]
    public void ACancelledTokenStopsTrainingWithOperationCanceledException()
    {
        var (x, y) = Bivariate(600, 1);
        // cancelled from the first progress report: the call throws instead of training 10 000 steps
        using var cts = new CancellationTokenSource();
        var reports = 0;
        var progress = new Recorder(new List<TrainingStatus>(), () => { reports++; cts.Cancel(); });
        using var est = new MmgEstimator(new MmgOptions { Seed = 1 });
        Assert.ThrowsAny<OperationCanceledException>(() => est.Estimate(x, y, progress, cts.Token));
        Assert.Equal(1, reports);
        Assert.Null(est.Model);
        // the named estimators take the token too (a critic here), and an already cancelled token stops them at once
        var mine = Estimators.Create("mine", new EstimatorSettings { Profile = "quick" });
        Assert.ThrowsAny<OperationCanceledException>(() => mine.Estimate(x, y, null, new CancellationToken(canceled: true)));
        var cmi = ConditionalEstimators.Create("mmg-cmi");
        var (cx, cy, cz) = ConditionalBenchmarkTask.Find("cmi-chain-1-1-1").Sample(600, 1);
        Assert.ThrowsAny<OperationCanceledException>(() => cmi.Estimate(cx, cy, cz, null, new CancellationToken(canceled: true)));
        // without a token nothing changes: a short run completes
        Assert.True(double.IsFinite(new MmgEstimator(new MmgOptions { Profile = "quick", Steps = 30, Seed = 1 }).Estimate(x, y).Estimate));
    }

    [Fact]
    public void EveryRegisteredEstimatorIsCreatableByName()
    {
        foreach (var name in Estimators.Names)
            Assert.Equal(name, Estimators.Create(name).Name);
        var e = Assert.Throws<ArgumentException>(() => Estimators.Create("nope"));
        Assert.Contains("nope", e.Message);
    }

    [Fact]
    public void ClassicalEstimatorsFromCSharp()
    {
        var (x, y) = Bivariate(3000, 4);
        var truth = BenchmarkTasks.Find("1v1-normal-0.75").TrueMutualInformation;
        // CCA is exact for Gaussian data up to sampling error (sd ≈ 0.012 at n = 3000): 0.05 is > 4 sd.
        Assert.InRange(Estimators.Create("cca").Estimate(x, y).Estimate, truth - 0.05, truth + 0.05);
        var ksg = Estimators.Create("ksg", new EstimatorSettings { Extra = new Dictionary<string, string> { ["k"] = "7" } }).Estimate(x, y);
        Assert.Equal("7", ksg.Settings["k"]);
        Assert.InRange(ksg.Estimate, truth - 0.06, truth + 0.06);
    }

    [Fact]
    public void JaggedRowsAndColumnArraysGiveTheSameEstimateAsTheMatrix()
    {
        var (x, y) = Bivariate(1500, 6);
        double[][] Rows(double[,] m) => Enumerable.Range(0, m.GetLength(0)).Select(i => Enumerable.Range(0, m.GetLength(1)).Select(j => m[i, j]).ToArray()).ToArray();
        double[] Column(double[,] m) => Enumerable.Range(0, m.GetLength(0)).Select(i => m[i, 0]).ToArray();
        var ksg = Estimators.Create("ksg");
        var matrix = ksg.Estimate(x, y).Estimate;
        Assert.Equal(matrix, ksg.Estimate(Rows(x), Rows(y)).Estimate);
        Assert.Equal(matrix, ksg.Estimate(Column(x), Column(y)).Estimate);
        Assert.Equal(x, Matrix.FromColumns(Column(x)));

        // conditional: z a column of noise; ksg-cmi on all three forms agrees exactly
        var z = Matrix.FromColumns(Enumerable.Range(0, 1500).Select(i => Math.Sin(i * 0.37)).ToArray());
        var cmi = ConditionalEstimators.Create("ksg-cmi");
        var cm = cmi.Estimate(x, y, z).Estimate;
        Assert.Equal(cm, cmi.Estimate(Rows(x), Rows(y), Rows(z)).Estimate);
        Assert.Equal(cm, cmi.Estimate(Column(x), Column(y), Column(z)).Estimate);
    }

    [Fact]
    public void ARaggedRowOrColumnIsRefusedByPosition()
    {
        var rows = new[] { new[] { 1.0, 2.0 }, new[] { 3.0, 4.0 }, new[] { 5.0 } };
        var e = Assert.Throws<ArgumentException>(() => Estimators.Create("ksg").Estimate(rows, rows));
        Assert.Contains("x: row 2 has 1 values but row 0 has 2", e.Message);
        var n = Assert.Throws<ArgumentException>(() => Matrix.FromRows(new[] { new[] { 1.0 }, null! }));
        Assert.Contains("row 1 is null", n.Message);
        var c = Assert.Throws<ArgumentException>(() => Estimators.Create("ksg").Estimate(new[] { 1.0, 2.0, 3.0 }, new[] { 1.0, 2.0 }));
        Assert.Contains("x has 3 rows but y has 2", c.Message);
        Assert.Throws<ArgumentException>(() => Matrix.FromRows([]));
    }

    private sealed class Recorder(List<TrainingStatus> list, Action? onReport = null) : IProgress<TrainingStatus>
    {
        public void Report(TrainingStatus value)
        {
            list.Add(value);
            onReport?.Invoke();
        }
    }
}
