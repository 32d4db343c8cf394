// The several-seed view of `mmg bench` results for one estimator: per task, the estimate of every
// seed, their mean ± standard deviation, whether the mean passes the benchmark rule
// (Bench.succeeded: within max(0.05, 0.10·truth)) and whether every seed is within
// max(0.08, 0.15·truth); then the counts. Prints a Markdown table (tasks in the order of the
// results). Only tasks with every seed of 1..SEEDS present are counted; the others are listed as
// incomplete.
// Build first: dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/bench-seeds.fsx -- RESULTS.csv[,RESULTS.csv...] SEEDS [ESTIMATOR]
// (ESTIMATOR defaults to mmg-debiased.)
#load "references.fsx"
#r "../src/Mmg.Cli/bin/Release/net10.0/Deedle.dll"
#r "../src/Mmg.Cli/bin/Release/net10.0/Mmg.Experiments.dll"
open System
open System.Globalization
open Mmg.Experiments

let args = fsi.CommandLineArgs |> Array.skip 1
if args.Length < 2 then failwith "usage: dotnet fsi scripts/bench-seeds.fsx -- RESULTS.csv[,RESULTS.csv...] SEEDS [ESTIMATOR]"
let files = args.[0].Split ','
let seeds = int args.[1]
let estimator = if args.Length > 2 then args.[2] else "mmg-debiased"

let rows =
    files |> Array.collect Bench.readRows |> Bench.latest
    |> Array.filter (fun r -> r.Estimator = estimator && r.Status = "ok")
let f (v: float) = v.ToString("0.000", CultureInfo.InvariantCulture)
/// Every seed within max(0.08, 0.15·truth) (issue #9's per-seed rule).
let seedOk (truth: float) (e: float) = abs (e - truth) <= max 0.08 (0.15 * truth)

let tasks = rows |> Array.map (fun r -> r.Task) |> Array.distinct
let header = String.Join(" | ", [| for s in 1 .. seeds -> sprintf "seed %d" s |])
printfn "| task | truth | %s | mean ± sd | mean passes | every seed within max(0.08, 0.15·truth) |" header
printfn "|---|---|%s---|---|---|" (String.replicate seeds "---|")
let mutable complete, passMean, passAll, perSeed = 0, 0, 0, Array.zeroCreate<int> seeds
let incomplete = Collections.Generic.List<string>()
for t in tasks do
    let byTask = rows |> Array.filter (fun r -> r.Task = t)
    let get s = byTask |> Array.tryFind (fun r -> r.Seed = s)
    let es = [| for s in 1 .. seeds -> get s |]
    if es |> Array.forall Option.isSome then
        let truth = es.[0].Value.GroundTruth
        let v = es |> Array.map (fun r -> r.Value.Estimate)
        let mean = Array.average v
        let sd = if seeds > 1 then sqrt ((v |> Array.sumBy (fun e -> (e - mean) ** 2.0)) / float (seeds - 1)) else nan
        let ok = Bench.succeeded truth mean
        let all = v |> Array.forall (seedOk truth)
        complete <- complete + 1
        if ok then passMean <- passMean + 1
        if all then passAll <- passAll + 1
        v |> Array.iteri (fun i e -> if Bench.succeeded truth e then perSeed.[i] <- perSeed.[i] + 1)
        let cells = String.Join(" | ", v |> Array.map (fun e -> f e + (if seedOk truth e then "" else " *")))
        printfn "| `%s` | %s | %s | %s ± %s | %s | %s |" t (f truth) cells (f mean) (f sd) (if ok then "✓" else "✗") (if all then "✓" else "✗")
    else incomplete.Add t
printfn ""
printfn "%s, %d complete tasks: mean passes %d, every seed within max(0.08, 0.15·truth) %d; single seeds passing: %s" estimator complete passMean passAll (String.Join(", ", perSeed |> Array.mapi (fun i k -> sprintf "seed %d %d" (i + 1) k)))
if incomplete.Count > 0 then printfn "incomplete (not every seed yet): %s" (String.Join(", ", incomplete))
