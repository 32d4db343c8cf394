using System.Globalization;
using Mmg.CliArguments;
using Spectre.Console;

namespace Mmg.Commands;

/// <summary><c>mmg citest</c>: the KSG-CMI local-permutation test of H0: I(X;Y|Z) = 0 on a CSV, or its
/// calibration (rejection rate at level alpha over independent data sets) on the CMI tasks.</summary>
internal static class CiTestCommand
{
    public static int Run(CiTestOptions o, CommandContext c)
    {
        var (k, kPerm, perms, seed, alpha) = (o.K, o.KPerm, o.Permutations, o.Seed, o.Alpha);
        if (o.Input is not null && Options.FirstGiven(("tasks", o.Tasks), ("runs", o.Runs), ("samples", o.Samples), ("out", o.Out)) is { } calibrationOnly)
            throw new ArgumentException($"--{calibrationOnly} applies to the calibration (no --input) only; drop --{calibrationOnly}.");
        var console = c.Console(false);
        if (o.Input is { } path)
        {
            var (s, z, zNames) = Experiments.DataFiles.readCsvConditional(path, o.X, o.Y, o.Z).ToValueTuple();
            var r = Core.ConditionalKsg.localPermutationTest(k, kPerm, perms, seed, s.X, s.Y, z);
            c.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"H0: X ⊥ Y | Z with x = [{string.Join(",", s.XNames)}], y = [{string.Join(",", s.YNames)}], z = [{string.Join(",", zNames)}]: KSG-CMI (k={k}) = {r.Statistic:0.0000} nats, p = {r.PValue:0.0000} ({perms} local permutations, k_perm = {kPerm}); {(r.PValue <= alpha ? "reject" : "do not reject")} at alpha = {alpha}"));
            return 0;
        }
        var ids = o.Tasks is null or ["cmi"] ? Core.CmiTasks.all.Select(t => t.Id).ToArray() : o.Tasks;
        var tasks = ids.Select(Core.CmiTasks.find).ToArray();
        var runs = o.Runs ?? 100;
        var n = o.Samples ?? 500;
        var outDir = o.Out ?? throw new ArgumentException("--out DIR is required for the calibration (citest.csv and summary.csv go there).");
        foreach (var file in new[] { "citest.csv", "summary.csv" })
            Outputs.CheckFile("out", Path.Combine(outDir, file));
        Directory.CreateDirectory(outDir);
        var lines = new List<string> { "task,true_cmi,run,statistic,p_value" };
        var summary = new List<string> { "task,true_cmi,runs,samples,permutations,k,k_perm,alpha,rejections,rejection_rate,rate_std_error,seconds" };
        var table = new Table().AddColumns("task", "true CMI", "runs", "rejections", "rate", "kind", "seconds");
        foreach (var t in tasks)
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var reject = 0;
            for (var r = 0; r < runs; r++)
            {
                var (x, y, z) = t.Sample.Invoke(n).Invoke(seed * 100000 + r + 1);
                var res = Core.ConditionalKsg.localPermutationTest(k, kPerm, perms, seed * 100000 + r + 1, x, y, z);
                if (res.PValue <= alpha) reject++;
                lines.Add(string.Create(CultureInfo.InvariantCulture, $"{t.Id},{t.TrueCMI:R},{r + 1},{res.Statistic:R},{res.PValue:R}"));
            }
            var rate = (double)reject / runs;
            var se = Math.Sqrt(rate * (1 - rate) / runs);
            var kind = Math.Abs(t.TrueCMI) < 1e-9 ? "false-positive rate" : "power";
            summary.Add(string.Create(CultureInfo.InvariantCulture,
                $"{t.Id},{t.TrueCMI:R},{runs},{n},{perms},{k},{kPerm},{alpha:R},{reject},{rate:R},{se:R},{watch.Elapsed.TotalSeconds:0.0}"));
            table.AddRow(Markup.Escape(t.Id), Report.F(t.TrueCMI, "0.000"), runs.ToString(CultureInfo.InvariantCulture), reject.ToString(CultureInfo.InvariantCulture),
                string.Create(CultureInfo.InvariantCulture, $"{rate:0.00} ± {se:0.00}"), kind, string.Create(CultureInfo.InvariantCulture, $"{watch.Elapsed.TotalSeconds:0}"));
            Report.WriteAtomically(Path.Combine(outDir, "citest.csv"), string.Join("\n", lines) + "\n");
            Report.WriteAtomically(Path.Combine(outDir, "summary.csv"), string.Join("\n", summary) + "\n");
        }
        console.Write(table);
        console.MarkupLine(Markup.Escape($"wrote {Path.Combine(outDir, "citest.csv")} and summary.csv"));
        return 0;
    }
}
