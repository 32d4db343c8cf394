using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary><c>mmg tasks</c>, <c>mmg estimators</c>, <c>mmg sample</c>, <c>mmg gaussian-mi</c>.</summary>
internal static class ListCommands
{
    public static int Tasks(CommandContext c)
    {
        var rows = Core.Tasks.all.Select(t => new Dictionary<string, object>
        {
            ["id"] = t.Id, ["name"] = t.Name, ["family"] = t.Family, ["dim_x"] = t.DimX, ["dim_y"] = t.DimY, ["true_mi"] = t.TrueMI,
        }).ToArray();
        if (c.Get("json") is { } path)
        {
            Outputs.CheckFile("json", path);
            var text = JsonSerializer.Serialize(rows, CommandContext.Json);
            if (path == "-") c.Out.WriteLine(text); else Report.WriteAtomically(path, text);
            return 0;
        }
        var table = new Table().AddColumns("id", "name", "dim_x", "dim_y", "true MI (nats)");
        foreach (var t in Core.Tasks.all)
            table.AddRow(Markup.Escape(t.Id), Markup.Escape(t.Name), t.DimX.ToString(CultureInfo.InvariantCulture), t.DimY.ToString(CultureInfo.InvariantCulture), Report.F(t.TrueMI));
        var console = c.Console(false);
        console.Write(table);
        console.MarkupLine($"{Core.Tasks.all.Length} tasks");
        return 0;
    }

    public static int EstimatorList(CommandContext c)
    {
        if (c.Get("json") is { } path)
        {
            Outputs.CheckFile("json", path);
            var text = JsonSerializer.Serialize(Estimators.Names, CommandContext.Json);
            if (path == "-") c.Out.WriteLine(text); else Report.WriteAtomically(path, text);
            return 0;
        }
        foreach (var n in Estimators.Names) c.Out.WriteLine(n == Estimators.Default ? $"{n} (default)" : n);
        return 0;
    }

    public static int Sample(CommandContext c)
    {
        var path = c.Get("out") ?? throw new ArgumentException("sample needs --out FILE, the CSV to write (see `mmg sample --help`).");
        Outputs.CheckFile("out", path);
        var task = BenchmarkTasks.Find(c.Get("task") ?? throw new ArgumentException("sample needs --task ID, the benchmark task to sample (see `mmg tasks`)."));
        var n = c.GetInt("samples", 10000);
        if (n < 1) throw new ArgumentException($"--samples must be at least 1, got {n}.");
        if ((long)n * (task.DimX + task.DimY) > Core.Tasks.MaxValues)
            throw new ArgumentException($"--samples {n} of task {task.Id} ({task.DimX + task.DimY} columns) is more than the limit of {Core.Tasks.MaxValues} values; use at most {Core.Tasks.MaxValues / (task.DimX + task.DimY)} samples.");
        var seed = c.GetInt("seed", 0);
        var (x, y) = task.Sample(n, seed);
        Core.DataFiles.writeCsv(path, x, y);
        c.Out.WriteLine($"wrote {n} samples of {task.Id} (seed {seed}, true MI {Report.F(task.TrueMutualInformation)} nats) to {path}");
        return 0;
    }

    public static int GaussianMi(CommandContext c)
    {
        var rho = c.Has("rho") ? double.Parse(c.Get("rho")!, CultureInfo.InvariantCulture) : 0.75;
        c.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"I(X;Y) = {MutualInformation.BivariateNormal(rho):F6} nats (bivariate normal, rho = {rho})"));
        return 0;
    }
}
