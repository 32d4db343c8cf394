// Coverage of the reported interval in `mmg bench` results, computed from the rows the bench
// wrote: for each (task, seed) with the five MMG variants, the headline variant's interval as
// `mmg estimate` reports it with one split (Mmse.formsInterval through ModelEvaluation.interval:
// the bracket of its model's difference and orthogonal forms ± 1.96 s.e.), next to the Monte
// Carlo interval alone (estimate ± 1.96 s.e.), and whether each contains the truth. Prints one
// line per run, then the coverage over all runs and over the runs that pass the benchmark rule
// (Bench.succeeded on the single run); writes the per-run table as CSV when OUT is given.
// Build first: dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/bench-coverage.fsx -- RESULTS.csv[,RESULTS.csv...] [HEADLINE] [OUT.csv]
// (HEADLINE defaults to mmg-debiased; any of the five MMG or the five MMG-CMI variants, e.g.
// mmg-cmi-debiased for `mmg cmi-bench` results.)
#load "references.fsx"
#r "../src/Mmg.Cli/bin/Release/net10.0/Deedle.dll"
#r "../src/Mmg.Cli/bin/Release/net10.0/Mmg.Experiments.dll"
open System
open System.IO
open System.Globalization
open Mmg.Core
open Mmg.Experiments

let args = fsi.CommandLineArgs |> Array.skip 1
if args.Length < 1 then failwith "usage: dotnet fsi scripts/bench-coverage.fsx -- RESULTS.csv[,RESULTS.csv...] [HEADLINE] [OUT.csv]"
let files = args.[0].Split ','
let headline = if args.Length > 1 then args.[1] else "mmg-debiased"
let out = if args.Length > 2 then Some args.[2] else None
let names = if headline.StartsWith "mmg-cmi" then CmiEstimator.Variants else MmgEstimator.Variants
let head = Array.IndexOf(names, headline)
if head < 0 then failwithf "HEADLINE must be one of %s, got '%s'." (String.Join(", ", Array.append MmgEstimator.Variants CmiEstimator.Variants)) headline

let rows = files |> Array.collect Bench.readRows |> Bench.latest |> Array.filter (fun r -> r.Status = "ok")
let runs =
    rows
    |> Array.groupBy (fun r -> r.Task, r.Seed)
    |> Array.choose (fun ((task, seed), rs) ->
        let byName = rs |> Array.map (fun r -> r.Estimator, r) |> dict
        if names |> Array.forall byName.ContainsKey then
            let variants = names |> Array.map (fun n -> { Name = n; Estimate = byName.[n].Estimate; StdError = byName.[n].StdError })
            Some(task, seed, byName.[headline].GroundTruth, variants)
        else None)
    |> Array.sortBy (fun (task, seed, _, _) -> task, seed)

let f (v: float) = v.ToString("0.0000", CultureInfo.InvariantCulture)
let table =
    [| for task, seed, truth, variants in runs do
         let e, se = variants.[head].Estimate, variants.[head].StdError
         let i = ModelEvaluation.interval variants head (1.96 * se) "monte-carlo"
         let mc = e - 1.96 * se <= truth && truth <= e + 1.96 * se
         let forms = i.Low <= truth && truth <= i.High
         yield task, seed, truth, e, se, i.Low, i.High, mc, forms, Bench.succeeded truth e |]

let lines =
    [ yield "task,seed,truth,estimate,std_error,interval_low,interval_high,mc_contains,interval_contains,passes"
      for task, seed, truth, e, se, lo, hi, mc, forms, pass in table do
          yield String.Join(",", [| task; string seed; f truth; f e; f se; f lo; f hi; string mc; string forms; string pass |]) ]
for l in lines do printfn "%s" l
let count pred (rs: _[]) = rs |> Array.filter pred |> Array.length
let report label (rs: (string * int * float * float * float * float * float * bool * bool * bool)[]) =
    let n = rs.Length
    let mc = rs |> count (fun (_, _, _, _, _, _, _, mc, _, _) -> mc)
    let forms = rs |> count (fun (_, _, _, _, _, _, _, _, c, _) -> c)
    let pct k = if n = 0 then nan else 100.0 * float k / float n
    printfn "%s: %d runs; Monte Carlo interval contains the truth in %d (%.0f%%), the reported (forms) interval in %d (%.0f%%)" label n mc (pct mc) forms (pct forms)
report (sprintf "%s, all runs" headline) table
report (sprintf "%s, runs that pass" headline) (table |> Array.filter (fun (_, _, _, _, _, _, _, _, _, p) -> p))
match out with
| Some path ->
    let tmp = path + ".tmp"
    File.WriteAllLines(tmp, lines)
    File.Move(tmp, path, true)
| None -> ()
