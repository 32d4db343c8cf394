using System.Globalization;
using System.Text.Json;
using Mmg.CliArguments;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary><c>mmg tasks</c>, <c>mmg estimators</c>, <c>mmg sample</c>, <c>mmg gaussian-mi</c>.</summary>
internal static class ListCommands
{
    public static int Tasks(TasksOptions o, CommandContext c)
    {
        var mi = Core.Tasks.all.Select(t => new Dictionary<string, object>
        {
            ["id"] = t.Id, ["kind"] = "mi", ["name"] = t.Name, ["family"] = t.Family, ["dim_x"] = t.DimX, ["dim_y"] = t.DimY, ["dim_z"] = 0, ["true_mi"] = t.TrueMI,
        });
        var cmi = Core.CmiTasks.all.Select(t => new Dictionary<string, object>
        {
            ["id"] = t.Id, ["kind"] = "cmi", ["name"] = t.Name, ["family"] = t.Family, ["dim_x"] = t.DimX, ["dim_y"] = t.DimY, ["dim_z"] = t.DimZ,
            ["true_cmi"] = t.TrueCMI, ["true_mi"] = t.TrueMI,
        });
        var rows = mi.Concat(cmi).ToArray();
        if (o.Json is { } path)
        {
            Outputs.CheckFile("json", path);
            var text = JsonSerializer.Serialize(rows, CommandContext.Json);
            if (path == "-") c.Out.WriteLine(text); else Report.WriteAtomically(path, text);
            return 0;
        }
        var table = new Table().AddColumns("id", "kind", "name", "dim_x", "dim_y", "dim_z", "truth (nats)");
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        foreach (var t in Core.Tasks.all)
            table.AddRow(Markup.Escape(t.Id), "mi", Markup.Escape(t.Name), I(t.DimX), I(t.DimY), "0", Report.F(t.TrueMI));
        foreach (var t in Core.CmiTasks.all)
            table.AddRow(Markup.Escape(t.Id), "cmi", Markup.Escape(t.Name), I(t.DimX), I(t.DimY), I(t.DimZ), Report.F(t.TrueCMI));
        var console = c.Console(false);
        console.Write(table);
        console.MarkupLine($"{Core.Tasks.all.Length} MI tasks (truth = I(X;Y)), {Core.CmiTasks.all.Length} CMI tasks (truth = I(X;Y|Z))");
        return 0;
    }

    public static int EstimatorList(EstimatorsOptions o, CommandContext c)
    {
        if (o.Json is { } path)
        {
            Outputs.CheckFile("json", path);
            // every name --estimator accepts: the MI estimators, then the conditional-MI ones
            var text = JsonSerializer.Serialize(Estimators.Names.Concat(ConditionalEstimators.Names).ToArray(), CommandContext.Json);
            if (path == "-") c.Out.WriteLine(text); else Report.WriteAtomically(path, text);
            return 0;
        }
        foreach (var n in Estimators.Names) c.Out.WriteLine(n == Estimators.Default ? $"{n} (default)" : n);
        foreach (var n in ConditionalEstimators.Names) c.Out.WriteLine(n == ConditionalEstimators.Default ? $"{n} (I(X;Y|Z), default)" : $"{n} (I(X;Y|Z))");
        return 0;
    }

    public static int Sample(SampleOptions o, CommandContext c)
    {
        var path = o.Out;
        Outputs.CheckFile("out", path);
        var id = o.Task;
        if (Core.CmiTasks.isCmi(id))
        {
            var ct = ConditionalBenchmarkTask.Find(id);
            var cn = o.Samples;
            var columns = ct.DimX + ct.DimY + ct.DimZ;
            if ((long)cn * columns > Core.Tasks.MaxValues)
                throw new ArgumentException($"--samples {cn} of task {ct.Id} ({columns} columns) is more than the limit of {Core.Tasks.MaxValues} values; use at most {Core.Tasks.MaxValues / columns} samples.");
            var cs = o.Seed;
            var (cx, cy, cz) = ct.Sample(cn, cs);
            Experiments.DataFiles.writeCsvConditional(path, cx, cy, cz);
            c.Out.WriteLine($"wrote {cn} samples of {ct.Id} (seed {cs}, true CMI {Report.F(ct.TrueConditionalMutualInformation)} nats, columns X*, Y*, Z*) to {path}");
            return 0;
        }
        var task = BenchmarkTasks.Find(id);
        var n = o.Samples;
        if ((long)n * (task.DimX + task.DimY) > Core.Tasks.MaxValues)
            throw new ArgumentException($"--samples {n} of task {task.Id} ({task.DimX + task.DimY} columns) is more than the limit of {Core.Tasks.MaxValues} values; use at most {Core.Tasks.MaxValues / (task.DimX + task.DimY)} samples.");
        var seed = o.Seed;
        var (x, y) = task.Sample(n, seed);
        Experiments.DataFiles.writeCsv(path, x, y);
        c.Out.WriteLine($"wrote {n} samples of {task.Id} (seed {seed}, true MI {Report.F(task.TrueMutualInformation)} nats) to {path}");
        return 0;
    }

    public static int GaussianMi(GaussianMiOptions o, CommandContext c)
    {
        var rho = o.Rho;
        c.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"I(X;Y) = {MutualInformation.BivariateNormal(rho):F6} nats (bivariate normal, rho = {rho})"));
        return 0;
    }
}
