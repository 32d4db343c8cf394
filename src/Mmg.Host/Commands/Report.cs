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
            $"{quantity} ≈ {F(r.Estimate)} ± {F(r.StdError)} nats ({r.Estimator}, {r.Seconds:0.0} s){(truth is { } tt ? $"; {truthLabel} {F(tt)}" : "")}")));
    }

    /// <summary>Writes via a temporary file in the same folder, so a failure leaves nothing half-written.</summary>
    public static void WriteAtomically(string path, string text)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp";
        File.WriteAllText(tmp, text);
        File.Move(tmp, full, overwrite: true);
    }
}
