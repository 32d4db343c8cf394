using System.Globalization;

namespace Mmg;

/// <summary>The <c>mmg</c> command line. Errors become one line on stderr and a non-zero exit code.</summary>
public static class Cli
{
    /// <summary>Runs the command line; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                stdout.WriteLine("usage: mmg gaussian-mi --rho <r>");
                return args.Length == 0 ? 2 : 0;
            }
            switch (args[0])
            {
                case "gaussian-mi":
                    var rho = 0.75;
                    for (var i = 1; i < args.Length; i++)
                    {
                        if (args[i] == "--rho" && i + 1 < args.Length)
                            rho = double.Parse(args[++i], CultureInfo.InvariantCulture);
                        else
                            throw new ArgumentException($"unknown argument '{args[i]}'");
                    }
                    stdout.WriteLine(string.Create(CultureInfo.InvariantCulture, $"I(X;Y) = {MutualInformation.BivariateNormal(rho):F6} nats (bivariate normal, rho = {rho})"));
                    return 0;
                default:
                    throw new ArgumentException($"unknown command '{args[0]}'; try 'mmg --help'");
            }
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            stderr.WriteLine($"mmg: {e.Message}");
            return 1;
        }
    }
}
