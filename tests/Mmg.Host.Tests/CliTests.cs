using System.Text.Json;
using Xunit;

namespace Mmg.Tests;

/// <summary>The CLI's bad-input handling: one line naming what and where, exit code ≠ 0, nothing written.</summary>
[Collection("torch")]
public class CliBadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmg-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Csv(string name, string text)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllText(p, text);
        return p;
    }

    private static string GoodRows(int n, Func<int, string>? row = null) =>
        "X0,Y0\n" + string.Concat(Enumerable.Range(0, n).Select(i => (row ?? (k => $"{Math.Sin(k)},{Math.Cos(k * 1.3)}"))(i) + "\n"));

    private (int Code, string Out, string Err, bool JsonWritten) Estimate(params string[] extra)
    {
        var json = Path.Combine(_dir, "out.json");
        var plot = Path.Combine(_dir, "out.png");
        var o = new StringWriter();
        var e = new StringWriter();
        var args = new[] { "estimate", "--profile", "quick", "--steps", "20", "--threads", "1", "--json", json, "--plot", plot }.Concat(extra).ToArray();
        var code = Cli.Run(args, o, e);
        return (code, o.ToString(), e.ToString(), File.Exists(json) || File.Exists(plot));
    }

    private static void AssertOneLineError((int Code, string Out, string Err, bool JsonWritten) r, params string[] mentions)
    {
        Assert.NotEqual(0, r.Code);
        Assert.False(r.JsonWritten, "an output file was written despite the error");
        var lines = r.Err.Trim().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("mmg: error:", lines[0]);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
    }

    [Fact]
    public void InfiniteCellIsNamedByRowAndColumn()
    {
        var rows = GoodRows(300).Split('\n');
        rows[5] = "0.5,Infinity";
        AssertOneLineError(Estimate("--input", Csv("inf.csv", string.Join("\n", rows))), "row 5", "Y0", "not finite");
    }

    [Fact]
    public void NaNCellIsNamed()
    {
        var rows = GoodRows(300).Split('\n');
        rows[8] = "NaN,0.1";
        AssertOneLineError(Estimate("--input", Csv("nan.csv", string.Join("\n", rows))), "row 8", "X0");
    }

    [Fact]
    public void MissingCellMeansUnequalRowCounts()
    {
        var rows = GoodRows(300).Split('\n');
        rows[12] = "0.3,";
        AssertOneLineError(Estimate("--input", Csv("short.csv", string.Join("\n", rows))), "row 12", "Y0", "empty");
    }

    [Fact]
    public void ConstantColumnIsNamed() =>
        AssertOneLineError(Estimate("--input", Csv("const.csv", GoodRows(300, k => $"{Math.Sin(k)},2.5"))), "Y0", "constant");

    [Fact]
    public void FewerRowsThanABatchIsRefused() =>
        AssertOneLineError(Estimate("--input", Csv("few.csv", GoodRows(40))), "40 rows", "batch size 128");

    [Fact]
    public void UnknownColumnNamesAreListed() =>
        AssertOneLineError(Estimate("--input", Csv("cols.csv", GoodRows(300)), "--x", "X9"), "X9", "X0, Y0");

    [Fact]
    public void NonNumericCellIsNamed()
    {
        var rows = GoodRows(300).Split('\n');
        rows[3] = "0.1,abc";
        AssertOneLineError(Estimate("--input", Csv("text.csv", string.Join("\n", rows))), "row 3", "Y0", "'abc'");
    }

    [Fact]
    public void EmptyFileIsRefused() =>
        AssertOneLineError(Estimate("--input", Csv("empty.csv", "")), "empty");

    [Fact]
    public void UnequalRowCountsFromCSharpAreRefused()
    {
        var est = Estimators.Create("cca");
        var e = Assert.Throws<ArgumentException>(() => est.Estimate(new double[10, 1], new double[9, 1]));
        Assert.Contains("10 rows", e.Message);
        Assert.Contains("9", e.Message);
    }

    [Fact]
    public void UnknownOrMalformedSetOptionsAreNamed()
    {
        var csv = Csv("set.csv", GoodRows(300));
        AssertOneLineError(Estimate("--input", csv, "--set", "widht=16"), "widht", "width", "validation");
        AssertOneLineError(Estimate("--input", csv, "--set", "width"), "key=value");
        AssertOneLineError(Estimate("--input", csv, "--set", "width=16,width=32"), "width", "twice");
    }

    [Fact]
    public void UnknownEstimatorAndTaskAreUsageErrors()
    {
        AssertOneLineError(Estimate("--estimator", "magic"), "magic");
        AssertOneLineError(Estimate("--task", "no-such-task"), "no-such-task");
        var e = new StringWriter();
        Assert.Equal(Cli.UsageError, Cli.Run(new[] { "estimate", "--bogus" }, new StringWriter(), e));
        Assert.Contains("--bogus", e.ToString());
    }
}

