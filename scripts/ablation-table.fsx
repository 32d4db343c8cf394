// A markdown table of an ablation (scripts/ablation.fsx rows, `mmg_debiased`) against the same
// tasks and seeds of a benchmark run (`mmg bench` results.csv rows of `mmg-debiased`), with the
// benchmark's rules: ✓ = the mean over the seeds present is within max(0.05, 0.1·truth); * = a
// seed further than max(0.08, 0.15·truth).
//   dotnet fsi scripts/ablation-table.fsx -- ABLATION.csv[,ABLATION2.csv…] BENCH.csv[,BENCH2.csv…]
#load "csv-rows.fsx"
open System
open System.IO
open System.Globalization
open CsvRows

let args = fsi.CommandLineArgs |> Array.skip 1
let ablations, benches = args.[0].Split ',', args.[1].Split ','

let num (s: string) = Double.Parse(s, CultureInfo.InvariantCulture)
let before0 =
    benches |> Array.collect rows |> Array.filter (fun r -> r "estimator" = "mmg-debiased")
    |> Array.map (fun r -> (r "task", int (r "seed")), num (r "estimate")) |> dict
let ablation = ablations |> Array.collect rows
let tasks = ablation |> Array.map (fun r -> r "task") |> Array.distinct
let text (v: float) = v.ToString("0.000", CultureInfo.InvariantCulture)
let verdict (truth: float) (values: float[]) =
    let m = Array.average values
    let mean = if abs (m - truth) <= max 0.05 (0.1 * truth) then "✓" else "✗"
    let each = if values |> Array.forall (fun v -> abs (v - truth) <= max 0.08 (0.15 * truth)) then "" else "*"
    sprintf "%s %s%s" (text m) mean each
printfn "| task | truth | seeds | before (default) | mean | with the option | mean |"
printfn "|---|---|---|---|---|---|---|"
for t in tasks do
    let mine = ablation |> Array.filter (fun r -> r "task" = t) |> Array.sortBy (fun r -> int (r "seed"))
    let truth = num (mine.[0] "truth")
    let seeds = mine |> Array.map (fun r -> int (r "seed"))
    let after = mine |> Array.map (fun r -> num (r "mmg_debiased"))
    let before = seeds |> Array.map (fun s -> match before0.TryGetValue((t, s)) with | true, v -> v | _ -> nan)
    printfn "| `%s` | %s | %s | %s | %s | %s | %s |" t (text truth) (String.Join(",", seeds)) (String.Join(" / ", before |> Array.map text)) (verdict truth before)
        (String.Join(" / ", after |> Array.map text)) (verdict truth after)

// over every run present in both: the mean absolute error and the runs within max(0.05, 0.1·truth)
let pairs =
    [| for r in ablation do
         match before0.TryGetValue((r "task", int (r "seed"))) with
         | true, b -> yield num (r "truth"), b, num (r "mmg_debiased")
         | _ -> () |]
let mae (pick: float * float * float -> float) = pairs |> Array.averageBy (fun ((t, _, _) as p) -> abs (pick p - t))
let within (pick: float * float * float -> float) = pairs |> Array.filter (fun ((t, _, _) as p) -> abs (pick p - t) <= max 0.05 (0.1 * t)) |> Array.length
printfn ""
printfn "Over the %d runs: mean |estimate − truth| %s before, %s with the option; runs within max(0.05, 0.1·truth) %d before, %d with it."
    pairs.Length (text (mae (fun (_, b, _) -> b))) (text (mae (fun (_, _, a) -> a))) (within (fun (_, b, _) -> b)) (within (fun (_, _, a) -> a))
