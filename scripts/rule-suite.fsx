// The 40 tasks × 3 seeds of a default that switches an option on by a size rule: per task, the
// `mmg-debiased` estimate of every seed "before" (the current default's rows) and "after" (the
// rows of the option where the rule turns it on, the before rows elsewhere), with the benchmark's
// rules — ✓ = the mean over seeds 1..3 within max(0.05, 0.1·truth), * = a seed further than
// max(0.08, 0.15·truth) — then the counts. The rule is the core's own (Network.yEmbeddingFor with
// no choice, on the task's dimensions), so the table follows the code. Build first:
// dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/rule-suite.fsx -- BEFORE.csv[,BEFORE2.csv…] AFTER.csv[,AFTER2.csv…] CONFIG
// BEFORE files are `mmg bench` results (rows of estimator mmg-debiased) or scripts/ablation.fsx
// rows (column mmg_debiased); a later file's row replaces an earlier one's for the same task and
// seed. AFTER files are ablation rows; only those of configuration CONFIG are read.
#load "references.fsx"
#load "csv-rows.fsx"
open System
open System.Collections.Generic
open System.Globalization
open System.IO
open CsvRows
open Mmg.Core

let args = fsi.CommandLineArgs |> Array.skip 1
if args.Length < 3 then failwith "usage: dotnet fsi scripts/rule-suite.fsx -- BEFORE.csv[,…] AFTER.csv[,…] CONFIG"
let before = debiasedEstimates (args.[0].Split ',') (fun _ -> true)
let option = debiasedEstimates (args.[1].Split ',') (fun r -> r "config" = args.[2])
let seeds = [| 1; 2; 3 |]
let text (v: float) = v.ToString("0.000", CultureInfo.InvariantCulture)
let mean (xs: float[]) = Array.average xs
let verdict truth xs = sprintf "%s %s%s" (text (mean xs)) (if passes truth xs then "✓" else "✗") (if everySeed truth xs then "" else "*")

printfn "| task | columns | rule | truth | before s1 / s2 / s3 | mean | after s1 / s2 / s3 | mean |"
printfn "|---|---|---|---|---|---|---|---|"
let results =
    [ for t in Tasks.all do
        let on = Network.yEmbeddingFor None t.DimX t.DimY
        let get (d: Dictionary<string * int, float>) s = match d.TryGetValue((t.Id, s)) with | true, v -> v | _ -> nan
        let b = seeds |> Array.map (get before)
        let a = if on then seeds |> Array.map (get option) else b
        if Array.exists Double.IsNaN b || Array.exists Double.IsNaN a then
            printfn "| `%s` | %d×%d | %s | %s | %s | incomplete | %s | incomplete |" t.Id t.DimX t.DimY (if on then "on" else "off") (text t.TrueMI)
                (String.Join(" / ", b |> Array.map text)) (String.Join(" / ", a |> Array.map text))
        else
            printfn "| `%s` | %d×%d | %s | %s | %s | %s | %s | %s |" t.Id t.DimX t.DimY (if on then "on" else "off") (text t.TrueMI)
                (String.Join(" / ", b |> Array.map text)) (verdict t.TrueMI b)
                (String.Join(" / ", a |> Array.map text)) (verdict t.TrueMI a)
            yield on, t.TrueMI, b, a ]

let count (pick: bool * float * float[] * float[] -> bool) = results |> List.filter pick |> List.length
let err (xs: float[]) truth = xs |> Array.averageBy (fun v -> abs (v - truth))
printfn ""
printfn "%d complete tasks (%d under the rule): mean passes %d before, %d after; every seed within max(0.08, 0.15·truth) %d before, %d after."
    results.Length (count (fun (on, _, _, _) -> on))
    (count (fun (_, t, b, _) -> passes t b)) (count (fun (_, t, _, a) -> passes t a))
    (count (fun (_, t, b, _) -> everySeed t b)) (count (fun (_, t, _, a) -> everySeed t a))
for i, s in Array.indexed seeds do
    let single (pick: float[]) t = abs (pick.[i] - t) <= max 0.05 (0.1 * t)
    printfn "seed %d: %d pass before, %d after" s (count (fun (_, t, b, _) -> single b t)) (count (fun (_, t, _, a) -> single a t))
let under = results |> List.filter (fun (on, _, _, _) -> on)
if not under.IsEmpty then
    printfn "Under the rule (%d tasks × 3 seeds): mean |estimate − truth| %s before, %s after."
        under.Length (text (under |> List.averageBy (fun (_, t, b, _) -> err b t))) (text (under |> List.averageBy (fun (_, t, _, a) -> err a t)))
