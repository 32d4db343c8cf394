// Mmg's KSG on a CSV written by data.py, timed in-process (k = 5, seed 0, the estimator's
// defaults). Usage, after `dotnet build Mmg.sln -c Release`:
//   dotnet fsi --optimize+ build/ksg-speed/mmg_ksg.fsx data.csv REPEATS
// Prints the estimate, the median and minimum wall seconds of one estimate over REPEATS runs (after
// one warm-up), and the process CPU seconds per estimate (all threads).
#r "../../src/Mmg.Cli/bin/Release/net10.0/TorchSharp.dll"
#r "../../src/Mmg.Cli/bin/Release/net10.0/Mmg.Core.dll"
open System
open System.Diagnostics
open System.Globalization
open Mmg.Core

let args = fsi.CommandLineArgs |> Array.skip 1
let path, repeats = args.[0], int args.[1]
let rows =
    IO.File.ReadAllLines path
    |> Array.skip 1
    |> Array.map (fun l -> l.Split(',') |> Array.map (fun s -> Double.Parse(s, CultureInfo.InvariantCulture)))
let x = Array2D.init rows.Length 1 (fun i _ -> rows.[i].[0])
let y = Array2D.init rows.Length 1 (fun i _ -> rows.[i].[1])
let est = Classical.ksg EstimatorOptions.Default
let mutable r = est.Estimate(x, y, null)
let proc = Process.GetCurrentProcess()
let cpu0 = proc.TotalProcessorTime
let times =
    Array.init repeats (fun _ ->
        let w = Stopwatch.StartNew()
        r <- est.Estimate(x, y, null)
        w.Elapsed.TotalSeconds)
proc.Refresh()
let cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds / float repeats
Array.sortInPlace times
printfn "mmg estimate %.6f median %.4f s min %.4f s wall, %.4f s cpu per estimate, over %d (threads %s)" r.Estimate times.[repeats / 2] times.[0] cpu repeats r.Settings.["threads"]
