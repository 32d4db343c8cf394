// The exact mean pointwise MI of the Student-t benchmark tasks on the rows an estimate is scored
// on: for a multivariate t with identity dispersion the densities of (X, Y), X and Y are known,
// so log p(x, y) − log p(x) − log p(y) is exact per row. Its mean over the held-out rows of the
// default split (Data.split seed 0.2, as MMG scores them) is what a perfect estimator would
// report on those rows; the difference from the task's truth is the luck of the sample, which no
// estimator can remove. Build first: dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/student-sample-mi.fsx -- [SEEDS, default 1,2,3]
#load "references.fsx"
#r "../src/Mmg.Cli/bin/Release/net10.0/MathNet.Numerics.dll"
open System
open Mmg.Core

let args = fsi.CommandLineArgs |> Array.skip 1
let seeds = if args.Length > 0 then args.[0].Split ',' |> Array.map int else [| 1; 2; 3 |]
let lg = MathNet.Numerics.SpecialFunctions.GammaLn
// log density of a d-dimensional t (ν, identity dispersion) at squared norm sq
let logt (nu: float) (d: int) (sq: float) =
    lg ((nu + float d) / 2.0) - lg (nu / 2.0) - (float d / 2.0) * log (nu * Math.PI) - ((nu + float d) / 2.0) * log (1.0 + sq / nu)

printfn "task,seed,truth,all_rows,test_rows"
for task in Tasks.all |> List.filter (fun t -> t.Id.Contains "student-identity") do
    let parts = task.Id.Split '-'
    let d, nu = int parts.[parts.Length - 3], float parts.[parts.Length - 1]
    // the asinh tasks are asinh of the same draws: undo it (the pointwise MI is invariant anyway)
    let inv = if task.Id.StartsWith "asinh" then Math.Sinh else id
    for seed in seeds do
        let x, y = task.Sample 10000 seed
        let _, test = Data.split seed 0.2 10000
        let mean (rows: int[]) =
            rows |> Array.averageBy (fun i ->
                let sx = Seq.sum (seq { for j in 0 .. d - 1 -> (inv x.[i, j]) ** 2.0 })
                let sy = Seq.sum (seq { for j in 0 .. d - 1 -> (inv y.[i, j]) ** 2.0 })
                logt nu (2 * d) (sx + sy) - logt nu d sx - logt nu d sy)
        printfn "%s,%d,%.4f,%.4f,%.4f" task.Id seed task.TrueMI (mean [| 0 .. 9999 |]) (mean test)
