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
        Command command;
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
        catch (ArgumentException e)
        {
            // an option value out of range or unknown (--steps 0, --device foo): bad input, not a
            // malformed command line (docs/cluster.md, exit codes)
            return Fail(stderr, e, verbose, Failure);
        }
        catch (Exception e)
        {
            return Fail(stderr, e, verbose, UsageError);
        }

        var context = new CommandContext(stdout, stderr);
        try
        {
            return command switch
            {
                Command.Estimate c => EstimateCommand.Run(c.Options, context),
                Command.Tasks c => ListCommands.Tasks(c.Options, context),
                Command.Estimators c => ListCommands.EstimatorList(c.Options, context),
                Command.Sample c => ListCommands.Sample(c.Options, context),
                Command.Bench c => BenchCommand.Run(c.Options, context),
                Command.BenchMerge c => BenchCommand.Merge(c.Options, context),
                Command.HighMi c => HighMiCommand.Run(c.Options, context),
                Command.Consistency c => ConsistencyCommand.Run(c.Options, context),
                Command.GaussianMi c => ListCommands.GaussianMi(c.Options, context),
                Command.CiTest c => CiTestCommand.Run(c.Options, context),
                _ => throw new ArgumentException($"unknown command '{command}'"),
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

/// <summary>The output streams of one command (its options are the typed record that
/// <see cref="CommandLine.parse"/> built, e.g. <see cref="EstimateOptions"/>).</summary>
public sealed class CommandContext(TextWriter stdout, TextWriter stderr)
{
    /// <summary>Standard output.</summary>
    public TextWriter Out { get; } = stdout;

    /// <summary>Standard error.</summary>
    public TextWriter Err { get; } = stderr;

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

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
