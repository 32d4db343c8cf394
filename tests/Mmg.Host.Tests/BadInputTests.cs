using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit;

namespace Mmg.Tests;

/// <summary>
/// Bad input on every edge of the CLI (issue 11): each case must end with a non-zero exit code,
/// exactly one line on stderr that names the culprit, no library suffix such as "(Parameter 'x')",
/// and no file written or changed in the test folder (no output, no *.tmp debris).
/// </summary>
[Collection("torch")]
public class BadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mmg-bad-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string P(string name) => Path.Combine(_dir, name);

    private string Csv(string name, string text)
    {
        var p = P(name);
        File.WriteAllText(p, text);
        return p;
    }

    private static string Rows(int n, string header = "X0,Y0", Func<int, string>? row = null) =>
        header + "\n" + string.Concat(Enumerable.Range(0, n).Select(i => (row ?? (k => $"{Math.Sin(k):R},{Math.Cos(k * 1.3):R}"))(i) + "\n"));

    internal static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        return (Cli.Run(args, o, e), o.ToString(), e.ToString());
    }

    /// <summary>Every file under the folder with its length and hash.</summary>
    internal static Dictionary<string, string> Snapshot(string dir) =>
        Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).ToDictionary(
            p => Path.GetRelativePath(dir, p),
            p => File.Exists(p) ? Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p))) : "<dir>");

    /// <summary>Runs the command and asserts a one-line failure naming every <paramref name="mentions"/>, with nothing written.</summary>
    private string Fails(string[] args, params string[] mentions) => FailsIn(_dir, args, mentions);

    internal static string FailsIn(string dir, string[] args, params string[] mentions)
    {
        var before = Snapshot(dir);
        var (code, _, err) = Run(args);
        Assert.NotEqual(0, code);
        var lines = err.TrimEnd('\n', '\r').Split('\n');
        Assert.True(lines.Length == 1, $"expected one line on stderr, got {lines.Length}:\n{err}");
        var line = lines[0];
        Assert.StartsWith("mmg: error: ", line);
        Assert.DoesNotContain("(Parameter '", line);
        Assert.DoesNotContain("Exception", line);
        foreach (var m in mentions) Assert.True(line.Contains(m, StringComparison.Ordinal), $"'{m}' not in: {line}");
        var after = Snapshot(dir);
        Assert.Equal(before.OrderBy(k => k.Key), after.OrderBy(k => k.Key));
        return line;
    }

    // ------------------------------------------------------------------ crashes that were traces

    [Fact]
    public void NoArgumentsIsAOneLineUsageError()
    {
        var line = Fails([], "no command given", "mmg --help");
        Assert.Equal(Cli.UsageError, Run().Code);
        Assert.Contains("estimate", line);
    }

    [Fact]
    public void ArguErrorsAreOneLineWithWhereToLook()
    {
        Fails(["estimate", "--bogus"], "'--bogus'", "mmg estimate --help");
        Fails(["estimate", "--steps", "abc"], "--steps", "'abc'");
        Fails(["sample", "--task", "1v1-normal-0.75"], "--out");
        Fails(["sample", "--out", P("s.csv")], "--task");
    }

    [Fact]
    public void EstimatorsIsASubcommandListingEveryName()
    {
        var (code, output, err) = Run("estimators");
        Assert.True(code == 0, err);
        var names = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains("ksg", names);
        Assert.Contains("mmg-debiased (default)", names);
        // the MI estimators, then the conditional-MI ones (issue 14), marked as such
        Assert.Contains("mmg-cmi-orthogonal-adaptive (I(X;Y|Z), default)", names);
        Assert.Equal(Estimators.Names.Count + ConditionalEstimators.Names.Count, names.Length);
        var (code2, json, _) = Run("estimators", "--json", "-");
        Assert.Equal(0, code2);
        Assert.Equal(Estimators.Names.Concat(ConditionalEstimators.Names), JsonSerializer.Deserialize<string[]>(json));
    }

    [Fact]
    public void BenchMergeWithoutFoldersIsRefused() => Fails(["bench", "merge"], "shard folders");

    [Theory]
    [InlineData("estimate", "--task", "1v1-normal-0.75", "--estimator", "ksg", "--samples", "2000000000")]
    [InlineData("sample", "--task", "1v1-normal-0.75", "--out", "s.csv", "--samples", "2000000000")]
    [InlineData("bench", "--tasks", "1v1-normal-0.75", "--estimators", "ksg", "--out", "b", "--samples", "2000000000")]
    public void HugeSampleCountsAreRefusedBeforeAllocating(params string[] args) =>
        Fails(args.Select(a => a is "s.csv" or "b" ? P(a) : a).ToArray(), "--samples", "2000000000", "at most");

    [Fact]
    public void SampleLimitCountsColumns()
    {
        // 2 000 000 rows pass the per-option limit but not 50 columns × 2 000 000 = 10⁸ values
        Fails(["estimate", "--task", "multinormal-dense-25-25-0.5", "--estimator", "ksg", "--samples", "3000000"], "multinormal-dense-25-25-0.5", "2000000 samples");
        Fails(["sample", "--task", "multinormal-dense-25-25-0.5", "--samples", "3000000", "--out", P("s.csv")], "2000000 samples");
        var e = Assert.Throws<ArgumentException>(() => BenchmarkTasks.Find("multinormal-dense-25-25-0.5").Sample(3_000_000, 0));
        Assert.Contains("limit", e.Message);
    }

    [Fact]
    public void EveryExceptionTypeBecomesOneLine()
    {
        var native = new ExternalException("shape '[64, 3]' is invalid for input of size 5\nException raised from reshape at aten/src/ATen/native/TensorShape.cpp:1\nframe #0: c10::Error::Error() + 0x9");
        var cases = new (Exception E, string Mention)[]
        {
            (native, "libtorch failed: shape '[64, 3]' is invalid"),
            (new DllNotFoundException("Unable to load shared library 'LibTorchSharp'"), "LibTorchSharp"),
            (new TypeInitializationException("TorchSharp.torch", new DllNotFoundException("libLibTorchSharp.so: cannot open")), "Troubleshooting"),
            (new JsonException("'x' is an invalid start of a value.\nPath: $"), "invalid JSON"),
            (new ArgumentException("unknown task id 'x'.", "id"), "unknown task id 'x'."),
            (new OutOfMemoryException(), "out of memory"),
            (new NullReferenceException("Object reference not set"), "--verbose"),
            (new System.Reflection.TargetInvocationException(new InvalidDataException("bad cell")), "bad cell"),
            (new AggregateException(new IOException("disk full")), "disk full"),
            (new ArgumentNullException("path"), "path is missing"),
        };
        foreach (var (e, mention) in cases)
        {
            var line = Cli.Describe(e);
            Assert.DoesNotContain('\n', line);
            Assert.DoesNotContain("frame #0", line);
            Assert.DoesNotContain("(Parameter", line);
            Assert.Contains(mention, line);
        }
        Assert.Equal("unknown task id 'x'.", Cli.Describe(new ArgumentException("unknown task id 'x'.", "id")));
    }

    [Fact]
    public void VerboseShowsTheStackTrace()
    {
        var dir = Directory.CreateDirectory(P("adir")).FullName;
        var (code, _, err) = Run("estimate", "--input", dir, "--verbose");
        Assert.Equal(Cli.Failure, code);
        var lines = err.TrimEnd().Split('\n');
        Assert.StartsWith("mmg: error: ", lines[0]);
        Assert.True(lines.Length > 2, err);
        Assert.Contains(lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.Single(Run("estimate", "--input", dir).Err.TrimEnd().Split('\n'));
    }

    [Fact]
    public void VerboseEnvironmentVariableShowsTheStackTrace()
    {
        var (code, _, err) = Process.Run(new() { [Cli.VerboseVariable] = "1" }, "estimate", "--input", _dir);
        Assert.Equal(Cli.Failure, code);
        Assert.Contains("is a directory", err.Split('\n')[0]);
        Assert.Contains("   at ", err);
        var (code2, _, err2) = Process.Run(new(), "estimate", "--input", _dir);
        Assert.Equal(Cli.Failure, code2);
        Assert.Single(err2.TrimEnd().Split('\n'));
    }

    // ------------------------------------------------------------------ options that must be refused

    [Theory]
    [InlineData("--steps", "0")]
    [InlineData("--steps", "-5")]
    [InlineData("--threads", "0")]
    [InlineData("--threads", "-3")]
    [InlineData("--samples", "1")]
    [InlineData("--seed", "x")]
    public void NonPositiveCountsAreRefused(string option, string value)
    {
        var args = new List<string> { "estimate", "--task", "1v1-normal-0.75", option, value };
        Fails(args.ToArray(), option, value);
    }

    [Theory]
    [InlineData("bench", "--seeds", "0")]
    [InlineData("bench", "--steps", "0")]
    [InlineData("highmi", "--threads", "-3")]
    [InlineData("consistency", "--images", "0")]
    public void NonPositiveCountsAreRefusedOnEveryCommand(string command, string option, string value) =>
        Fails([command, option, value, "--out", P("o")], option, value);

    [Theory]
    [InlineData("estimate", "--device", "foo")]
    [InlineData("estimate", "--profile", "fast")]
    [InlineData("bench", "--device", "foo")]
    [InlineData("bench", "--profile", "fast")]
    [InlineData("highmi", "--device", "gpu")]
    [InlineData("consistency", "--device", "tpu")]
    public void UnknownDeviceOrProfileIsRefusedEverywhere(string command, string option, string value) =>
        Fails(command == "estimate" ? [command, option, value] : [command, option, value, "--out", P("o")], $"unknown {option} '{value}'");

    [Theory]
    [InlineData("ksg", "--device", "cpu")]
    [InlineData("ksg", "--profile", "quick")]
    [InlineData("cca", "--profile", "paper")]
    [InlineData("cca", "--steps", "10")]
    [InlineData("ksg", "--threads", "2")]
    [InlineData("ksg", "--plot", "c.png")]
    [InlineData("cca", "--save-model", "m")]
    public void OptionsThatDoNotApplyToTheEstimatorAreRefused(string estimator, string option, string value) =>
        Fails(["estimate", "--estimator", estimator, "--task", "1v1-normal-0.75", option, value.EndsWith(".png") || value == "m" ? P(value) : value], option, estimator);

    [Theory]
    [InlineData("--profile", "quick")]
    [InlineData("--steps", "5")]
    public void TrainingOptionsDoNotApplyToALoadedModel(string option, string value) =>
        Fails(["estimate", "--task", "1v1-normal-0.75", "--load-model", P("m"), option, value], option, "--load-model");

    [Theory]
    [InlineData("X0,X0", "listed twice")]
    [InlineData("", "--x is empty")]
    [InlineData("X0,,X1", "empty column name")]
    [InlineData("x0", "unknown column 'x0'")]
    public void BadColumnListsAreRefused(string spec, string mention)
    {
        var csv = Csv("d.csv", Rows(300, "X0,X1,Y0", k => $"{Math.Sin(k):R},{Math.Cos(k):R},{Math.Sin(2 * k):R}"));
        Fails(["estimate", "--estimator", "ksg", "--input", csv, "--x", spec], mention, "d.csv");
    }

    [Fact]
    public void DefaultColumnsAreXDigitsAndYDigitsCaseExact()
    {
        // "year" starts with y but is not a y column; lower-case x0/y0 are not default columns
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("year.csv", Rows(300, "X0,year"))], "no y columns", "Y<digits>", "year", "--y");
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("lower.csv", Rows(300, "x0,y0"))], "no x columns", "x0, y0");
        var csv = Csv("mixed.csv", Rows(300, "X0,Y0,year,Xtra", k => $"{Math.Sin(k):R},{Math.Cos(k * 1.3):R},{2000 + k},{k % 7}"));
        var (code, output, err) = Run("estimate", "--estimator", "ksg", "--input", csv);
        Assert.True(code == 0, err);
        Assert.Contains("x = [X0], y = [Y0]", output);
    }

    [Fact]
    public void ValuesWhoseStandardisationOverflowsAreRefused()
    {
        var rows = Rows(300).Split('\n');
        rows[7] = "1e308,0.5";
        var csv = Csv("big.csv", string.Join("\n", rows));
        Fails(["estimate", "--estimator", "ksg", "--input", csv], "X0", "cannot be standardised", "line 8");
        Fails(["estimate", "--estimator", "cca", "--input", csv], "X0", "cannot be standardised");
        var e = Assert.Throws<ArgumentException>(() => Estimators.Create("ksg").Estimate(
            new double[,] { { 1e308 }, { -1e308 }, { 0 }, { 1 } }, new double[,] { { 1 }, { 2 }, { 3 }, { 4 } }));
        Assert.Contains("cannot be standardised", e.Message);
    }

    [Fact]
    public void ValuesBeyondFloat32AreRefusedBeforeTraining()
    {
        var rows = Rows(400).Split('\n');
        rows[9] = "1e100,0.5";
        Fails(["estimate", "--profile", "quick", "--steps", "5", "--threads", "1", "--input", Csv("f32.csv", string.Join("\n", rows)),
            "--json", P("r.json")], "1e+100", "float32");
    }

    [Fact]
    public void NonFiniteEstimatesAreFailuresNotResults()
    {
        EstimateResult R(double estimate, double variant) => new()
        {
            Estimator = "mmg", Estimate = estimate, StdError = double.NaN, Seconds = 1, Pointwise = [],
            Variants = [new VariantEstimate("mmg", estimate, 0.1), new VariantEstimate("mmg-adaptive", variant, 0.1)],
            Settings = new Dictionary<string, string>(),
        };
        Assert.Contains("non-finite", Assert.Throws<InvalidOperationException>(() => Commands.EstimateCommand.RequireFinite(R(double.NaN, 1))).Message);
        Assert.Contains("mmg-adaptive", Assert.Throws<InvalidOperationException>(() => Commands.EstimateCommand.RequireFinite(R(1, double.PositiveInfinity))).Message);
        Commands.EstimateCommand.RequireFinite(R(0.4, 0.5));
        Fails(["highmi", "--mi", "2.5,abc", "--out", P("h")], "--mi", "'abc'");
        Fails(["consistency", "--test", "bogus", "--out", P("c")], "bogus");
        Fails(["consistency", "--data", P("nomnist"), "--out", P("c")], "nomnist", "not found");
        // more images than there are: refused before the output folder is made
        Fails(["consistency", "--quick", "--images", "5000", "--out", P("c")], "--images 5000", "2000 or less");
        var tiny = P("tiny-mnist");
        Directory.CreateDirectory(tiny);
        var idx = new byte[16 + 10 * 28 * 28];
        idx[2] = 0x08; idx[3] = 3; idx[7] = 10; idx[11] = 28; idx[15] = 28; // ubyte, rank 3, [10; 28; 28], big-endian
        File.WriteAllBytes(Path.Combine(tiny, "train-images-idx3-ubyte"), idx);
        Fails(["consistency", "--data", tiny, "--images", "50", "--out", P("c")], "holds only 10 images", "--images 10 or less");
    }

    // ------------------------------------------------------------------ CSV files

    [Fact]
    public void RowWithMoreFieldsThanTheHeaderIsRefusedWithItsLine()
    {
        var rows = Rows(300).Split('\n');
        rows[20] = "0.1,0.2,0.3";
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("more.csv", string.Join("\n", rows))], "line 21", "3 fields", "more than the 2");
    }

    [Fact]
    public void RowWithAMissingFieldIsRefusedWithItsLine()
    {
        var rows = Rows(300).Split('\n');
        rows[13] = "0.3";
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("fewer.csv", string.Join("\n", rows))], "line 14", "1 field", "fewer");
    }

    [Fact]
    public void HugeLinesAreRefused()
    {
        var wide = string.Join(",", Enumerable.Range(0, 200_000).Select(i => "1"));
        var rows = Rows(300).Split('\n');
        rows[4] = wide;
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("wide.csv", string.Join("\n", rows))], "line 5", "200000 fields");
        var header = string.Join(",", Enumerable.Range(0, 200_000).Select(i => $"X{i}"));
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("wideheader.csv", header + "\n" + wide + "\n")], "line 1", "200000 fields", "10000");
    }

    [Fact]
    public void OneRowFileSaysSoNotConstant()
    {
        var line = Fails(["estimate", "--estimator", "ksg", "--input", Csv("one.csv", "X0,Y0\n1,2\n")], "only 1 data row");
        Assert.DoesNotContain("constant", line);
        var e = Assert.Throws<ArgumentException>(() => Estimators.Create("ksg").Estimate(new double[,] { { 1 } }, new double[,] { { 2 } }));
        Assert.Contains("only 1 rows", e.Message);
    }

    [Fact]
    public void SemicolonSeparatedFilesGetAHint()
    {
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("semi.csv", "X0;Y0\n1;2\n3;4\n")], "';'", "separated by ','");
        var rows = Rows(300).Split('\n');
        rows[3] = "0,5;1,5";
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("semirow.csv", string.Join("\n", rows))], "line 4", "';'");
    }

    [Fact]
    public void DuplicateAndEmptyColumnNamesAreNamed()
    {
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("dup.csv", Rows(300, "X0,X0,Y0", k => $"{k},{k * k},{Math.Sin(k):R}"))], "'X0' appears twice", "columns 1 and 2");
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("noname.csv", Rows(300, "X0,,Y0", k => $"{k},{k * k},{Math.Sin(k):R}"))], "column 2 of the header has no name");
    }

    [Fact]
    public void DirectoryOrMissingInputIsSaidSo()
    {
        Fails(["estimate", "--estimator", "ksg", "--input", _dir], "is a directory");
        Fails(["estimate", "--estimator", "ksg", "--input", P("nope.csv")], "nope.csv", "no such file");
    }

    [Fact]
    public void BlankLinesBetweenRowsAndUnclosedQuotesAreRefused()
    {
        var rows = Rows(300).Split('\n');
        rows[10] = "";
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("blank.csv", string.Join("\n", rows))], "line 11 is empty");
        rows = Rows(300).Split('\n');
        rows[10] = "\"0.5,1";
        Fails(["estimate", "--estimator", "ksg", "--input", Csv("quote.csv", string.Join("\n", rows))], "line 11", "not closed");
    }

    [Fact]
    public void LibrarySuffixesDoNotLeak() =>
        Fails(["estimate", "--estimator", "ksg", "--task", "no-such-task"], "no-such-task");

    [Fact]
    public void QuotedFieldsTrailingBlankLinesAndCrLfAreRead()
    {
        var text = "\"X0\",\"Y0\"\r\n" + string.Concat(Enumerable.Range(0, 300).Select(k => $"\"{Math.Sin(k):R}\",{Math.Cos(k * 1.3):R}\r\n")) + "\r\n\r\n";
        var (code, output, err) = Run("estimate", "--estimator", "cca", "--input", Csv("q.csv", text));
        Assert.True(code == 0, err);
        Assert.Contains("300 rows", output);
    }

    // ------------------------------------------------------------------ outputs: checked first, written atomically

    [Theory]
    [InlineData("--json")]
    [InlineData("--plot")]
    [InlineData("--pointwise")]
    public void OutputOntoADirectoryIsRefusedBeforeTraining(string option)
    {
        Directory.CreateDirectory(P("outdir"));
        // the default profile would train for a minute: the refusal must come first
        Fails(["estimate", "--task", "1v1-normal-0.75", option, P("outdir")], option, "is a directory");
    }

    [Fact]
    public void OutputUnderAFileOrAnUnwritableFolderIsRefused()
    {
        File.WriteAllText(P("afile"), "x");
        Fails(["estimate", "--task", "1v1-normal-0.75", "--json", Path.Combine(P("afile"), "r.json")], "--json", "is a file, not a folder");
        Fails(["estimate", "--task", "1v1-normal-0.75", "--plot", Path.Combine(P("afile"), "sub", "c.png")], "--plot", "is a file, not a folder");
        if (OperatingSystem.IsLinux())
            Fails(["estimate", "--task", "1v1-normal-0.75", "--json", "/proc/mmg-no-such/r.json"], "--json", "not writable");
        Fails(["tasks", "--json", _dir], "--json", "is a directory");
        Fails(["estimators", "--json", _dir], "--json", "is a directory");
        Fails(["sample", "--task", "1v1-normal-0.75", "--out", _dir], "--out", "is a directory");
    }

    [Fact]
    public void SaveModelOntoAFileOrAForeignFolderIsRefusedBeforeTraining()
    {
        File.WriteAllText(P("model"), "not a folder");
        Fails(["estimate", "--task", "1v1-normal-0.75", "--save-model", P("model")], "--save-model", "is a file");
        Directory.CreateDirectory(P("photos"));
        File.WriteAllText(Path.Combine(P("photos"), "holiday.jpg"), "jpg");
        Fails(["estimate", "--task", "1v1-normal-0.75", "--save-model", P("photos")], "--save-model", "holiday.jpg");
    }

    [Fact]
    public void TwoOutputsOnOnePathAreRefused()
    {
        Fails(["estimate", "--task", "1v1-normal-0.75", "--json", P("x.out"), "--plot", P("x.out")], "--plot", "--json");
        var csv = Csv("in.csv", Rows(300));
        Fails(["estimate", "--estimator", "ksg", "--input", csv, "--json", csv], "--json", "--input");
    }

    [Fact]
    public void AtomicWriteLeavesNoDebrisOnFailureAndKeepsTheOldFile()
    {
        var target = P("keep.txt");
        File.WriteAllText(target, "old");
        var before = Snapshot(_dir);
        Assert.Throws<InvalidOperationException>(() => Outputs.WriteAtomically(target, tmp =>
        {
            File.WriteAllText(tmp, "half");
            throw new InvalidOperationException("disk full");
        }));
        Assert.Equal(before.OrderBy(k => k.Key), Snapshot(_dir).OrderBy(k => k.Key));
        Outputs.WriteAtomically(target, tmp => File.WriteAllText(tmp, "new"));
        Assert.Equal("new", File.ReadAllText(target));
        Assert.Equal(["keep.txt"], Directory.GetFiles(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void SuccessfulWritesLeaveNoTemporaryFiles()
    {
        var csv = P("s.csv");
        Assert.Equal(0, Run("sample", "--task", "1v1-normal-0.75", "--samples", "300", "--out", csv).Code);
        var json = P("r.json");
        var (code, _, err) = Run("estimate", "--estimator", "ksg", "--input", csv, "--json", json);
        Assert.True(code == 0, err);
        Assert.Equal(new[] { "r.json", "s.csv" }, Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Order());
    }

    // ------------------------------------------------------------------ start-up without libtorch

    [Fact]
    public void CommandsThatNeedNoTorchDoNotLoadLibtorch()
    {
        if (!OperatingSystem.IsLinux()) return;
        var missing = P("missing.csv");
        foreach (var args in new[]
                 {
                     new[] { "--help" }, ["tasks"], ["estimators"], ["gaussian-mi", "--rho", "0.5"],
                     ["estimate", "--estimator", "ksg", "--input", missing],
                     ["estimate", "--task", "1v1-normal-0.75", "--threads", "0"],
                     ["estimate", "--task", "1v1-normal-0.75", "--load-model", _dir],
                     ["sample", "--task", "1v1-normal-0.75", "--samples", "10", "--out", P("s.csv")],
                 })
        {
            var (_, _, err) = Process.Run(new() { ["LD_DEBUG"] = "libs" }, args);
            Assert.False(err.Contains("libtorch_cpu.so", StringComparison.Ordinal), $"mmg {string.Join(' ', args)} loaded libtorch");
        }
        // the probe sees libtorch when it is loaded (a command that trains)
        var (code, _, trained) = Process.Run(new() { ["LD_DEBUG"] = "libs" },
            "estimate", "--task", "1v1-normal-0.75", "--samples", "400", "--profile", "quick", "--steps", "2", "--threads", "1");
        Assert.True(code == 0, trained[^Math.Min(2000, trained.Length)..]);
        Assert.Contains("libtorch_cpu.so", trained);
    }

    /// <summary>Runs mmg.dll in a child process.</summary>
    internal static class Process
    {
        public static (int Code, string Out, string Err) Run(Dictionary<string, string> env, params string[] args)
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "mmg.dll"));
            foreach (var a in args) psi.ArgumentList.Add(a);
            foreach (var (k, v) in env) psi.Environment[k] = v;
            psi.Environment.Remove(Cli.VerboseVariable);
            if (env.TryGetValue(Cli.VerboseVariable, out var verbose)) psi.Environment[Cli.VerboseVariable] = verbose;
            using var p = System.Diagnostics.Process.Start(psi)!;
            var err = p.StandardError.ReadToEndAsync();
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output, err.Result);
        }
    }
}

