// The 40 tasks × seeds under `normal-scores=auto`, composed from runs that are that setting's
// runs exactly: `normal-scores=auto` picks columns by their training rows' shape
// (Data.needsNormalScores), so on a task and seed where it picks no column its run is the
// benchmark's run without maps (bit for bit), and where it picks every column it is the run with
// maps on every column at the same 128 knots (`ns128` rows of scripts/ablation.fsx). Other tasks
// need `auto` rows of their own. The decision is recomputed here on the exact training rows of
// each task and seed; a task × seed with no valid run is reported missing, never filled in.
// Build first: dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/normal-scores-suite.fsx -- BENCH.csv[,BENCH2.csv…] ABLATION.csv[,…] [SEEDS] [OUT.csv]
// Prints the decisions, then a markdown table (before = the benchmark's `mmg-debiased`, after =
// the composed `normal-scores=auto` runs) and the counts under the benchmark's rules. With OUT.csv
// it also writes the composed runs there as benchmark rows (task, estimator, seed, estimate,
// ground_truth; estimator mmg-debiased), e.g. for scripts/rule-suite.fsx.
#load "references.fsx"
#load "csv-rows.fsx"
open System
open System.IO
open System.Globalization
open Mmg.Core
open CsvRows

let args = fsi.CommandLineArgs |> Array.skip 1
let benches, ablations = args.[0].Split ',', args.[1].Split ','
let seeds = if args.Length > 2 then args.[2].Split ',' |> Array.map int else [| 1; 2; 3 |]
let outCsv = if args.Length > 3 then Some args.[3] else None

let num (s: string) = Double.Parse(s, CultureInfo.InvariantCulture)
let bench =
    benches |> Array.collect rows |> Array.filter (fun r -> r "estimator" = "mmg-debiased" && r "status" = "ok")
    |> Array.map (fun r -> (r "task", int (r "seed")), num (r "estimate")) |> dict
let ablation = ablations |> Array.collect rows |> Array.filter (fun r -> r "samples" = "10000")
let find config task seed =
    ablation |> Array.tryFind (fun r -> r "config" = config && r "task" = task && int (r "seed") = seed) |> Option.map (fun r -> num (r "mmg_debiased"))

// what auto decides on the training rows of the default profile (10 000 rows, 20% held out)
let decision (t: BenchmarkTask) (seed: int) =
    let x, y = t.Sample 10000 seed
    let train, _ = Data.split seed 0.2 10000
    let columns (a: float[,]) = [ for j in 0 .. Array2D.length2 a - 1 -> train |> Array.map (fun i -> a.[i, j]) ]
    let picked = columns x @ columns y |> List.map Data.needsNormalScores
    if List.forall not picked then "none" elif List.forall id picked then "all" else "mixed"

let text (v: float) = if Double.IsNaN v then "missing" else v.ToString("0.000", CultureInfo.InvariantCulture)
let passes truth (vs: float[]) = abs (Array.average vs - truth) <= max 0.05 (0.1 * truth)
let eachWithin truth (vs: float[]) = vs |> Array.forall (fun v -> abs (v - truth) <= max 0.08 (0.15 * truth))
let verdict truth (vs: float[]) =
    if vs |> Array.exists Double.IsNaN then "missing"
    else sprintf "%s %s%s" (text (Array.average vs)) (if passes truth vs then "✓" else "✗") (if eachWithin truth vs then "" else "*")

let results =
    [ for t in Tasks.all ->
        let ds = seeds |> Array.map (decision t)
        let before = seeds |> Array.map (fun s -> match bench.TryGetValue((t.Id, s)) with | true, v -> v | _ -> nan)
        let after =
            Array.map2 (fun s d ->
                match find "auto" t.Id s, d with
                | Some v, _ -> v
                | None, "none" -> (match bench.TryGetValue((t.Id, s)) with | true, v -> v | _ -> nan)
                | None, "all" -> defaultArg (find "ns128" t.Id s) nan
                | None, _ -> nan) seeds ds
        t, ds, before, after ]

printfn "| task | truth | columns mapped (seeds %s) | before (default) | mean | with `normal-scores=auto` | mean |" (String.Join(",", seeds))
printfn "|---|---|---|---|---|---|---|"
for t, ds, before, after in results do
    printfn "| `%s` | %s | %s | %s | %s | %s | %s |" t.Id (text t.TrueMI) (String.Join(" ", Array.distinct ds))
        (String.Join(" / ", before |> Array.map text)) (verdict t.TrueMI before) (String.Join(" / ", after |> Array.map text)) (verdict t.TrueMI after)
let complete = results |> List.filter (fun (_, _, b, a) -> not (Array.exists Double.IsNaN a || Array.exists Double.IsNaN b))
let count pick rule = complete |> List.filter (fun (t: BenchmarkTask, _, b, a) -> rule t.TrueMI (pick (b, a))) |> List.length
printfn ""
printfn "%d complete tasks: mean passes %d before, %d with auto; every seed within max(0.08, 0.15·truth) %d before, %d with auto." complete.Length
    (count fst passes) (count snd passes) (count fst eachWithin) (count snd eachWithin)
for i, s in Array.indexed seeds do
    let single pick = complete |> List.filter (fun (t: BenchmarkTask, _, b, a) -> let v = (pick (b, a): float[]).[i] in abs (v - t.TrueMI) <= max 0.05 (0.1 * t.TrueMI)) |> List.length
    printfn "seed %d: %d pass before, %d with auto" s (single fst) (single snd)
let changed = complete |> List.filter (fun (_, ds, _, _) -> ds |> Array.exists (fun d -> d <> "none"))
let mae pick = changed |> List.collect (fun (t: BenchmarkTask, _, b, a) -> (pick (b, a): float[]) |> Array.map (fun v -> abs (v - t.TrueMI)) |> List.ofArray) |> List.average
if not changed.IsEmpty then
    printfn "On the %d tasks where auto maps a column: mean |estimate − truth| %s before, %s with auto." changed.Length (text (mae fst)) (text (mae snd))
let missing = results |> List.filter (fun (_, _, _, a) -> Array.exists Double.IsNaN a) |> List.map (fun (t, _, _, _) -> t.Id)
if not missing.IsEmpty then printfn "Missing runs: %s" (String.Join(", ", missing))
match outCsv with
| Some path ->
    let lines =
        [ yield "task,estimator,seed,estimate,ground_truth"
          for t, _, _, after in results do
              for s, v in Array.zip seeds after do
                  if not (Double.IsNaN v) then
                      yield sprintf "%s,mmg-debiased,%d,%s,%s" t.Id s (v.ToString("R", CultureInfo.InvariantCulture)) (t.TrueMI.ToString("R", CultureInfo.InvariantCulture)) ]
    File.WriteAllLines(path, lines)
    printfn "Wrote %d composed runs to %s" (lines.Length - 1) path
| None -> ()
