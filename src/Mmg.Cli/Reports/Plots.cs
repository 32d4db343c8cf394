using ScottPlot;

namespace Mmg.Reports;

/// <summary>PNG figures (ScottPlot). Every figure is written to a temporary file first.</summary>
public static class Plots
{
    internal static void SaveAtomically(Plot plot, string path, int width, int height) =>
        Outputs.WriteAtomically(path, tmp => plot.SavePng(tmp, width, height), ".png");

    private static void SaveColumns(Multiplot multi, int panels, string path)
    {
        multi.Layout = new ScottPlot.MultiplotLayouts.Columns();
        Outputs.WriteAtomically(path, tmp => multi.SavePng(tmp, 520 * panels, 480), ".png");
    }

    /// <summary>The Figure-1 picture: both ε-space MMSE curves over log-SNR with the gap shaded.</summary>
    public static void Curves(MmseCurves curves, string title, string path)
    {
        var plot = new Plot();
        var xs = curves.LogSnr.ToArray();
        var fill = plot.Add.FillY(xs, curves.Conditional.ToArray(), curves.Unconditional.ToArray());
        fill.FillStyle.Color = Colors.Orange.WithAlpha(0.35);
        fill.LineStyle.Width = 0;
        fill.LegendText = "gap (½ area = MI)";
        var u = plot.Add.Scatter(xs, curves.Unconditional.ToArray());
        u.LegendText = "unconditional  E‖ε − ε̂(z)‖²";
        u.MarkerSize = 0;
        u.LineWidth = 2;
        var c = plot.Add.Scatter(xs, curves.Conditional.ToArray());
        c.LegendText = "conditional  E‖ε − ε̂(z, y)‖²";
        c.MarkerSize = 0;
        c.LineWidth = 2;
        plot.Title(title);
        plot.XLabel("log-SNR a");
        plot.YLabel("MMSE in ε-space");
        plot.ShowLegend(Alignment.UpperLeft);
        SaveAtomically(plot, path, 900, 560);
    }

    /// <summary>A heatmap of relative bias, rows = tasks, columns = estimators (Table-1 style).</summary>
    public static void BiasHeatmap(IReadOnlyList<string> tasks, IReadOnlyList<string> estimators, double[,] relativeBias, double[,] estimates, string path)
    {
        var plot = new Plot();
        int nt = tasks.Count, ne = estimators.Count;
        for (var i = 0; i < nt; i++)
        for (var j = 0; j < ne; j++)
        {
            var b = relativeBias[i, j];
            var color = double.IsNaN(b) ? Colors.LightGray : BiasColor(b);
            var rect = plot.Add.Rectangle(j, j + 1, nt - i - 1, nt - i);
            rect.FillStyle.Color = color;
            rect.LineStyle.Color = Colors.White;
            var text = plot.Add.Text(double.IsNaN(estimates[i, j]) ? "–" : estimates[i, j].ToString("0.00", System.Globalization.CultureInfo.InvariantCulture), j + 0.5, nt - i - 0.5);
            text.LabelFontSize = 10;
            text.LabelAlignment = Alignment.MiddleCenter;
        }
        var yTicks = Enumerable.Range(0, nt).Select(i => new Tick(nt - i - 0.5, tasks[i])).ToArray();
        var xTicks = Enumerable.Range(0, ne).Select(j => new Tick(j + 0.5, estimators[j])).ToArray();
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(yTicks);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(xTicks);
        plot.Axes.Bottom.TickLabelStyle.Rotation = 30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.SetLimits(0, ne, 0, nt);
        plot.Title("Estimates (nats); colour = relative bias (red: under, blue: over)");
        SaveAtomically(plot, path, 260 + 120 * ne, 120 + 22 * nt);
    }

    private static Color BiasColor(double relativeBias)
    {
        var t = Math.Clamp(Math.Abs(relativeBias) / 0.5, 0, 1);
        var baseColor = relativeBias < 0 ? Colors.Red : Colors.Blue;
        return baseColor.WithAlpha(0.1 + 0.8 * t);
    }

    /// <summary>Estimate ± std against true MI with the identity line, one figure per panel, stacked.</summary>
    public static void EstimateVersusTruth(IReadOnlyList<(string Panel, string Series, double Truth, double Mean, double Std)> points, string path, string title) =>
        StackedPanels(points, p => p.Panel, path, (plot, panel, pts) =>
        {
            var max = pts.Max(p => Math.Max(p.Truth, p.Mean + p.Std)) * 1.05;
            var id = plot.Add.Line(0, 0, max, max);
            id.LineStyle.Pattern = LinePattern.Dashed;
            id.LegendText = "true MI";
            SeriesWithErrorBars(plot, pts, p => p.Series, p => p.Truth, p => p.Mean, p => p.Std);
            plot.Title($"{title}: {panel}");
            plot.XLabel("true MI (nats)");
            plot.YLabel("estimate (nats)");
            plot.ShowLegend(Alignment.UpperLeft);
        });

    /// <summary>Ratios against a parameter with a dashed ideal line, one panel per test (Figure-4 style).</summary>
    public static void Ratios(IReadOnlyList<(string Panel, string Series, double X, double Mean, double Std, double Ideal)> points, string path) =>
        StackedPanels(points, p => p.Panel, path, (plot, panel, pts) =>
        {
            foreach (var v in pts.Select(p => p.Ideal).Where(v => !double.IsNaN(v)).Distinct())
            {
                var h = plot.Add.HorizontalLine(v);
                h.LineStyle.Pattern = LinePattern.Dashed;
            }
            SeriesWithErrorBars(plot, pts, p => p.Series, p => p.X, p => p.Mean, p => p.Std);
            plot.Title(panel);
            plot.XLabel("rows r");
            plot.YLabel("ratio");
            plot.ShowLegend(Alignment.LowerRight);
        });

    /// <summary>One plot per distinct panel (in order of first appearance), drawn by
    /// <paramref name="draw"/> from that panel's points, stacked in one image.</summary>
    private static void StackedPanels<T>(IReadOnlyList<T> points, Func<T, string> panelOf, string path, Action<Plot, string, T[]> draw)
    {
        var panels = points.Select(panelOf).Distinct().ToArray();
        var multi = new Multiplot();
        multi.RemovePlot(multi.GetPlot(0));
        foreach (var panel in panels)
        {
            var plot = new Plot();
            draw(plot, panel, points.Where(p => panelOf(p) == panel).ToArray());
            multi.AddPlot(plot);
        }
        SaveColumns(multi, panels.Length, path);
    }

    /// <summary>A scatter with ± error bars per series, points ordered by x.</summary>
    private static void SeriesWithErrorBars<T>(Plot plot, T[] pts, Func<T, string> seriesOf, Func<T, double> x, Func<T, double> mean, Func<T, double> std)
    {
        foreach (var series in pts.Select(seriesOf).Distinct())
        {
            var s = pts.Where(p => seriesOf(p) == series).OrderBy(x).ToArray();
            var sc = plot.Add.Scatter(s.Select(x).ToArray(), s.Select(mean).ToArray());
            sc.LegendText = series;
            var eb = plot.Add.ErrorBar(s.Select(x).ToArray(), s.Select(mean).ToArray(), s.Select(std).ToArray());
            eb.Color = sc.Color;
        }
    }
}
