using System.Globalization;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary>Console tables and atomic file writes.</summary>
internal static class Report
{
    public static string F(double v, string format = "0.0000") =>
        double.IsNaN(v) ? "–" : v.ToString(format, CultureInfo.InvariantCulture);

    public static void Table(IAnsiConsole console, EstimateResult r, double? truth, string quantity = "I(X;Y)", string truthLabel = "true MI")
    {
        var table = new Table().AddColumns("estimator", "estimate (nats)", "std error", truth is null ? "" : "truth − estimate");
        var rows = r.Variants.Count > 0 ? r.Variants : new[] { new VariantEstimate(r.Estimator, r.Estimate, r.StdError) };
        foreach (var v in rows)
        {
            var name = v.Name == r.Estimator ? $"[bold]{Markup.Escape(v.Name)}[/]" : Markup.Escape(v.Name);
            table.AddRow(name, F(v.Estimate), F(v.StdError), truth is { } t ? F(t - v.Estimate, "+0.0000;-0.0000") : "");
        }
        console.Write(table);
        console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"{quantity} ≈ {F(r.Estimate)} ± {F(r.StdError)} nats ({(r.Interval is null ? "" : "Monte Carlo s.e.; ")}{r.Estimator}, {r.Seconds:0.0} s){(truth is { } tt ? $"; {truthLabel} {F(tt)}" : "")}")));
        if (r.Interval is { } i)
            console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"{i.Level:0%} interval [{F(i.Low)}, {F(i.High)}] nats ({IntervalText(i.Method, conditional: quantity.Contains('|'))})")));
        if (!double.IsNaN(r.IndependencePValue))
        {
            var (test, scheme) = quantity.Contains('|')
                ? ("conditional-independence test", "y permuted among rows with nearby z, docs/conditional-mi.md")
                : ("independence test", "permutation test, docs/uncertainty.md");
            console.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
                $"{test}: p = {r.IndependencePValue:0.####} (H0: {quantity} = 0; {scheme})")));
        }
    }

    /// <summary>What the interval accounts for; the --folds hint only where cross-fitting is offered (MI, not CMI).</summary>
    internal static string IntervalText(string method, bool conditional)
    {
        const string forms = "forms+";
        var bracket = method.StartsWith(forms, StringComparison.Ordinal);
        var rest = bracket ? method.Substring(forms.Length) : method;
        if (rest.StartsWith("cross-fit-", StringComparison.Ordinal))
            return (bracket ? "the model error its two forms show, and " : "")
                + $"{rest.Substring("cross-fit-".Length)}-fold cross-fit: training, data and Monte Carlo variability";
        var covers = bracket ? "Monte Carlo error and the model error its two forms show" : "Monte Carlo error only";
        return conditional
            ? $"{covers}; not training variability: cross-fitted intervals are not offered for CMI yet"
            : $"{covers}; not training variability: use --folds 5 for that";
    }

    /// <summary>Writes via a temporary file in the same folder, so a failure leaves nothing half-written (<see cref="Outputs.WriteAtomically"/>).</summary>
    public static void WriteAtomically(string path, string text) =>
        Outputs.WriteAtomically(path, tmp => File.WriteAllText(tmp, text));
}
