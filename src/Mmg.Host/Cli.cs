using System.Globalization;
using System.Text.Json;
using Mmg.Commands;
using Spectre.Console;

namespace Mmg;

/// <summary>The <c>mmg</c> command line. Errors become one line on stderr and a non-zero exit code.</summary>
public static class Cli
{
    /// <summary>Exit code of a bad command line.</summary>
    public const int UsageError = 2;

    /// <summary>Exit code of bad input or a failed run.</summary>
    public const int Failure = 1;

    /// <summary>Runs the command line; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        Core.CommandLine.Command command;
        try
        {
            command = Core.CommandLine.parse(args);
        }
        catch (Core.CommandLine.UsageException e)
        {
            (e.isHelp ? stdout : stderr).WriteLine(e.message);
            return e.isHelp ? 0 : UsageError;
        }

        var context = new CommandContext(command.Options, stdout, stderr);
        try
        {
            Core.Estimation.setThreads(context.GetInt("threads", 0));
            return string.Join(" ", command.Path) switch
            {
                "estimate" => EstimateCommand.Run(context),
                "tasks" => ListCommands.Tasks(context),
                "estimators" => ListCommands.EstimatorList(context),
                "sample" => ListCommands.Sample(context),
                "bench" => BenchCommand.Run(context),
                "bench merge" => BenchCommand.Merge(context),
                "highmi" => HighMiCommand.Run(context),
                "consistency" => ConsistencyCommand.Run(context),
                "gaussian-mi" => ListCommands.GaussianMi(context),
                "citest" => CiTestCommand.Run(context),
                var other => throw new ArgumentException($"unknown command '{other}'"),
            };
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or FormatException or IOException or InvalidOperationException)
        {
            stderr.WriteLine($"mmg: error: {OneLine(e.Message)}");
            return Failure;
        }
    }

    private static string OneLine(string s) => s.Replace("\r", " ").Replace("\n", " ").Trim();
}

/// <summary>Parsed options plus the output streams of one command.</summary>
public sealed class CommandContext(IReadOnlyDictionary<string, string> options, TextWriter stdout, TextWriter stderr)
{
    /// <summary>Standard output.</summary>
    public TextWriter Out { get; } = stdout;

    /// <summary>Standard error.</summary>
    public TextWriter Err { get; } = stderr;

    /// <summary>Whether an option was given.</summary>
    public bool Has(string name) => options.ContainsKey(name);

    /// <summary>An option's text or null.</summary>
    public string? Get(string name) => options.TryGetValue(name, out var v) ? v : null;

    /// <summary>An integer option or the fallback.</summary>
    public int GetInt(string name, int fallback) =>
        options.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    /// <summary>A comma-separated list option, or the fallback.</summary>
    public string[] GetList(string name, string fallback) =>
        (Get(name) ?? fallback).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>A console for tables and progress: stderr when JSON goes to stdout, else stdout.</summary>
    public IAnsiConsole Console(bool useStderr)
    {
        var writer = useStderr ? Err : Out;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer) });
        var redirected = !ReferenceEquals(writer, System.Console.Out) && !ReferenceEquals(writer, System.Console.Error)
            || (useStderr ? System.Console.IsErrorRedirected : System.Console.IsOutputRedirected);
        if (redirected) console.Profile.Width = 160;
        return console;
    }

    /// <summary>The estimator settings shared by all commands (--seed, --device, --profile, --steps).</summary>
    public EstimatorSettings Settings(int seed) => new()
    {
        Seed = seed,
        Device = Get("device") ?? "cpu",
        Profile = Get("profile") ?? "default",
        Steps = Has("steps") ? GetInt("steps", 0) : null,
    };

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
