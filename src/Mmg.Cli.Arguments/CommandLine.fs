namespace Mmg.CliArguments

open System
open System.Collections.Generic
open System.Globalization
open Argu

/// The `mmg` grammar (Argu). The host (C#) gets a plain Command record: the subcommand path and
/// the options as text, so no F# type crosses into C#.
module CommandLine =
    type EstimateArgs =
        | Task of id: string
        | Input of csv: string
        | X of columns: string
        | Y of columns: string
        | Z of columns: string
        | Samples of n: int
        | Estimator of name: string
        | Profile of name: string
        | Steps of n: int
        | Seed of seed: int
        | Device of device: string
        | Threads of n: int
        | Json of path: string
        | Plot of png: string
        | Save_Model of dir: string
        | Load_Model of dir: string
        | Pointwise of csv: string
        | Folds of k: int
        | Test of permutations: int
        | Set of options: string
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Task _ -> "a built-in benchmark task id (see `mmg tasks`), e.g. 1v1-normal-0.75."
                | Input _ -> "a CSV file with a header row; by default columns X* are x and Y* are y."
                | X _ -> "comma-separated column names for x (with --input)."
                | Y _ -> "comma-separated column names for y (with --input)."
                | Z _ -> "comma-separated conditioning columns for I(X;Y|Z) (with --input; default: the Z<digits> columns if any; 'none' to ignore them)."
                | Samples _ -> "number of samples drawn from --task (default: the profile's, 10000)."
                | Estimator _ -> "estimator name (default mmg-debiased); see `mmg estimators`."
                | Profile _ -> "default | paper | quick (neural estimators)."
                | Steps _ -> "training steps (overrides the profile)."
                | Seed _ -> "random seed (default 0); runs with the same seed repeat exactly."
                | Device _ -> "cpu | cuda (default cpu)."
                | Threads _ -> "CPU threads for torch (default 1: fastest for these small networks on 2 cores; try more for wide networks on many cores)."
                | Json _ -> "write the result as JSON to this file, or '-' for stdout."
                | Plot _ -> "write the MMSE curves with the gap shaded to this PNG (MMG estimators)."
                | Save_Model _ -> "save the trained MMG or MMG-CMI model to this directory."
                | Load_Model _ -> "estimate with a saved MMG or MMG-CMI model (no training; all rows are test rows)."
                | Pointwise _ -> "write pointwise MI for every input row to this CSV (MMG estimators; cross-fitted: --folds models, 5 unless given)."
                | Folds _ -> "K-fold cross-fitting (MMG, K ≥ 2): K models, every row scored by a model that did not train on it, and an interval over the folds (training + data variability); default 1 = one split."
                | Set _ -> "estimator-specific options as key=value, comma-separated, e.g. validation=0,width=128 (docs/estimators.md lists them); a key the estimator does not read is refused."
                | Test _ -> "test independence: permutation test with this many permutations (e.g. 199; MMG: on held-out rows; ksg, cca: on all rows); prints the p-value."

    type TasksArgs =
        | Json of path: string
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Json _ -> "write the task list as JSON to this file, or '-' for stdout."

    type EstimatorsArgs =
        | Json of path: string
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Json _ -> "write the estimator names as JSON to this file, or '-' for stdout."

    type SampleArgs =
        | [<Mandatory>] Task of id: string
        | Samples of n: int
        | Seed of seed: int
        | [<Mandatory>] Out of csv: string
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Task _ -> "benchmark task id."
                | Samples _ -> "number of samples (default 10000)."
                | Seed _ -> "random seed (default 0)."
                | Out _ -> "output CSV (bmi style: X0.., Y0..)."

    type MergeArgs =
        | [<MainCommand; Mandatory>] Dirs of dir: string list
        | [<Mandatory>] Out of dir: string
        | Allow_Partial
        | Allow_Version_Change
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Dirs _ -> "shard output directories to merge (read only)."
                | Out _ -> "directory for the merged results (not one of the shards)."
                | Allow_Partial -> "merge even when shards are missing or incomplete (exit 0/3 instead of 1)."
                | Allow_Version_Change -> "merge shards made by different mmg or TorchSharp versions."

    type BenchArgs =
        | [<CliPrefix(CliPrefix.None)>] Merge of ParseResults<MergeArgs>
        | Tasks of ids: string
        | Estimators of names: string
        | Seeds of k: int
        | Profile of name: string
        | Samples of n: int
        | Steps of n: int
        | Device of device: string
        | Threads of n: int
        | Out of dir: string
        | Shard of spec: string
        | Shard_Count of n: int
        | Allow_Version_Change
        | Speed
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Merge _ -> "join the results of several shards."
                | Tasks _ -> "comma-separated task ids (MI or CMI tasks, not both), 'all' (the 40 MI tasks) or 'cmi' (the CMI tasks) (default all)."
                | Estimators _ -> "comma-separated estimator names, or 'all' (default mmg-debiased; mmg-cmi-orthogonal-adaptive for CMI tasks)."
                | Seeds _ -> "number of seeds per (task, estimator) (default 1)."
                | Profile _ -> "default | paper | quick."
                | Samples _ -> "samples per task (default: the profile's)."
                | Steps _ -> "training steps (overrides the profile)."
                | Device _ -> "cpu | cuda."
                | Threads _ -> "CPU threads for torch (default 1)."
                | Out _ -> "output directory (results.csv, manifest.json, summary.csv, heatmap.png); a rerun resumes; '{shard}' becomes the shard index."
                | Shard _ -> "i/n: shard i (0-based) of n, balanced by estimated cost, for array jobs; 'auto' reads SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX; merge with `mmg bench merge`."
                | Shard_Count _ -> "number of shards for --shard auto (else MMG_SHARD_COUNT or SLURM_ARRAY_TASK_COUNT)."
                | Allow_Version_Change -> "resume an --out made by another mmg or TorchSharp version."
                | Speed -> "measure throughput (training it/s, KSG time) instead of accuracy; writes docs-ready numbers."

    type HighMiArgs =
        | Estimators of names: string
        | Seeds of k: int
        | Profile of name: string
        | Samples of n: int
        | Steps of n: int
        | Mi of values: string
        | Transforms of names: string
        | Device of device: string
        | Threads of n: int
        | Out of dir: string
        | Shard of spec: string
        | Shard_Count of n: int
        | Allow_Version_Change
        | Figure_Only
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Estimators _ -> "comma-separated estimator names (default mmg-adaptive,mmg-orthogonal-adaptive,mmg-debiased)."
                | Seeds _ -> "seeds per point (default 1)."
                | Profile _ -> "default | paper | quick."
                | Samples _ -> "samples per task (default: the profile's)."
                | Steps _ -> "training steps (overrides the profile)."
                | Mi _ -> "comma-separated true MI values in nats (default 1,2.5,5,7.5,10,12.5,15)."
                | Transforms _ -> "comma-separated: none,half_cube,spiral (default all three)."
                | Device _ -> "cpu | cuda."
                | Threads _ -> "CPU threads for torch (default 1)."
                | Out _ -> "output directory (results.csv, manifest.json, highmi.png); a rerun resumes; '{shard}' becomes the shard index."
                | Shard _ -> "i/n or auto, as for `mmg bench`; merge with `mmg bench merge`, then --figure-only."
                | Shard_Count _ -> "number of shards for --shard auto."
                | Allow_Version_Change -> "resume an --out made by another mmg or TorchSharp version."
                | Figure_Only -> "only redraw the figure from results.csv."

    type ConsistencyArgs =
        | Test of name: string
        | Estimators of names: string
        | Seeds of k: int
        | Profile of name: string
        | Steps of n: int
        | Images of n: int
        | Data of dir: string
        | Device of device: string
        | Threads of n: int
        | Out of dir: string
        | Shard of spec: string
        | Shard_Count of n: int
        | Allow_Version_Change
        | Quick
        | Figure_Only
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Test _ -> "baseline | dpi | additivity | all (default all)."
                | Estimators _ -> "comma-separated estimator names (default mmg-debiased)."
                | Seeds _ -> "seeds (default 1)."
                | Profile _ -> "default | paper | quick."
                | Steps _ -> "training steps of the MI estimator (overrides the profile)."
                | Images _ -> "number of MNIST images used."
                | Data _ -> "folder with the MNIST IDX files (default data/cache/mnist; fetch with data/fetch-mnist.sh)."
                | Device _ -> "cpu | cuda."
                | Threads _ -> "CPU threads for torch (default 1)."
                | Out _ -> "output directory (results.csv, jobs/, manifest.json, consistency.png); a rerun resumes; '{shard}' becomes the shard index."
                | Shard _ -> "i/n or auto, as for `mmg bench`; merge by copying the shards' jobs/*.csv into one folder, then --figure-only."
                | Shard_Count _ -> "number of shards for --shard auto."
                | Allow_Version_Change -> "resume an --out made by another mmg or TorchSharp version."
                | Quick -> "a small synthetic run that tests the pipeline, not accuracy."
                | Figure_Only -> "only redraw the figure from results.csv."

    type CiTestArgs =
        | Tasks of ids: string
        | Input of csv: string
        | X of columns: string
        | Y of columns: string
        | Z of columns: string
        | Runs of n: int
        | Samples of n: int
        | Permutations of n: int
        | K of k: int
        | Kperm of k: int
        | Alpha of alpha: float
        | Seed of seed: int
        | Out of dir: string
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Tasks _ -> "calibration: comma-separated CMI task ids, or 'cmi' for all (default cmi)."
                | Input _ -> "test one CSV instead (columns as for estimate; Z<digits> by default)."
                | X _ -> "x columns (with --input)."
                | Y _ -> "y columns (with --input)."
                | Z _ -> "z columns (with --input)."
                | Runs _ -> "calibration: independent data sets per task (default 100)."
                | Samples _ -> "calibration: rows per data set (default 500)."
                | Permutations _ -> "local permutations per test (default 99)."
                | K _ -> "neighbours of the KSG-CMI statistic (default 5)."
                | Kperm _ -> "z-neighbours among which y is permuted (default 5)."
                | Alpha _ -> "level (default 0.05)."
                | Seed _ -> "random seed (default 0)."
                | Out _ -> "calibration: directory for citest.csv (one row per run) and summary.csv."

    type GaussianArgs =
        | Rho of rho: float
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Rho _ -> "correlation of the bivariate normal (default 0.75)."

    type MmgArgs =
        | [<CliPrefix(CliPrefix.None)>] Estimate of ParseResults<EstimateArgs>
        | [<CliPrefix(CliPrefix.None)>] Tasks of ParseResults<TasksArgs>
        | [<CliPrefix(CliPrefix.None)>] Estimators of ParseResults<EstimatorsArgs>
        | [<CliPrefix(CliPrefix.None)>] Sample of ParseResults<SampleArgs>
        | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>
        | [<CliPrefix(CliPrefix.None)>] Highmi of ParseResults<HighMiArgs>
        | [<CliPrefix(CliPrefix.None)>] Consistency of ParseResults<ConsistencyArgs>
        | [<CliPrefix(CliPrefix.None)>] Gaussian_Mi of ParseResults<GaussianArgs>
        | [<CliPrefix(CliPrefix.None)>] Citest of ParseResults<CiTestArgs>
        | Verbose
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Estimate _ -> "estimate I(X;Y), or I(X;Y|Z) given --z / Z columns / a CMI task, from a CSV, a benchmark task, or (no input) the bundled sample."
                | Tasks _ -> "list the benchmark tasks with their true MI."
                | Estimators _ -> "list the estimators."
                | Sample _ -> "write samples of a benchmark task to CSV."
                | Bench _ -> "run estimators over benchmark tasks and seeds (resumable, shardable)."
                | Highmi _ -> "the high-MI experiment (paper §5.2)."
                | Consistency _ -> "the MNIST self-consistency tests (paper §5.3)."
                | Gaussian_Mi _ -> "closed-form MI of a bivariate normal."
                | Citest _ -> "conditional-independence test (KSG-CMI, local permutations) of a CSV, or its calibration on the CMI tasks."
                | Verbose -> "on an error, print the full exception with its stack trace (also: environment MMG_VERBOSE=1); may follow the command."

    /// A parsed command line: the subcommand path (e.g. ["bench"; "merge"]), options by their
    /// long name without dashes (e.g. "save-model"), flags with value "true", and positional
    /// lists joined by '\n'.
    type Command =
        { Path: string[]
          Options: IReadOnlyDictionary<string, string> }

    /// Thrown for bad command lines, with Argu's message (and usage when asked for help).
    exception UsageException of message: string * isHelp: bool

    let private parser = lazy (ArgumentParser.Create<MmgArgs>(programName = "mmg"))

    /// An option's value as text: floats round-trip ("R"), everything in the invariant culture
    /// (the formatting of Mmg.Core's Estimation.text, without a dependency on the core).
    let private text (v: obj) =
        match v with
        | :? float as f -> f.ToString("R", CultureInfo.InvariantCulture)
        | :? float32 as f -> f.ToString("R", CultureInfo.InvariantCulture)
        | null -> ""
        | o -> Convert.ToString(o, CultureInfo.InvariantCulture)

    let private collect (results: ParseResults<'T>) (options: Dictionary<string, string>) =
        let p = results.Parser
        for a in results.GetAllResults() do
            let info = p.GetArgumentCaseInfo(a)
            let name = info.Name.Value.TrimStart('-')
            let fields = Reflection.FSharpValue.GetUnionFields(a, typeof<'T>) |> snd
            let name = if name.StartsWith "<" then "dirs" else name
            match fields with
            | [||] -> options.[name] <- "true"
            | [| :? (string list) as l |] -> options.[name] <- String.Join("\n", l)
            | [| :? ParseResults<MergeArgs> |] -> ()
            | [| v |] -> options.[name] <- text v
            | many -> options.[name] <- String.Join(",", many |> Array.map text)

    /// The first line of an Argu error without its "ERROR: " prefix, plus where to find the usage
    /// (taken from the "USAGE: mmg <command>" line that follows it).
    let private oneLine (message: string) =
        let lines = message.Split('\n') |> Array.map (fun l -> l.TrimEnd())
        let first = lines.[0].Trim()
        let first = if first.StartsWith("ERROR: ", StringComparison.Ordinal) then first.Substring 7 else first
        let command =
            lines
            |> Array.tryPick (fun l ->
                let l = l.Trim()
                if l.StartsWith("USAGE: ", StringComparison.Ordinal) then
                    let rest = l.Substring 7
                    let cut = rest.IndexOf(" [", StringComparison.Ordinal)
                    Some((if cut > 0 then rest.Substring(0, cut) else rest).Trim())
                else None)
            |> Option.defaultValue "mmg"
        sprintf "%s (see `%s --help`)." (first.TrimEnd('.')) command

    /// Parses argv. Raises UsageException for errors (one line) and for --help (with the usage text).
    let parse (argv: string[]) : Command =
        if isNull argv then nullArg "argv"
        let results =
            try parser.Value.ParseCommandLine(argv, raiseOnUsage = true)
            with :? ArguParseException as e ->
                if e.ErrorCode = ErrorCode.HelpText then raise (UsageException(e.Message.TrimEnd(), true))
                else raise (UsageException(oneLine e.Message, false))
        let options = Dictionary<string, string>()
        let path =
            match results.TryGetSubCommand() with
            | None ->
                raise (UsageException("no command given; use one of estimate, tasks, estimators, sample, bench, highmi, consistency, gaussian-mi, citest (see `mmg --help`).", false))
            | Some sub ->
            match sub with
            | Estimate r -> collect r options; [| "estimate" |]
            | Tasks r -> collect r options; [| "tasks" |]
            | Estimators r -> collect r options; [| "estimators" |]
            | Sample r -> collect r options; [| "sample" |]
            | Bench r ->
                match r.TryGetResult BenchArgs.Merge with
                | Some m -> collect m options; [| "bench"; "merge" |]
                | None -> collect r options; [| "bench" |]
            | Highmi r -> collect r options; [| "highmi" |]
            | Consistency r -> collect r options; [| "consistency" |]
            | Gaussian_Mi r -> collect r options; [| "gaussian-mi" |]
            | Citest r -> collect r options; [| "citest" |]
            | Verbose -> raise (UsageException("--verbose needs a command (see `mmg --help`).", false))
        { Path = path; Options = options }

    /// The top-level usage text.
    let usage () = parser.Value.PrintUsage()