[Collection("torch")]
public class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmg-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        return (Cli.Run(args, o, e), o.ToString(), e.ToString());
    }

    [Fact]
    public void SetOptionsReachTheEstimator()
    {
        var json = Path.Combine(_dir, "set.json");
        var (code, _, err) = Run("estimate", "--task", "1v1-normal-0.75", "--samples", "600", "--profile", "quick", "--steps", "40",
            "--threads", "1", "--set", "width=16,validation=0", "--json", json);
        Assert.True(code == 0, err);
        var settings = JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("settings");
        Assert.Equal("16", settings.GetProperty("width").GetString());
        Assert.Equal("0", settings.GetProperty("validation").GetString());
        Assert.Equal("40", settings.GetProperty("fixed_steps_run").GetString());
    }

    [Fact]
    public void TasksListsAllFortyWithTruth()
    {
        var (code, output, _) = Run("tasks", "--json", "-");
        Assert.Equal(0, code);
        var all = JsonDocument.Parse(output).RootElement.EnumerateArray().ToArray();
        var tasks = all.Where(t => t.GetProperty("kind").GetString() == "mi").ToArray();
        Assert.Equal(40, tasks.Length);
        var cmi = all.Where(t => t.GetProperty("kind").GetString() == "cmi").ToArray();
        Assert.True(cmi.Length >= 12, $"{cmi.Length} CMI tasks");
        Assert.Equal(all.Length, tasks.Length + cmi.Length);
        var collider = cmi.Single(t => t.GetProperty("id").GetString() == "cmi-collider-1-1-1-0.5");
        Assert.Equal(-0.5 * Math.Log(1 - 0.64), collider.GetProperty("true_cmi").GetDouble(), 10);
        Assert.Equal(0.0, collider.GetProperty("true_mi").GetDouble(), 10);
        var normal = tasks.Single(t => t.GetProperty("id").GetString() == "1v1-normal-0.75");
        Assert.Equal(0.4133, normal.GetProperty("true_mi").GetDouble(), 4);
    }

    [Fact]
    public void SampleWritesBmiStyleCsvThatEstimateReads()
    {
        var csv = Path.Combine(_dir, "s.csv");
        Assert.Equal(0, Run("sample", "--task", "multinormal-dense-2-2-0.5", "--samples", "500", "--seed", "3", "--out", csv).Code);
        var lines = File.ReadAllLines(csv);
        Assert.Equal("X0,X1,Y0,Y1", lines[0]);
        Assert.Equal(501, lines.Length);
        var (code, output, err) = Run("estimate", "--input", csv, "--estimator", "cca", "--json", "-");
        Assert.True(code == 0, err);
        var doc = JsonDocument.Parse(output).RootElement;
        Assert.Equal("cca", doc.GetProperty("estimator").GetString());
        Assert.Equal("nats", doc.GetProperty("unit").GetString());
        Assert.Equal(JsonValueKind.Null, doc.GetProperty("ground_truth").ValueKind);
        Assert.True(Math.Abs(doc.GetProperty("estimate").GetDouble() - BenchmarkTasks.Find("multinormal-dense-2-2-0.5").TrueMutualInformation) < 0.1);
    }

    [Fact]
    public void FoldsAndTestReportTheIntervalAndThePValue()
    {
        var pw = Path.Combine(_dir, "pmi.csv");
        var (code, output, err) = Run("estimate", "--task", "1v1-normal-0.75", "--samples", "600", "--profile", "quick", "--steps", "100",
            "--threads", "1", "--seed", "2", "--folds", "2", "--test", "19", "--pointwise", pw, "--json", "-");
        Assert.True(code == 0, err);
        var doc = JsonDocument.Parse(output).RootElement;
        var interval = doc.GetProperty("interval");
        Assert.Equal("forms+cross-fit-2", interval.GetProperty("method").GetString());
        Assert.True(interval.GetProperty("low").GetDouble() <= doc.GetProperty("estimate").GetDouble());
        Assert.True(interval.GetProperty("high").GetDouble() >= doc.GetProperty("estimate").GetDouble());
        var p = doc.GetProperty("independence_p_value").GetDouble();
        // ρ = 0.75 is strong dependence: with 19 permutations per fold and 2 folds (Bonferroni) the smallest p is 2/20
        Assert.Equal(0.1, p, 12);
        var lines = File.ReadAllLines(pw);
        Assert.Equal("row,pointwise_mi", lines[0]);
        Assert.Equal(601, lines.Length); // one value per input row, in input order
        Assert.StartsWith("599,", lines[600]);
    }

    [Fact]
    public void EstimateOnATaskWritesJsonPlotAndModel()
    {
        var json = Path.Combine(_dir, "r.json");
        var png = Path.Combine(_dir, "c.png");
        var model = Path.Combine(_dir, "model");
        var (code, _, err) = Run("estimate", "--task", "1v1-normal-0.75", "--samples", "1000", "--profile", "quick", "--steps", "100",
            "--threads", "1", "--seed", "1", "--json", json, "--plot", png, "--save-model", model);
        Assert.True(code == 0, err);
        var doc = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        foreach (var key in new[] { "estimator", "estimate", "std_error", "unit", "variants", "ground_truth", "seconds", "settings" })
            Assert.True(doc.TryGetProperty(key, out _), $"missing key {key}");
        Assert.Equal(5, doc.GetProperty("variants").EnumerateObject().Count());
        Assert.Equal(0.4133, doc.GetProperty("ground_truth").GetDouble(), 4);
        Assert.True(new FileInfo(png).Length > 10_000);
        Assert.True(File.Exists(Path.Combine(model, "model.json")));

        var (code2, out2, err2) = Run("estimate", "--task", "1v1-normal-0.75", "--samples", "300", "--load-model", model, "--json", "-");
        Assert.True(code2 == 0, err2);
        Assert.True(double.IsFinite(JsonDocument.Parse(out2).RootElement.GetProperty("estimate").GetDouble()));
    }

    [Fact]
    public void EstimateWithNoInputUsesTheBundledSampleAndSaysSo()
    {
        var (code, output, err) = Run("estimate", "--estimator", "ksg");
        Assert.True(code == 0, err);
        Assert.Contains("bundled sample", output);
        Assert.Contains("0.4133", output);
    }
}
