// Calibration and power of the permutation independence test (docs/independence.md).
// A benchmark, not a test. After `dotnet build Mmg.sln -c Release`:
//   dotnet fsi --optimize+ build/independence/calibration.fsx [runs] [ksg permutations] [cca permutations] [sections]
// (defaults 100, 19, 99 and "cca,ksg,power"; sections picks the tables to run: with B = 19 or 99 the level of p <= 0.05 is exactly 0.05; KSG in up
// to 11 joint dimensions costs ~0.3 s of CPU per estimate at n = 1000, hence its smaller B).
// Prints markdown tables: the false-positive rate at alpha = 0.05 on independent data (dims
// 1-10, Gaussian and non-Gaussian) with its binomial standard error and the acceptance band
// alpha ± 2 s.e., then the power on weak-dependence data. Every run is seeded.
#r "../../src/Mmg.Cli/bin/Release/net10.0/TorchSharp.dll"
#r "../../src/Mmg.Cli/bin/Release/net10.0/Mmg.Core.dll"
open System
open System.Diagnostics
open Mmg.Core

let args = fsi.CommandLineArgs |> Array.skip 1
let runs = if args.Length > 0 then int args.[0] else 100
let ksgPerms = if args.Length > 1 then int args.[1] else 19
let ccaPerms = if args.Length > 2 then int args.[2] else 99
let permsFor name = if name = "ksg" then ksgPerms else ccaPerms
let sections = (if args.Length > 3 then args.[3] else "cca,ksg,power").Split(',')
let alpha = 0.05

let gauss (rng: Random) =
    let u1, u2 = 1.0 - rng.NextDouble(), rng.NextDouble()
    Math.Sqrt(-2.0 * Math.Log u1) * Math.Cos(2.0 * Math.PI * u2)

/// Independent x (n×dx) and y (n×dy): Gaussian, or non-Gaussian (x: exponential, y: cubed normal).
let independent (rng: Random) (n: int) (dx: int) (dy: int) (gaussian: bool) =
    let x = Array2D.init n dx (fun _ _ -> if gaussian then gauss rng else -Math.Log(1.0 - rng.NextDouble()))
    let y = Array2D.init n dy (fun _ _ -> let g = gauss rng in if gaussian then g else g * g * g)
    x, y

let test name seed (x: float[,]) (y: float[,]) =
    Independence.test name { EstimatorOptions.Default with Seed = seed } (permsFor name) x y

printfn "False-positive rate at alpha = %.2f (%d runs per row; dx cycles 1..10; dy = 1 for ksg, cycles 10..1 for cca):" alpha runs
printfn ""
printfn "| statistic | permutations | n | data | rejections | rate | binomial s.e. | alpha ± 2 s.e. | inside | seconds |"
printfn "|---|---|---|---|---|---|---|---|---|---|"
let se = Math.Sqrt(alpha * (1.0 - alpha) / float runs)
for name, n in [ "cca", 1000; "cca", 10000; "ksg", 1000 ] |> List.filter (fun (name, _) -> Array.contains name sections) do
    for gaussian in [ true; false ] do
        let watch = Stopwatch.StartNew()
        let rejected =
            [| for run in 0 .. runs - 1 ->
                let rng = Random(1000 * run + (if gaussian then 1 else 2) + n)
                let dx = 1 + run % 10
                let dy = if name = "ksg" then 1 else 10 - run % 10
                let x, y = independent rng n dx dy gaussian
                (test name run x y).PValue <= alpha |]
            |> Array.filter id
            |> Array.length
        let rate = float rejected / float runs
        let inside = abs (rate - alpha) <= 2.0 * se
        printfn "| %s | %d | %d | %s | %d / %d | %.3f | %.4f | [%.3f, %.3f] | %s | %.0f |" name (permsFor name) n (if gaussian then "Gaussian" else "exponential / cubed normal") rejected runs rate se (alpha - 2.0 * se) (alpha + 2.0 * se) (if inside then "yes" else "NO") watch.Elapsed.TotalSeconds

/// Weak-dependence data for the power table: (label, sampler n seed -> x, y, true MI or NaN).
let weakTasks : (string * (int -> int -> float[,] * float[,]) * float) list =
    let bivariate mi =
        let rho = Math.Sqrt(1.0 - Math.Exp(-2.0 * mi))
        fun n seed ->
            let rng = Random seed
            let x = Array2D.init n 1 (fun _ _ -> gauss rng)
            let y = Array2D.init n 1 (fun i _ -> rho * x.[i, 0] + Math.Sqrt(1.0 - rho * rho) * gauss rng)
            x, y
    let task id = let t = Tasks.find id in (fun n seed -> t.Sample n seed), t.TrueMI
    [ yield "Gaussian 1×1, I = 0.005", bivariate 0.005, 0.005
      yield "Gaussian 1×1, I = 0.01", bivariate 0.01, 0.01
      yield "Gaussian 1×1, I = 0.02", bivariate 0.02, 0.02
      yield "y = x² + N(0, 2²) (no correlation)",
            (fun n seed ->
                let rng = Random seed
                let x = Array2D.init n 1 (fun _ _ -> gauss rng)
                x, Array2D.init n 1 (fun i _ -> x.[i, 0] * x.[i, 0] + 2.0 * gauss rng)),
            nan
      for id in [ "student-identity-3-3-3"; "student-identity-5-5-3" ] do
          let s, mi = task id
          yield id + " (uncorrelated; a shared scale makes it dependent)", s, mi ]

let powerRuns = max 20 (runs / 5)
if Array.contains "power" sections then
  printfn ""
  printfn "Power at alpha = %.2f (%d runs per cell; %d permutations for ksg, %d for cca):" alpha powerRuns ksgPerms ccaPerms
  printfn ""
  printfn "| data | true MI (nats) | ksg, n = 1000 | cca, n = 1000 | cca, n = 10000 |"
  printfn "|---|---|---|---|---|"
  for label, sample, mi in weakTasks do
      let power name n =
          let r = [| for run in 0 .. powerRuns - 1 -> let x, y = sample n (7919 * run + n) in (test name run x y).PValue <= alpha |]
          float (r |> Array.filter id |> Array.length) / float powerRuns
      printfn "| %s | %s | %.2f | %.2f | %.2f |" label (if Double.IsNaN mi then "—" else sprintf "%.3f" mi) (power "ksg" 1000) (power "cca" 1000) (power "cca" 10000)
