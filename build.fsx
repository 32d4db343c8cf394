// Scripted experiments for Mmg. Run:  dotnet fsi build.fsx -- <target> [<target> ...]
// Targets chain: clean → build → test → experiments. Every experiment calls the `mmg` CLI, so the
// maths lives in one place (src/Mmg.Core) and scripts only orchestrate.
open System
open System.Diagnostics

let root = __SOURCE_DIRECTORY__

let run (exe: string) (args: string) =
    printfn "> %s %s" exe args
    let psi = ProcessStartInfo(exe, args, WorkingDirectory = root, UseShellExecute = false)
    use p = Process.Start psi
    p.WaitForExit()
    if p.ExitCode <> 0 then failwithf "'%s %s' failed with exit code %d" exe args p.ExitCode

/// Runs the mmg CLI (Release build).
let mmg (args: string) = run "dotnet" (sprintf "run --project src/Mmg.Host -c Release --no-build -- %s" args)

let targets : (string * string list * (unit -> unit)) list =
    [ "clean", [], (fun () -> run "dotnet" "clean Mmg.sln -c Release")
      "build", [], (fun () -> run "dotnet" "build Mmg.sln -c Release")
      "test", [ "build" ], (fun () -> run "dotnet" "test Mmg.sln -c Release --no-build")
      "demo", [ "build" ], (fun () -> mmg "gaussian-mi --rho 0.75") ]

let rec execute (done': Collections.Generic.HashSet<string>) (name: string) =
    if done'.Add name then
        match targets |> List.tryFind (fun (n, _, _) -> n = name) with
        | None -> failwithf "unknown target '%s'; known: %s" name (targets |> List.map (fun (n, _, _) -> n) |> String.concat ", ")
        | Some(_, deps, action) ->
            for d in deps do execute done' d
            printfn "== %s" name
            action ()

let requested = fsi.CommandLineArgs |> Array.skip 1 |> Array.filter (fun a -> a <> "--") |> List.ofArray
let seen = Collections.Generic.HashSet<string>()
for t in (if requested.IsEmpty then [ "test" ] else requested) do execute seen t
