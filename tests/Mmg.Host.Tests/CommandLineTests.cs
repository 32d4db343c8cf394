using Mmg.CliArguments;
using Xunit;

namespace Mmg.Tests;

/// <summary>The command line as the commands see it (issue 12): one typed, checked options record
/// per command, built from Argu's parse results; defaults where an option has one, null where its
/// absence matters; the training options read the same way on every command that trains.</summary>
public class CommandLineTests
{
    private static T Parse<T>(params string[] args) where T : Command =>
        Assert.IsType<T>(CommandLine.parse(args));

    [Fact]
    public void EstimateGivesTypedValuesAndNullForWhatWasNotGiven()
    {
        var o = Parse<Command.Estimate>("estimate", "--task", "1v1-normal-0.75", "--steps", "50", "--seed", "3", "--folds", "5",
            "--set", "width=16, validation=0", "--json", "-").Options;
        Assert.Equal("1v1-normal-0.75", o.Task);
        Assert.Equal(3, o.Seed);
        Assert.Equal(50, o.Training.Steps);
        Assert.Equal(5, o.Folds);
        Assert.Equal("-", o.Json);
        Assert.Equal(new Dictionary<string, string> { ["width"] = "16", ["validation"] = "0" }, o.Set);
        Assert.Null(o.Input);
        Assert.Null(o.Samples);
        Assert.Null(o.Test);
        Assert.Null(o.Estimator);
        Assert.Null(o.Training.Profile);
        Assert.Null(o.Training.Device);
        Assert.Null(o.Training.Threads);

        var d = Parse<Command.Estimate>("estimate").Options;
        Assert.Equal(0, d.Seed);
        Assert.Null(d.Set);
    }

    [Theory]
    [InlineData("estimate")]
    [InlineData("bench")]
    [InlineData("highmi")]
    [InlineData("consistency")]
    public void TrainingOptionsAreReadOnceForEveryCommandThatTrains(string command)
    {
        var training = CommandLine.parse([command, "--profile", "Quick", "--device", " CUDA", "--steps", "7", "--threads", "2"]) switch
        {
            Command.Estimate c => c.Options.Training,
            Command.Bench c => c.Options.Training,
            Command.HighMi c => c.Options.Training,
            Command.Consistency c => c.Options.Training,
            var other => throw new InvalidOperationException(other.ToString()),
        };
        // names are checked and normalised: what the estimators and the run manifest receive
        Assert.Equal(new TrainingOptions("quick", 7, "cuda", 2), training);
    }

    [Fact]
    public void JobRunsCarryTheirDefaultsAndTheirJobOptions()
    {
        var b = Parse<Command.Bench>("bench", "--out", "runs/{shard}", "--shard", "auto", "--shard-count", "4", "--allow-version-change").Options;
        Assert.Equal(["all"], b.Tasks);
        Assert.Null(b.Estimators);
        Assert.Equal(1, b.Seeds);
        Assert.Equal(new JobOptions("runs/{shard}", "auto", 4, true), b.Job);
        Assert.Equal(["ksg", "cca"], Parse<Command.Bench>("bench", "--estimators", "ksg, cca,").Options.Estimators!);

        var h = Parse<Command.HighMi>("highmi", "--out", "h").Options;
        Assert.Equal([1, 2.5, 5, 7.5, 10, 12.5, 15], h.Mi);
        Assert.Equal(["none", "half_cube", "spiral"], h.Transforms);
        Assert.Equal(["mmg-adaptive", "mmg-orthogonal-adaptive", "mmg-debiased"], h.Estimators);
        Assert.Null(b.Set);
        Assert.Null(h.Set);
        Assert.Equal(new Dictionary<string, string> { ["overtime"] = "1" }, Parse<Command.Bench>("bench", "--set", "overtime=1").Options.Set);
        Assert.Equal(new Dictionary<string, string> { ["overtime"] = "1", ["width"] = "128" },
            Parse<Command.HighMi>("highmi", "--set", "width=128,overtime=1").Options.Set);

        var m = Parse<Command.BenchMerge>("bench", "merge", "s0", "s1", "--out", "all", "--allow-partial").Options;
        Assert.Equal(["s0", "s1"], m.Dirs);
        Assert.Equal("all", m.Out);
        Assert.True(m.AllowPartial);
        Assert.False(m.AllowVersionChange);
    }

    [Fact]
    public void OtherCommandsCarryTheirDefaults()
    {
        var s = Parse<Command.Sample>("sample", "--task", "t", "--out", "s.csv").Options;
        Assert.Equal(new SampleOptions("t", 10000, 0, "s.csv"), s);
        var t = Parse<Command.CiTest>("citest", "--input", "f.csv").Options;
        Assert.Equal((99, 5, 5, 0.05, 0), (t.Permutations, t.K, t.KPerm, t.Alpha, t.Seed));
        Assert.Null(t.Runs);
        Assert.Null(t.Tasks);
        Assert.Equal(0.75, Parse<Command.GaussianMi>("gaussian-mi").Options.Rho);
        Assert.Null(Parse<Command.Tasks>("tasks").Options.Json);
    }

    [Theory]
    [InlineData("estimate --steps 0", "--steps must be at least 1, got 0.")]
    [InlineData("estimate --samples 1", "--samples must be at least 2, got 1.")]
    [InlineData("sample --samples 0 --task t --out s.csv", "--samples must be at least 1, got 0.")]
    [InlineData("bench --threads 1025", "--threads must be at most 1024, got 1025.")]
    [InlineData("highmi --device gpu", "unknown --device 'gpu'; use cpu or cuda.")]
    [InlineData("consistency --profile fast", "unknown --profile 'fast'; use default or paper or quick.")]
    [InlineData("highmi --mi 1,-2", "--mi: '-2' is not a positive number of nats; give a comma-separated list such as 2.5,5,10.")]
    [InlineData("citest --alpha 1", "--alpha must lie in (0, 1), got 1.")]
    [InlineData("estimate --set width", "--set takes key=value pairs separated by commas, e.g. --set validation=0,width=128; got 'width'.")]
    public void ValuesOutOfRangeAreRefusedWhenTheRecordIsBuilt(string line, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => CommandLine.parse(line.Split(' ')));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void ABadShardCountIsAUsageError()
    {
        var e = Assert.Throws<CommandLine.UsageException>(() => CommandLine.parse(["bench", "--shard", "auto", "--shard-count", "0"]));
        Assert.Equal("--shard-count must be a positive integer, got 0.", e.message);
        Assert.False(e.isHelp);
    }

    [Fact]
    public void TheSampleLimitIsTheCoresOverTheSmallestTask() =>
        Assert.Equal(Core.Tasks.MaxValues / 2, CommandLine.MaxSamples);
}
