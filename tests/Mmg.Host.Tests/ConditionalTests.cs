using System.Text.Json;
using Xunit;

namespace Mmg.Tests;

/// <summary>Conditional MI from C# and the CLI (issue 14): Z columns, JSON naming them, clear errors, the bench on CMI tasks.</summary>
[Collection("torch")]
public class ConditionalTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmg-cmi-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Cli.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void CSharpConditionalEstimatorsCoverTheCollider()
    {
        var task = ConditionalBenchmarkTask.Find("cmi-collider-1-1-1-0.5");
        var (x, y, z) = task.Sample(2000, 1);
        // Gaussian plug-in at n = 2000: standard error ≈ 0.02; KSG-CMI (k = 5): bias ≲ 0.03. Tolerance 0.08.
        foreach (var name in new[] { "ksg-cmi", "gaussian-cmi" })
        {
            var r = ConditionalEstimators.Create(name).Estimate(x, y, z);
            Assert.True(Math.Abs(r.Estimate - task.TrueConditionalMutualInformation) < 0.08, $"{name}: {r.Estimate}");
        }
        var e = Assert.Throws<ArgumentException>(() => ConditionalEstimators.Create("ksg"));
        Assert.Contains("cannot condition on Z", e.Message);
    }

    [Fact]
    public void EstimateWithTestPrintsTheConditionalIndependencePValue()
    {
        // collider (CMI 0.51), 1000 rows: the local-permutation test's p is the smallest possible with
        // B = 19 (1/20), and JSON carries it
        var csv = Path.Combine(_dir, "ci.csv");
        Assert.Equal(0, Run("sample", "--task", "cmi-collider-1-1-1-0.5", "--samples", "1000", "--seed", "1", "--out", csv).Code);
        var json = Path.Combine(_dir, "ci.json");
        var (code, output, err) = Run("estimate", "--input", csv, "--estimator", "mmg-cmi", "--profile", "quick", "--steps", "600", "--seed", "1", "--test", "19", "--json", json);
        Assert.True(code == 0, err);
        Assert.Contains("conditional-independence test: p = 0.05", output);
        var doc = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        Assert.Equal(0.05, doc.GetProperty("independence_p_value").GetDouble(), 10);
    }

    [Fact]
    public void TheCrossFitHintIsGivenOnlyWhereCrossFittingIsOffered()
    {
        // --folds is refused for CMI, so the CMI interval line must not suggest it
        Assert.Contains("--folds 5", Mmg.Commands.Report.IntervalText("monte-carlo", conditional: false));
        Assert.DoesNotContain("--folds", Mmg.Commands.Report.IntervalText("monte-carlo", conditional: true));
        Assert.StartsWith("5-fold cross-fit", Mmg.Commands.Report.IntervalText("cross-fit-5", conditional: true));
        Assert.Contains("two forms", Mmg.Commands.Report.IntervalText("forms+cross-fit-5", conditional: false));
        Assert.Contains("5-fold cross-fit", Mmg.Commands.Report.IntervalText("forms+cross-fit-5", conditional: false));
        Assert.Contains("two forms", Mmg.Commands.Report.IntervalText("forms+monte-carlo", conditional: true));
        Assert.Contains("--folds 5", Mmg.Commands.Report.IntervalText("forms+monte-carlo", conditional: false));
        Assert.DoesNotContain("--folds", Mmg.Commands.Report.IntervalText("forms+monte-carlo", conditional: true));
        var csv = Path.Combine(_dir, "hint.csv");
        Assert.Equal(0, Run("sample", "--task", "cmi-collider-1-1-1-0.5", "--samples", "800", "--seed", "2", "--out", csv).Code);
        var (code, output, err) = Run("estimate", "--input", csv, "--estimator", "mmg-cmi", "--profile", "quick", "--steps", "60");
        Assert.True(code == 0, err);
        Assert.Contains("interval", output);
        Assert.DoesNotContain("--folds", output);
    }

    [Fact]
    public void EstimateUsesZColumnsByDefaultAndNamesThemInJson()
    {
        var csv = Path.Combine(_dir, "c.csv");
        Assert.Equal(0, Run("sample", "--task", "cmi-collider-1-1-1-0.5", "--samples", "1500", "--seed", "2", "--out", csv).Code);
        Assert.Equal("X0,Y0,Z0", File.ReadLines(csv).First());
        var json = Path.Combine(_dir, "r.json");
        var (code, _, err) = Run("estimate", "--input", csv, "--estimator", "gaussian-cmi", "--json", json);
        Assert.True(code == 0, err);
        var doc = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        Assert.Equal("I(X;Y|Z)", doc.GetProperty("quantity").GetString());
        Assert.Equal("Z0", doc.GetProperty("z_columns")[0].GetString());
        Assert.True(doc.GetProperty("estimate").GetDouble() > 0.4, doc.GetProperty("estimate").ToString());
        // an MI-only estimator with Z present is refused with one line; --z none runs it on (X, Y)
        var refused = Run("estimate", "--input", csv, "--estimator", "cca");
        Assert.NotEqual(0, refused.Code);
        Assert.Contains("cannot condition on Z", refused.Err);
        Assert.Equal(0, Run("estimate", "--input", csv, "--estimator", "cca", "--z", "none").Code);
        // explicit columns: condition on nothing but name them
        var (code2, out2, err2) = Run("estimate", "--input", csv, "--x", "X0", "--y", "Y0", "--z", "Z0", "--estimator", "ksg-cmi", "--json", "-");
        Assert.True(code2 == 0, err2);
        Assert.Equal(1, JsonDocument.Parse(out2).RootElement.GetProperty("dim_z").GetInt32());
    }

    [Fact]
    public void BenchRunsCmiTasksWithTheirConditionalTruth()
    {
        var outDir = Path.Combine(_dir, "b");
        var (code, _, err) = Run("bench", "--tasks", "cmi-chain-1-1-1,cmi-collider-1-1-1-0.5", "--estimators", "gaussian-cmi,ksg-cmi", "--samples", "600", "--out", outDir);
        Assert.True(code == 0, err);
        var rows = File.ReadAllLines(Path.Combine(outDir, "results.csv")).Skip(1).ToArray();
        Assert.Equal(4, rows.Length);
        Assert.All(rows, r => Assert.Contains(",ok,", r));
        Assert.Contains(rows, r => r.StartsWith("cmi-collider-1-1-1-0.5,gaussian-cmi,1,") && r.Contains(",0.5108"));
        Assert.NotEqual(0, Run("bench", "--tasks", "cmi-chain-1-1-1,1v1-normal-0.75", "--out", outDir).Code);
        Assert.NotEqual(0, Run("bench", "--tasks", "cmi-chain-1-1-1", "--estimators", "ksg", "--out", outDir).Code);
    }
    [Fact]
    public void ZColumnsGetTheCsvReadersChecksAndCmiRefusesMmgOnlyOptionsInOneLine()
    {
        // a bad Z cell is named by row, line and column, as for X and Y (the edges CSV reader)
        var csv = Path.Combine(_dir, "bad.csv");
        File.WriteAllText(csv, "X0,Y0,Z0\n1,2,3\n2,1,oops\n3,3,1\n");
        var (code, _, err) = Run("estimate", "--input", csv, "--estimator", "gaussian-cmi");
        Assert.NotEqual(0, code);
        Assert.Contains("row 2 (line 3), column Z0: 'oops' is not a number", err);
        Assert.Single(err.Trim().Split('\n'));
        // lower-case z0 is not a default Z column (case-exact, like X<digits> and Y<digits>)
        var lower = Path.Combine(_dir, "lower.csv");
        File.WriteAllText(lower, "X0,Y0,z0\n1,2,3\n2,1,1\n3,3,1\n");
        var (s, z, names) = Mmg.Experiments.DataFiles.readCsvConditional(lower, null, null, null).ToValueTuple();
        Assert.Equal(0, z.GetLength(1));
        Assert.Empty(names);
        Assert.Equal(3, s.X.GetLength(0));
        // an unknown --z column, and --z without --input
        Assert.Contains("unknown column 'Z9' for z", Run("estimate", "--input", csv, "--z", "Z9", "--estimator", "ksg-cmi").Err);
        Assert.Contains("need --input", Run("estimate", "--task", "cmi-chain-1-1-1", "--z", "Z0").Err);
        // MMG-only options and classical-estimator options are refused before any work
        var good = Path.Combine(_dir, "good.csv");
        Assert.Equal(0, Run("sample", "--task", "cmi-chain-1-1-1", "--samples", "300", "--out", good).Code);
        var folds = Run("estimate", "--input", good, "--folds", "3");
        Assert.NotEqual(0, folds.Code);
        Assert.Contains("--folds is not available for conditional MI", folds.Err);
        // --test is the MMG-CMI local-permutation test; other CMI estimators are pointed to citest
        var ksgTest = Run("estimate", "--input", good, "--estimator", "ksg-cmi", "--test", "9");
        Assert.NotEqual(0, ksgTest.Code);
        Assert.Contains("mmg citest", ksgTest.Err);
        Assert.Contains("--steps does not apply to ksg-cmi", Run("estimate", "--input", good, "--estimator", "ksg-cmi", "--steps", "10").Err);
        Assert.Contains("is a directory", Run("estimate", "--input", good, "--estimator", "ksg-cmi", "--json", _dir).Err);
        // citest: bad --alpha and calibration-only options with --input, one line each
        Assert.Contains("--alpha must lie in (0, 1)", Run("citest", "--input", good, "--alpha", "2").Err);
        Assert.Contains("--runs applies to the calibration", Run("citest", "--input", good, "--runs", "3").Err);
        Assert.Contains("--permutations must be at least 1", Run("citest", "--input", good, "--permutations", "0").Err);
    }
    [Fact]
    public void MmgCmiModelsSaveAndLoadOnTheCommandLineWithEveryRowATestRow()
    {
        var train = Path.Combine(_dir, "train.csv");
        var fresh = Path.Combine(_dir, "new.csv");
        Assert.Equal(0, Run("sample", "--task", "cmi-collider-1-1-1-0.5", "--samples", "500", "--seed", "1", "--out", train).Code);
        Assert.Equal(0, Run("sample", "--task", "cmi-collider-1-1-1-0.5", "--samples", "300", "--seed", "2", "--out", fresh).Code);
        var model = Path.Combine(_dir, "model");
        var (code, _, err) = Run("estimate", "--input", train, "--estimator", "mmg-cmi", "--profile", "quick", "--steps", "60",
            "--threads", "1", "--seed", "1", "--save-model", model);
        Assert.True(code == 0, err);
        Assert.Equal(Core.ModelFiles.CmiKind, Core.ModelFiles.kindOf(model));

        // loaded: the folder says it is conditional (no --estimator or --z needed); no training, all 300 rows scored
        var (code2, out2, err2) = Run("estimate", "--input", fresh, "--load-model", model, "--seed", "4", "--json", "-");
        Assert.True(code2 == 0, err2);
        var doc = JsonDocument.Parse(out2).RootElement;
        Assert.Equal("I(X;Y|Z)", doc.GetProperty("quantity").GetString());
        Assert.Equal(Core.CmiRegistry.defaultName, doc.GetProperty("estimator").GetString());
        Assert.Equal(300, doc.GetProperty("rows").GetInt32());
        // the same seeded numbers as the C# model loaded from the folder
        var (s, z, _) = Experiments.DataFiles.readCsvConditional(fresh, null, null, null).ToValueTuple();
        using (var m = MmgCmiModel.Load(model))
        {
            var r = m.Estimate(s.X, s.Y, z, seed: 4);
            Assert.Equal(r.Estimate, doc.GetProperty("estimate").GetDouble());
            Assert.Equal(r.Variants.Select(v => v.Name), doc.GetProperty("variants").EnumerateObject().Select(p => p.Name));
            Assert.Equal((1, 1, 1), (m.DimX, m.DimY, m.DimZ));
        }
        var pw = Path.Combine(_dir, "pcmi.csv");
        var (code3, _, err3) = Run("estimate", "--input", fresh, "--estimator", "mmg-cmi", "--load-model", model, "--pointwise", pw);
        Assert.True(code3 == 0, err3);
        Assert.Equal(301, File.ReadAllLines(pw).Length);

        // training-only options do not apply to a loaded model; estimators that train nothing have no model
        foreach (var (opt, value) in new[] { ("--steps", "10"), ("--profile", "quick"), ("--set", "width=8"), ("--save-model", Path.Combine(_dir, "again")) })
            BadInputTests.FailsIn(_dir, ["estimate", "--input", fresh, "--load-model", model, opt, value], $"{opt} does not apply with --load-model");
        BadInputTests.FailsIn(_dir, ["estimate", "--input", train, "--estimator", "ksg-cmi", "--save-model", Path.Combine(_dir, "k")], "--save-model needs an MMG-CMI estimator");
        BadInputTests.FailsIn(_dir, ["estimate", "--input", fresh, "--estimator", "gaussian-cmi", "--load-model", model], "--load-model needs an MMG-CMI estimator");

        // an MI model's folder is refused for conditional MI, and a conditional one for MI, naming what each holds
        var mi = Path.Combine(_dir, "mi");
        var (code4, _, err4) = Run("estimate", "--task", "1v1-normal-0.75", "--samples", "300", "--profile", "quick", "--steps", "20", "--threads", "1", "--save-model", mi);
        Assert.True(code4 == 0, err4);
        BadInputTests.FailsIn(_dir, ["estimate", "--input", fresh, "--load-model", mi], "holds an MI model of I(X;Y)", "not a conditional-MI model");
        BadInputTests.FailsIn(_dir, ["estimate", "--input", fresh, "--z", "none", "--load-model", model], "holds a conditional-MI model of I(X;Y|Z)", "not an MI model");
        BadInputTests.FailsIn(_dir, ["estimate", "--task", "1v1-normal-0.75", "--samples", "300", "--estimator", "mmg", "--load-model", model], "holds a conditional-MI model");
        var (code5, _, err5) = Run("estimate", "--task", "1v1-normal-0.75", "--samples", "300", "--load-model", mi);
        Assert.True(code5 == 0, err5);
    }

    [Fact]
    public void CSharpMmgCmiModelSavesAndLoadsWithTheSameSeededNumbers()
    {
        var task = ConditionalBenchmarkTask.Find("cmi-collider-1-1-1-0.5");
        var (x, y, z) = task.Sample(400, 1);
        var (x2, y2, z2) = task.Sample(200, 2);
        using var est = new MmgCmiEstimator(new MmgCmiOptions { Seed = 1, Profile = "quick", Steps = 40, Variant = "mmg-cmi-adaptive" });
        var r = est.Estimate(x, y, z);
        Assert.Equal("mmg-cmi-adaptive", r.Estimator);
        var dir = Path.Combine(_dir, "csharp-model");
        est.Model!.Save(dir);
        using var loaded = MmgCmiModel.Load(dir, variant: "mmg-cmi-adaptive");
        var a = est.Model.Estimate(x2, y2, z2, repeats: 2, seed: 5, pointwise: true);
        var b = loaded.Estimate(x2, y2, z2, repeats: 2, seed: 5, pointwise: true);
        Assert.Equal(a.Variants, b.Variants);
        Assert.Equal(a.Pointwise, b.Pointwise);
        Assert.Equal(200, b.Pointwise.Count);
        Assert.Equal(b.Pointwise, loaded.Pointwise(x2, y2, z2, repeats: 2, seed: 5));
        Assert.Contains("unknown MMG-CMI variant 'mmg'", Assert.Throws<ArgumentException>(() => MmgCmiModel.Load(dir, variant: "mmg")).Message);
        var mi = Assert.Throws<InvalidDataException>(() => MmgModel.Load(dir));
        Assert.Contains("holds a conditional-MI model", mi.Message);
    }
}
