// Calibration of MMG-CMI's local-permutation test of conditional independence: for each task,
// RUNS fresh data sets (seed r), one MMG-CMI fit each (quick profile, STEPS steps), the test on
// its held-out rows with B permutations; appends "task,run,samples,steps,permutations,truth,
// estimate,p_value,seconds" rows (resumable: runs already in OUT are skipped).
// Build first: dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/citest-mmg.fsx -- OUT.csv TASK[,TASK...] RUNS SAMPLES STEPS PERMUTATIONS
#load "references.fsx"
open System
open System.IO
open System.Collections.Generic
open Mmg.Core
open TorchSharp

let args = fsi.CommandLineArgs |> Array.skip 1
let out, tasks = args.[0], args.[1].Split ','
let runs, samples, steps, permutations = int args.[2], int args.[3], int args.[4], int args.[5]
let doneRuns =
    if File.Exists out then File.ReadAllLines out |> Array.skip 1 |> Array.map (fun l -> let f = l.Split ',' in f.[0], f.[1], f.[2], f.[3], f.[4]) |> Set.ofArray
    else Set.empty
if not (File.Exists out) then File.WriteAllText(out, "task,run,samples,steps,permutations,truth,estimate,p_value,seconds\n")
torch.set_num_threads 1
for t in tasks do
    for r in 1 .. runs do
        if not (doneRuns.Contains(t, string r, string samples, string steps, string permutations)) then
            let task = CmiTasks.find t
            let x, y, z = task.Sample samples r
            let extra = Dictionary<string, string>()
            extra.["permutations"] <- string permutations
            let options = { EstimatorOptions.Default with Seed = r; Profile = "quick"; Steps = steps; Extra = extra }
            let res = (CmiEstimator("mmg-cmi-orthogonal-adaptive", options) :> ICmiEstimator).Estimate(x, y, z, null)
            let line = sprintf "%s,%d,%d,%d,%d,%.4f,%.4f,%.4f,%.1f" t r samples steps permutations task.TrueCMI res.Estimate res.IndependencePValue res.Seconds
            File.AppendAllText(out, line + "\n")
            printfn "%s" line
