// Coverage of MMG's intervals: for each task and seed, one cross-fitted run (option folds=K)
// of the default estimator, its reported 95% interval (the forms bracket widened by the
// cross-fit half-width: training, data and Monte Carlo variability; ModelEvaluation.interval) and,
// from the same run, the Monte Carlo interval ±1.96 s.e. of the pooled estimate. Appends one CSV row per run; rows already there are skipped (resumable).
// Build first: dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/coverage.fsx -- OUT.csv TASK[,TASK...] SEED[,SEED...] SAMPLES STEPS [FOLDS]
// (quick profile with STEPS fixed-phase steps; the adaptive phase gets half as many).
#load "references.fsx"
open System
open System.IO
open System.Collections.Generic
open Mmg.Core
open TorchSharp

let args = fsi.CommandLineArgs |> Array.skip 1
let out, tasks, seeds = args.[0], args.[1].Split ',', args.[2].Split ',' |> Array.map int
let samples, steps = int args.[3], int args.[4]
let folds = if args.Length > 5 then int args.[5] else 5
let header = "task,seed,samples,steps,folds,truth,estimate,std_error,mc_low,mc_high,cf_low,cf_high,seconds"
let doneRuns =
    if File.Exists out then File.ReadAllLines out |> Array.skip 1 |> Array.map (fun l -> let f = l.Split ',' in f.[0], f.[1], f.[2], f.[3], f.[4]) |> Set.ofArray
    else Set.empty
if not (File.Exists out) then File.WriteAllText(out, header + "\n")
torch.set_num_threads 1
for t in tasks do
    for seed in seeds do
        let key = t, string seed, string samples, string steps, string folds
        if not (doneRuns.Contains key) then
            let task = Tasks.find t
            let x, y = task.Sample samples seed
            let extra = Dictionary<string, string>()
            extra.["folds"] <- string folds
            let options = { EstimatorOptions.Default with Seed = seed; Profile = "quick"; Steps = steps; Extra = extra }
            let r = (MmgEstimator(Registry.defaultName, options) :> IMiEstimator).Estimate(x, y, null)
            let i = r.Interval.Value
            let line =
                sprintf "%s,%d,%d,%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.1f" t seed samples steps folds task.TrueMI r.Estimate r.StdError
                    (r.Estimate - 1.96 * r.StdError) (r.Estimate + 1.96 * r.StdError) i.Low i.High r.Seconds
            File.AppendAllText(out, line + "\n")
            printfn "%s" line
