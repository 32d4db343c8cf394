// The 40 tasks × 3 seeds of the current default against the same with an option's runs laid over
// it (docs/accuracy.md, fourteenth round: overtime). The current default is composed as
// rule-suite.fsx composes it (BEFORE rows where the y-embedding rule is off, CONFIG's rows of
// AFTER where it is on); the overlay replaces each (task, seed) that OVERLAY-CONFIG's rows cover.
// A (task, seed) the overlay does not cover keeps the default's row, marked:
//   =  the default's row shows both phases' best scores at least OvertimePatience scores before
//      their budgets, so overtime cannot act there and the row is the option's too;
//   ?  the default's row has no kept steps (a bench row) or a best within that window: unmeasured.
// Then the benchmark's counts (✓ mean within max(0.05, 0.1·truth), * a seed beyond
// max(0.08, 0.15·truth)). Build first: dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/overlay-suite.fsx -- BEFORE.csv[,…] AFTER.csv[,…] CONFIG OVERLAY.csv[,…] OVERLAY-CONFIG
#load "references.fsx"
#load "csv-rows.fsx"
open System
open System.Collections.Generic
open System.Globalization
open System.IO
open CsvRows
open Mmg.Core

let args = fsi.CommandLineArgs |> Array.skip 1
if args.Length < 5 then
    failwith "usage: dotnet fsi scripts/overlay-suite.fsx -- BEFORE.csv[,…] AFTER.csv[,…] CONFIG OVERLAY.csv[,…] OVERLAY-CONFIG"
let files (a: string) = a.Split ','
let config name = fun (r: string -> string) -> r "config" = name
let before = debiasedEstimates (files args.[0]) (fun _ -> true)
let after = debiasedEstimates (files args.[1]) (config args.[2])
let overlay = debiasedEstimates (files args.[3]) (config args.[4])

/// (task, seed) → (fixed, adaptive) kept steps of the ablation row the default uses, when it has them.
let kept (paths: string[]) (keep: (string -> string) -> bool) =
    let d = Dictionary<string * int, int * int>()
    for p in paths do
        if fields (File.ReadLines p |> Seq.head) |> Array.contains "fixed_step_kept" then
            for r in rows p do
                if keep r then d.[(r "task", int (r "seed"))] <- (int (r "fixed_step_kept"), int (r "adapt_step_kept"))
    d
let keptBefore = kept (files args.[0]) (fun _ -> true)
let keptAfter = kept (files args.[1]) (config args.[2])

/// Overtime goes on past a budget only while the best score is under OvertimePatience scores old.
let outside (budget: int) (step: int) = step <= budget - EarlyStoppingOptions.OvertimePatience * EarlyStoppingOptions.every budget
let p = MmgProfiles.standard
let seeds = [| 1; 2; 3 |]
let text (v: float) = v.ToString("0.000", CultureInfo.InvariantCulture)
let verdict truth xs = sprintf "%s %s%s" (text (Array.average xs)) (if passes truth xs then "✓" else "✗") (if everySeed truth xs then "" else "*")

printfn "| task | truth | default s1 / s2 / s3 | mean | with the overlay s1 / s2 / s3 | mean |"
printfn "|---|---|---|---|---|---|"
let results =
    [ for t in Tasks.all do
        let on = Network.yEmbeddingFor None t.DimX t.DimY
        let source, keptIn = if on then after, keptAfter else before, keptBefore
        let get (d: Dictionary<string * int, float>) s = match d.TryGetValue((t.Id, s)) with | true, v -> v | _ -> nan
        let d = seeds |> Array.map (get source)
        let o = seeds |> Array.map (fun s -> match overlay.TryGetValue((t.Id, s)) with | true, v -> Some v | _ -> None)
        let mark s =
            match keptIn.TryGetValue((t.Id, s)) with
            | true, (f, a) when outside p.Steps f && outside p.AdaptSteps a -> "="
            | _ -> "?"
        let shown = Array.map2 (fun (s: int) v -> match v with Some x -> text x | None -> text d.[s - 1] + mark s) seeds o
        let a = Array.map2 (fun v x -> defaultArg v x) o d
        if Array.exists Double.IsNaN d then printfn "| `%s` | %s | incomplete | | | |" t.Id (text t.TrueMI)
        else
            printfn "| `%s` | %s | %s | %s | %s | %s |" t.Id (text t.TrueMI) (String.Join(" / ", d |> Array.map text)) (verdict t.TrueMI d)
                (String.Join(" / ", shown)) (verdict t.TrueMI a)
            yield t.TrueMI, d, a, Array.map2 (fun (s: int) v -> if Option.isSome v then "run" else mark s) seeds o ]

let count pick = results |> List.filter pick |> List.length
let marks = results |> List.collect (fun (_, _, _, m) -> List.ofArray m)
printfn ""
printfn "%d complete tasks; (task, seed) runs with the overlay %d, default rows that are the option's too (=) %d, unmeasured (?) %d."
    results.Length (marks |> List.filter ((=) "run") |> List.length) (marks |> List.filter ((=) "=") |> List.length) (marks |> List.filter ((=) "?") |> List.length)
printfn "Mean passes %d default, %d with the overlay; every seed within max(0.08, 0.15·truth) %d default, %d with the overlay."
    (count (fun (t, d, _, _) -> passes t d)) (count (fun (t, _, a, _) -> passes t a))
    (count (fun (t, d, _, _) -> everySeed t d)) (count (fun (t, _, a, _) -> everySeed t a))
for i, s in Array.indexed seeds do
    let single (xs: float[]) t = abs (xs.[i] - t) <= max 0.05 (0.1 * t)
    printfn "seed %d: %d pass default, %d with the overlay" s (count (fun (t, d, _, _) -> single d t)) (count (fun (t, _, a, _) -> single a t))
let moved = results |> List.filter (fun (_, d, a, _) -> Array.exists2 (fun x y -> abs (x - y) >= 0.0005) d a)
if not moved.IsEmpty then
    let err (xs: float[]) truth = xs |> Array.averageBy (fun v -> abs (v - truth))
    printfn "Tasks the overlay moves (%d): mean |estimate − truth| %s default, %s with the overlay."
        moved.Length (text (moved |> List.averageBy (fun (t, d, _, _) -> err d t))) (text (moved |> List.averageBy (fun (t, _, a, _) -> err a t)))