/// <summary>A saved model is one unit with a format version and checksums; corrupt folders are refused in one line.</summary>
[Collection("torch")]
public class SavedModelTests : IClassFixture<SavedModelTests.TrainedModel>, IDisposable
{
    /// <summary>One quick model for all tests (trained once, tiny).</summary>
    public sealed class TrainedModel : IDisposable
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory("mmg-model-").FullName;

        public string Model => Path.Combine(Dir, "model");

        public TrainedModel()
        {
            var (code, _, err) = BadInputTests.Run("estimate", "--task", "1v1-normal-0.75", "--samples", "400", "--profile", "quick", "--steps", "20",
                "--threads", "1", "--seed", "1", "--save-model", Model);
            if (code != 0) throw new InvalidOperationException(err);
        }

        public void Dispose() => Directory.Delete(Dir, true);
    }

    private readonly TrainedModel _model;
    private readonly string _dir = Directory.CreateTempSubdirectory("mmg-models-").FullName;

    public SavedModelTests(TrainedModel model) => _model = model;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Copy(string name)
    {
        var dst = Path.Combine(_dir, name);
        Directory.CreateDirectory(dst);
        foreach (var f in Directory.GetFiles(_model.Model)) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)));
        return dst;
    }

    private string Load(string dir, params string[] mentions) =>
        BadInputTests.FailsIn(_dir, ["estimate", "--task", "1v1-normal-0.75", "--samples", "300", "--load-model", dir, "--json", Path.Combine(_dir, "r.json")], mentions);

    private static JsonObject Json(string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "model.json")))!.AsObject();

    [Fact]
    public void ModelJsonHasAFormatVersionAndTheWeightsChecksums()
    {
        var json = Json(_model.Model);
        Assert.Equal(Core.ModelFiles.FormatVersion, json["FormatVersion"]!.GetValue<int>());
        foreach (var w in new[] { "fixed.bin", "adaptive.bin" })
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(_model.Model, w)))), json["Checksums"]![w]!.GetValue<string>());
        Assert.Equal(["model"], Directory.GetFileSystemEntries(_model.Dir).Select(Path.GetFileName));
        var (code, output, err) = BadInputTests.Run("estimate", "--task", "1v1-normal-0.75", "--samples", "300", "--load-model", _model.Model, "--json", "-");
        Assert.True(code == 0, err);
        Assert.True(double.IsFinite(JsonDocument.Parse(output).RootElement.GetProperty("estimate").GetDouble()));
    }

    [Fact]
    public void SavingOverAModelReplacesItAsAUnitAndLeavesNoDebris()
    {
        var dir = Copy("m");
        using var m = MmgModel.Load(_model.Model);
        File.WriteAllText(Path.Combine(dir, "fixed.bin"), "stale");
        m.Save(dir);
        Assert.Equal(["m"], Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_model.Model, "fixed.bin")), File.ReadAllBytes(Path.Combine(dir, "fixed.bin")));
        using var again = MmgModel.Load(dir);
        var foreign = Directory.CreateDirectory(Path.Combine(_dir, "foreign")).FullName;
        File.WriteAllText(Path.Combine(foreign, "notes.txt"), "mine");
        var e = Assert.Throws<ArgumentException>(() => m.Save(foreign));
        Assert.Contains("notes.txt", e.Message);
        Assert.Equal(["notes.txt"], Directory.GetFiles(foreign).Select(Path.GetFileName));
    }

    [Fact]
    public void ASaveThatFailsHalfwayLeavesTheOldModelAndNoDebris()
    {
        // a save killed or failing while writing the weights: the old folder stays as it was
        var dir = Copy("kept");
        var before = BadInputTests.Snapshot(_dir);
        var info = JsonSerializer.Deserialize<Core.MmgModelInfo>(File.ReadAllText(Path.Combine(dir, "model.json")))!;
        var e = Assert.Throws<IOException>(() => Core.ModelFiles.save(dir, info, Microsoft.FSharp.Core.FuncConvert.FromAction<string>(folder =>
        {
            File.WriteAllText(Path.Combine(folder, "fixed.bin"), "new weights");
            throw new IOException("disk full");
        })));
        Assert.Equal("disk full", e.Message);
        Assert.Equal(before.OrderBy(k => k.Key), BadInputTests.Snapshot(_dir).OrderBy(k => k.Key));
        // and into a new folder: nothing is created
        Assert.Throws<IOException>(() => Core.ModelFiles.save(Path.Combine(_dir, "new"), info, Microsoft.FSharp.Core.FuncConvert.FromAction<string>(_ => throw new IOException("disk full"))));
        Assert.Equal(before.OrderBy(k => k.Key), BadInputTests.Snapshot(_dir).OrderBy(k => k.Key));
        using var m = MmgModel.Load(dir);
    }

    [Fact]
    public void ModelJsonThatIsNotJsonIsRefused()
    {
        var dir = Copy("notjson");
        File.WriteAllText(Path.Combine(dir, "model.json"), "this is not json");
        Load(dir, "notjson", "model.json is not valid JSON");
    }

    [Fact]
    public void EmptyJsonObjectIsRefused()
    {
        var dir = Copy("empty");
        File.WriteAllText(Path.Combine(dir, "model.json"), "{}");
        Load(dir, "empty", "no format version");
    }

    [Fact]
    public void NewWeightsWithAnOldModelJsonAreRefused()
    {
        // what a run killed while overwriting a model used to leave: new weights, old model.json
        var dir = Copy("mixed");
        var bytes = File.ReadAllBytes(Path.Combine(dir, "adaptive.bin"));
        bytes[^1] ^= 0x5a;
        File.WriteAllBytes(Path.Combine(dir, "adaptive.bin"), bytes);
        Load(dir, "mixed", "adaptive.bin does not match its checksum");
    }

    [Fact]
    public void OtherFormatVersionsAndMissingPartsAreRefused()
    {
        var newer = Copy("newer");
        var json = Json(newer);
        json["FormatVersion"] = 99;
        File.WriteAllText(Path.Combine(newer, "model.json"), json.ToJsonString());
        Load(newer, "format version 99");

        var old = Copy("old");
        json = Json(old);
        json.Remove("FormatVersion");
        json.Remove("Checksums");
        File.WriteAllText(Path.Combine(old, "model.json"), json.ToJsonString());
        Load(old, "no format version");

        var partial = Copy("partial");
        File.Delete(Path.Combine(partial, "fixed.bin"));
        Load(partial, "fixed.bin is missing");

        var damaged = Copy("damaged");
        json = Json(damaged);
        json["StdX"] = new JsonArray(1.0, 2.0, 3.0);
        File.WriteAllText(Path.Combine(damaged, "model.json"), json.ToJsonString());
        Load(damaged, "StdX has 3 values, expected 1");

        Load(Path.Combine(_dir, "model.json"), "no such folder");
        File.WriteAllText(Path.Combine(_dir, "a.file"), "x");
        Load(Path.Combine(_dir, "a.file"), "is a file");
    }

    [Fact]
    public void WeightsThatLibtorchCannotReadAreOneLine()
    {
        // garbage weights with a matching checksum get past the checks and fail inside libtorch
        var dir = Copy("garbage");
        var weights = Path.Combine(dir, "fixed.bin");
        File.WriteAllBytes(weights, Encoding.ASCII.GetBytes(new string('z', 100)));
        var json = Json(dir);
        json["Checksums"]!["fixed.bin"] = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(weights)));
        File.WriteAllText(Path.Combine(dir, "model.json"), json.ToJsonString());
        Load(dir, "garbage", "fixed.bin does not hold the network");
    }
}
