// Calibration and power of MMG's permutation test of independence (MmgModel.PermutationTest).
// Each run: fresh data, an MMG model trained on 80% of the rows (the `quick` profile unless
// steps= is given), the test on the other 20% with 99 permutations; one CSV row per run,
// resumable. Build first: dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/independence-mmg.fsx -- OUT.csv CASE[,CASE...] RUNS ROWS [STEPS]
// CASE: indep-gauss-D (D×D independent Gaussians), indep-unif-exp (uniform × exponential), or
// a benchmark task id (dependent data, for power).
#load "references.fsx"
open System
open System.IO
open System.Collections.Generic
open TorchSharp
open Mmg.Core

let args = fsi.CommandLineArgs |> Array.skip 1
let out, cases, runs, rows = args.[0], args.[1].Split ',', int args.[2], int args.[3]
let steps = if args.Length > 4 then int args.[4] else 0

let sample (case: string) (n: int) (seed: int) =
    let rng = Random(seed * 7919 + 17)
    let gauss () = Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2.0 * Math.PI * rng.NextDouble())
    if case = "indep-unif-exp" then
        Array2D.init n 1 (fun _ _ -> rng.NextDouble()), Array2D.init n 1 (fun _ _ -> -Math.Log(1.0 - rng.NextDouble()))
    elif case.StartsWith "indep-gauss-" then
        let d = int (case.Substring "indep-gauss-".Length)
        Array2D.init n d (fun _ _ -> gauss ()), Array2D.init n d (fun _ _ -> gauss ())
    else (Tasks.find case).Sample n seed

let done' =
    if File.Exists out then File.ReadAllLines out |> Array.skip 1 |> Array.map (fun l -> let f = l.Split ',' in f.[0], int f.[1]) |> Set.ofArray
    else Set.empty
if not (File.Exists out) then File.WriteAllText(out, "case,run,rows,steps,p_value,statistic,estimate\n")
torch.set_num_threads 1
for case in cases do
    for run in 1 .. runs do
        if not (done'.Contains(case, run)) then
            let x, y = sample case rows (1000 + run)
            let train, test = Data.split run 0.2 rows
            let pick (r: int[]) (m: float[,]) = Array2D.init r.Length (Array2D.length2 m) (fun i j -> m.[r.[i], j])
            let options = { EstimatorOptions.Default with Seed = run; Profile = "quick"; Steps = steps; BatchSize = 128 }
            use model = MmgEstimator("mmg-debiased", options).Fit(pick train x, pick train y, null)
            let p, t = model.PermutationTest(pick test x, pick test y, 99, run)
            let ev = model.Evaluate(pick test x, pick test y, 2, run, "", 8)
            let line = sprintf "%s,%d,%d,%d,%.4f,%.5f,%.5f" case run rows steps p t ev.MmgDebiased.Mean
            File.AppendAllText(out, line + "\n")
            printfn "%s" line
