using System.Globalization;
using System.Text.Json;
using Mmg.CliArguments;
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

    /// <summary>Environment variable that, set to 1, makes errors print their stack trace (like <c>--verbose</c>).</summary>
    public const string VerboseVariable = "MMG_VERBOSE";

    /// <summary>
    /// Runs the command line; returns the process exit code. Every failure, whatever its exception
    /// type, becomes one line on stderr ("mmg: error: …") and a non-zero exit code; with
    /// <c>--verbose</c> (anywhere on the line) or MMG_VERBOSE=1 the full exception follows.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(args);
        var verbose = args.Contains("--verbose") || Environment.GetEnvironmentVariable(VerboseVariable) is "1" or "true";
        args = args.Where(a => a != "--verbose").ToArray();
        CommandLine.Command command;
        try
        {
            command = CommandLine.parse(args);
        }
        catch (CommandLine.UsageException e)
        {
            if (e.isHelp) stdout.WriteLine(e.message);
            else stderr.WriteLine($"mmg: error: {OneLine(e.message)}");
            return e.isHelp ? 0 : UsageError;
        }
        catch (Exception e)
        {
            return Fail(stderr, e, verbose, UsageError);
        }

        var context = new CommandContext(command.Options, stdout, stderr);
        try
        {
            var path = string.Join(" ", command.Path);
            Options.Check(path, context);
            switch (path)
            {
                case "bench" or "bench merge" or "highmi" or "consistency":
                    context.ApplyThreads();
                    break;
            }
            return path switch
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
        catch (Exception e)
        {
            return Fail(stderr, e, verbose, Failure);
        }
    }

    private static int Fail(TextWriter stderr, Exception e, bool verbose, int code)
    {
        stderr.WriteLine($"mmg: error: {Describe(e)}");
        if (verbose) stderr.WriteLine(e.ToString());
        return code;
    }

    /// <summary>
    /// One line for any exception: wrappers (type initialisers, reflection, single-inner aggregates)
    /// are unwrapped, library suffixes such as " (Parameter 'x')" and native stack frames are cut,
    /// and failures that are not bad input say what kind of failure they are.
    /// </summary>
    internal static string Describe(Exception e)
    {
        while (e is TypeInitializationException or System.Reflection.TargetInvocationException or AggregateException { InnerExceptions.Count: 1 }
               && e.InnerException is not null)
            e = e.InnerException;
        var first = FirstLine(e.Message);
        if (e is ArgumentException { ParamName: { } p })
            first = first.Replace($" (Parameter '{p}')", "", StringComparison.Ordinal);
        return e switch
        {
            DllNotFoundException or EntryPointNotFoundException or BadImageFormatException =>
                $"a native library could not be loaded ({first}); see the README's Troubleshooting section (libtorch on Debian 12), or rebuild with `dotnet build`.",
            OutOfMemoryException or InsufficientExecutionStackException =>
                "out of memory; use fewer samples (--samples), fewer rows or a smaller model.",
            ArgumentNullException { ParamName: { } missing } => $"{missing} is missing (null).",
            System.Text.Json.JsonException => $"invalid JSON: {first}",
            System.Runtime.InteropServices.ExternalException => $"libtorch failed: {first}",
            ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or FormatException
                or IOException or InvalidOperationException or UnauthorizedAccessException or NotSupportedException => first,
            _ => $"{first} ({e.GetType().Name}; rerun with --verbose for the stack trace).",
        };
    }

    /// <summary>The first non-empty line (native exceptions append C++ frames after it).</summary>
    private static string FirstLine(string s)
    {
        var line = s.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";
        return line.Length > 0 ? line : "unknown error";
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

    /// <summary>Sets torch's CPU threads from --threads (default 1). Only commands that train call
    /// this: it loads libtorch, which <c>--help</c>, <c>tasks</c> and early errors never need.</summary>
    public void ApplyThreads() => Core.Estimation.setThreads(GetInt("threads", 0));

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
        Extra = ExtraOptions(),
    };

    /// <summary>The estimator-specific options of --set key=value[,key=value…].</summary>
    public Dictionary<string, string> ExtraOptions()
    {
        var extra = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Get("set") is not { } text) return extra;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0 || eq == part.Length - 1)
                throw new ArgumentException($"--set takes key=value pairs separated by commas, e.g. --set validation=0,width=128; got '{part}'.");
            var key = part[..eq].Trim();
            if (extra.ContainsKey(key))
                throw new ArgumentException($"--set gives option '{key}' twice; give it once.");
            extra[key] = part[(eq + 1)..].Trim();
        }
        return extra;
    }

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
