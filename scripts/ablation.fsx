// Accuracy ablation of the MMG estimator: runs tasks × seeds × configurations and appends one CSV
// row per run (all four variants and the debiased combination) to the output file, skipping runs
// already there (resumable; a run is config, task, seed and sample count). Build first: dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/ablation.fsx -- OUT.csv CONFIG TASK[,TASK...] SEED[,SEED...] [SAMPLES]
// CONFIG is name:key=value;key=value (EstimatorOptions.Extra, plus steps=N, profile=NAME,
// batch=N, lr=X, test-fraction=F, swap=1 to diffuse Y given X instead of X given Y),
// e.g. "base:linear-base=1" or "plain:linear-base=0". Tasks may be `indep-D-N`-style ids:
// indep-gauss-D (D×D independent Gaussians) and indep-unif-exp (uniform × exponential); and
// highmi-TRANSFORM-MI for the high-MI benchmark's task (e.g. highmi-half_cube-15).
#load "references.fsx"
open System
open System.IO
open System.Collections.Generic
open Mmg.Core
open TorchSharp

let args = fsi.CommandLineArgs |> Array.skip 1
let out, config, tasks, seeds = args.[0], args.[1], args.[2].Split ',', args.[3].Split ',' |> Array.map int
let samplesOverride = if args.Length > 4 then Some (int args.[4]) else None
let name, kv =
    match config.Split(':', 2) with
    | [| n; rest |] -> n, rest.Split(';', StringSplitOptions.RemoveEmptyEntries) |> Array.map (fun s -> let p = s.Split '=' in p.[0], p.[1])
    | _ -> config, [||]
let extra = Dictionary<string, string>()
let mutable steps, profile, batch, lr, testFraction, swap = 0, "default", 0, nan, nan, false
for k, v in kv do
    match k with
    | "steps" -> steps <- int v
    | "profile" -> profile <- v
    | "batch" -> batch <- int v
    | "lr" -> lr <- float v
    | "test-fraction" -> testFraction <- float v
    | "swap" -> swap <- (v = "1")
    | _ -> extra.[k] <- v

let independent (id: string) (n: int) (seed: int) =
    let rng = Random(seed * 7919 + 17)
    let gauss () = Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2.0 * Math.PI * rng.NextDouble())
    if id = "indep-unif-exp" then
        Array2D.init n 1 (fun _ _ -> rng.NextDouble()), Array2D.init n 1 (fun _ _ -> -Math.Log(1.0 - rng.NextDouble()))
    else
        let d = int (id.Substring "indep-gauss-".Length)
        let x = Array2D.init n d (fun _ _ -> gauss ())
        x, Array2D.init n d (fun _ _ -> gauss ())

let done' =
    if File.Exists out then File.ReadAllLines out |> Array.skip 1 |> Array.map (fun l -> let f = l.Split ',' in f.[0], f.[1], f.[2], f.[3]) |> Set.ofArray
    else Set.empty
if not (File.Exists out) then
    File.WriteAllText(out, "config,task,seed,samples,truth,mmg,mmg_adaptive,mmg_orthogonal,mmg_orthogonal_adaptive,se_orth_adaptive,se_diff_adaptive,seconds,adaptive_q,shrinkage,final_lr,mmg_debiased,se_debiased,fixed_step_kept,adapt_step_kept,debiased_scale\n")
let setting (r: EstimatorResult) (key: string) = match r.Settings.TryGetValue key with | true, v -> v | _ -> ""
torch.set_num_threads 1
for t in tasks do
    for seed in seeds do
        let rows = defaultArg samplesOverride 10000
        if not (done'.Contains(name, t, string seed, string rows)) then
            let x, y, truth, n =
                if t.StartsWith "indep" then
                    let n = defaultArg samplesOverride 10000
                    let x, y = independent t n seed
                    x, y, 0.0, n
                else
                    // highmi-TRANSFORM-MI: the high-MI benchmark's sparse 3×3 task (Tasks.highMi) at MI nats
                    let task =
                        if t.StartsWith "highmi-" then
                            let parts = t.Split '-'
                            Tasks.highMi parts.[1] (Tasks.strengthForMi (float parts.[2]))
                        else Tasks.find t
                    let n = defaultArg samplesOverride 10000
                    let x, y = task.Sample n seed
                    x, y, task.TrueMI, n
            let options = { EstimatorOptions.Default with Seed = seed; Profile = profile; Steps = steps; BatchSize = batch; LearningRate = lr; TestFraction = testFraction; Extra = extra }
            let est = MmgEstimator("mmg-orthogonal-adaptive", options)
            let x, y = if swap then y, x else x, y
            let r, m = est.EstimateWithModel(x, y, null, false)
            (m :> IDisposable).Dispose()
            let v i = r.Variants.[i].Estimate
            let line = sprintf "%s,%s,%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.1f,\"%s\",%s" name t seed n truth (v 0) (v 1) (v 2) (v 3) r.Variants.[3].StdError r.Variants.[1].StdError r.Seconds r.Settings.["adaptive_q"] (r.Settings.["regression_shrinkage"]) + sprintf ",%s,%.4f,%.4f" r.Settings.["final_learning_rate"] (if r.Variants.Length > 4 then v 4 else nan) (if r.Variants.Length > 4 then r.Variants.[4].StdError else nan)
                       + sprintf ",%s,%s,%s" (setting r "fixed_step_kept") (setting r "adapt_step_kept") (setting r "debiased_scale")
            File.AppendAllText(out, line + "\n")
            printfn "%s" line
