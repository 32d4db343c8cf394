namespace Mmg.CliArguments

open System
open System.Collections.Generic
open System.Globalization
open Argu

/// The `mmg` grammar (Argu) and its reading into the typed options of Options.fs: parse hands the
/// host (C#) a Command holding one checked options record of plain .NET types, so no Argu or other
/// F#-only type crosses into C#.
module CommandLine =
    /// The largest --samples accepted by any command: Mmg.Core's Tasks.MaxValues (10⁸ values) over
    /// the 2 columns of the smallest task (tests/Mmg.Host.Tests checks the two agree); a task with
    /// more columns allows fewer, which the command checks against the task.
    [<Literal>]
    let MaxSamples = 50_000_000

    /// The largest --threads accepted.
    [<Literal>]
    let MaxThreads = 1024

    /// The devices --device accepts.
    let private devices = [| "cpu"; "cuda" |]

    /// The profiles --profile accepts.
    let private profiles = [| "default"; "paper"; "quick" |]

    /// Help texts of the options that several commands share. Argu has no way to include one
    /// union's cases in another, so each command's union declares them again; their text, their
    /// checks and their record (TrainingOptions, JobOptions) are written once.
    module private Help =
        let profile = "default | paper | quick."
        let steps = "training steps (overrides the profile)."
        let device = "cpu | cuda."
        let threads = "CPU threads for torch (default 1)."
        let samplesPerTask = "samples per task (default: the profile's)."
        let shardCount = "number of shards for --shard auto."
        let allowVersionChange = "resume an --out made by another mmg or TorchSharp version."
        let seed = "random seed (default 0)."
        let jobSet = "estimator-specific options as key=value, comma-separated, for every job (docs/estimators.md); every estimator of the run must read each key; recorded in manifest.json, so a resume with other options is refused."

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
                | Steps _ -> Help.steps
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
                | Test _ -> "test independence: permutation test with this many permutations (e.g. 199; MMG: on held-out rows; ksg, cca: on all rows; MMG-CMI with Z: y permuted among rows with nearby z); prints the p-value."

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
                | Seed _ -> Help.seed
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
        | Set of options: string
        | Allow_Version_Change
        | Speed
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Merge _ -> "join the results of several shards."
                | Tasks _ -> "comma-separated task ids (MI or CMI tasks, not both), 'all' (the 40 MI tasks) or 'cmi' (the CMI tasks) (default all)."
                | Estimators _ -> "comma-separated estimator names, or 'all' (default mmg-debiased; mmg-cmi-orthogonal-adaptive for CMI tasks)."
                | Seeds _ -> "number of seeds per (task, estimator) (default 1)."
                | Profile _ -> Help.profile
                | Samples _ -> Help.samplesPerTask
                | Steps _ -> Help.steps
                | Device _ -> Help.device
                | Threads _ -> Help.threads
                | Out _ -> "output directory (results.csv, manifest.json, summary.csv, heatmap.png); a rerun resumes; '{shard}' becomes the shard index."
                | Shard _ -> "i/n: shard i (0-based) of n, balanced by estimated cost, for array jobs; 'auto' reads SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX; merge with `mmg bench merge`."
                | Shard_Count _ -> "number of shards for --shard auto (else MMG_SHARD_COUNT or SLURM_ARRAY_TASK_COUNT)."
                | Set _ -> Help.jobSet
                | Allow_Version_Change -> Help.allowVersionChange
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
        | Set of options: string
        | Allow_Version_Change
        | Figure_Only
        interface IArgParserTemplate with
            member this.Usage =
                match this with
                | Estimators _ -> "comma-separated estimator names (default mmg-adaptive,mmg-orthogonal-adaptive,mmg-debiased)."
                | Seeds _ -> "seeds per point (default 1)."
                | Profile _ -> Help.profile
                | Samples _ -> Help.samplesPerTask
                | Steps _ -> Help.steps
                | Mi _ -> "comma-separated true MI values in nats (default 1,2.5,5,7.5,10,12.5,15)."
                | Transforms _ -> "comma-separated: none,half_cube,spiral (default all three)."
                | Device _ -> Help.device
                | Threads _ -> Help.threads
                | Out _ -> "output directory (results.csv, manifest.json, highmi.png); a rerun resumes; '{shard}' becomes the shard index."
                | Shard _ -> "i/n or auto, as for `mmg bench`; merge with `mmg bench merge`, then --figure-only."
                | Shard_Count _ -> Help.shardCount
                | Set _ -> Help.jobSet
                | Allow_Version_Change -> Help.allowVersionChange
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
                | Profile _ -> Help.profile
                | Steps _ -> "training steps of the MI estimator (overrides the profile)."
                | Images _ -> "number of MNIST images used."
                | Data _ -> "folder with the MNIST IDX files (default data/cache/mnist; fetch with data/fetch-mnist.sh)."
                | Device _ -> Help.device
                | Threads _ -> Help.threads
                | Out _ -> "output directory (results.csv, jobs/, manifest.json, consistency.png); a rerun resumes; '{shard}' becomes the shard index."
                | Shard _ -> "i/n or auto, as for `mmg bench`; merge by copying the shards' jobs/*.csv into one folder, then --figure-only."
                | Shard_Count _ -> Help.shardCount
                | Allow_Version_Change -> Help.allowVersionChange
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
                | Seed _ -> Help.seed
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

    /// Thrown for bad command lines, with Argu's message (and usage when asked for help); the
    /// command exits with code 2. An option value out of range is an ArgumentException (code 1).
    exception UsageException of message: string * isHelp: bool

    let private parser = lazy (ArgumentParser.Create<MmgArgs>(programName = "mmg"))

    // ------------------------------------------------------------------ checks of option values

    /// A value out of range or unknown: one line naming the option and the value (exit code 1,
    /// docs/cluster.md: caught by the common option checks before anything runs).
    let private refuse (message: string) = raise (ArgumentException message)

    /// A count checked against [lo, hi].
    let private count name lo hi (value: int option) =
        match value with
        | Some v when v < lo -> refuse (sprintf "--%s must be at least %d, got %d." name lo v)
        | Some v when v > hi -> refuse (sprintf "--%s must be at most %d, got %d." name hi v)
        | _ -> value

    /// One of the known names, trimmed and in lower case; null when not given.
    let private oneOf name (known: string[]) (value: string option) : string | null =
        match value with
        | None -> null
        | Some text ->
            let v = text.Trim().ToLowerInvariant()
            if Array.contains v known then v
            else refuse (sprintf "unknown --%s '%s'; use %s." name text (String.Join(" or ", known)))

    /// A comma-separated list: entries trimmed, empty ones dropped.
    let private list (text: string) =
        text.Split(',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)

    let private orNull (value: string option) : string | null = Option.toObj value

    /// --mi: positive, finite numbers of nats.
    let private nats (text: string) =
        list text
        |> Array.map (fun v ->
            match Double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture) with
            | true, mi when Double.IsFinite mi && mi > 0.0 -> mi
            | _ -> refuse (sprintf "--mi: '%s' is not a positive number of nats; give a comma-separated list such as 2.5,5,10." v))

    /// --set key=value,…: each key once.
    let private keyValues (text: string) : IReadOnlyDictionary<string, string> =
        let pairs = Dictionary<string, string>(StringComparer.Ordinal)
        for part in list text do
            let eq = part.IndexOf '='
            if eq <= 0 || eq = part.Length - 1 then
                refuse (sprintf "--set takes key=value pairs separated by commas, e.g. --set validation=0,width=128; got '%s'." part)
            let key = part.Substring(0, eq).Trim()
            if pairs.ContainsKey key then refuse (sprintf "--set gives option '%s' twice; give it once." key)
            pairs.[key] <- part.Substring(eq + 1).Trim()
        pairs

    // ------------------------------------------------------------------ the shared options

    /// --profile, --steps, --device, --threads of any command that trains.
    let private training profile steps device threads : TrainingOptions =
        let threads = count "threads" 1 MaxThreads threads
        let steps = count "steps" 1 Int32.MaxValue steps
        let device = oneOf "device" devices device
        { Profile = oneOf "profile" profiles profile
          Steps = Option.toNullable steps
          Device = device
          Threads = Option.toNullable threads }

    /// --out, --shard, --shard-count, --allow-version-change of a job run. A bad shard is a usage
    /// error (code 2), as are the shard's other checks when the run resolves it.
    let private job out shard shardCount allowVersionChange : JobOptions =
        match shardCount with
        | Some n when n < 1 -> raise (UsageException(sprintf "--shard-count must be a positive integer, got %d." n, false))
        | _ -> ()
        { Out = orNull out
          Shard = orNull shard
          ShardCount = Option.toNullable shardCount
          AllowVersionChange = allowVersionChange }

    let private seeds value = count "seeds" 1 Int32.MaxValue value |> Option.defaultValue 1

    // ------------------------------------------------------------------ one record per command

    let private estimate (r: ParseResults<EstimateArgs>) : EstimateOptions =
        let training =
            training (r.TryGetResult EstimateArgs.Profile) (r.TryGetResult EstimateArgs.Steps)
                (r.TryGetResult EstimateArgs.Device) (r.TryGetResult EstimateArgs.Threads)
        let samples = count "samples" 2 MaxSamples (r.TryGetResult EstimateArgs.Samples)
        let folds = count "folds" 1 100 (r.TryGetResult EstimateArgs.Folds)
        let test = count "test" 1 1_000_000 (r.TryGetResult EstimateArgs.Test)
        { Task = orNull (r.TryGetResult EstimateArgs.Task)
          Input = orNull (r.TryGetResult EstimateArgs.Input)
          X = orNull (r.TryGetResult EstimateArgs.X)
          Y = orNull (r.TryGetResult EstimateArgs.Y)
          Z = orNull (r.TryGetResult EstimateArgs.Z)
          Samples = Option.toNullable samples
          Estimator = orNull (r.TryGetResult EstimateArgs.Estimator)
          Seed = r.GetResult(EstimateArgs.Seed, defaultValue = 0)
          Training = training
          Json = orNull (r.TryGetResult EstimateArgs.Json)
          Plot = orNull (r.TryGetResult EstimateArgs.Plot)
          SaveModel = orNull (r.TryGetResult EstimateArgs.Save_Model)
          LoadModel = orNull (r.TryGetResult EstimateArgs.Load_Model)
          Pointwise = orNull (r.TryGetResult EstimateArgs.Pointwise)
          Folds = Option.toNullable folds
          Test = Option.toNullable test
          Set = r.TryGetResult EstimateArgs.Set |> Option.map keyValues |> Option.toObj }

    let private sample (r: ParseResults<SampleArgs>) : SampleOptions =
        let samples = count "samples" 1 MaxSamples (r.TryGetResult SampleArgs.Samples)
        // Argu does not enforce [<Mandatory>] inside a subcommand: these say what is missing
        let out =
            r.TryGetResult SampleArgs.Out
            |> Option.defaultWith (fun () -> refuse "sample needs --out FILE, the CSV to write (see `mmg sample --help`).")
        let task =
            r.TryGetResult SampleArgs.Task
            |> Option.defaultWith (fun () -> refuse "sample needs --task ID, the benchmark task to sample (see `mmg tasks`).")
        { Task = task
          Samples = defaultArg samples 10000
          Seed = r.GetResult(SampleArgs.Seed, defaultValue = 0)
          Out = out }

    let private merge (r: ParseResults<MergeArgs>) : MergeOptions =
        let dirs = r.TryGetResult MergeArgs.Dirs |> Option.defaultValue [] |> List.filter (fun d -> d <> "")
        if List.forall String.IsNullOrWhiteSpace dirs then
            refuse "bench merge needs the shard folders to merge, e.g. `mmg bench merge runs/s0 runs/s1 --out runs/all`."
        let out =
            r.TryGetResult MergeArgs.Out
            |> Option.defaultWith (fun () ->
                raise (UsageException("bench merge needs --out DIR (a folder that is not one of the shards; merge never writes into them).", false)))
        { Dirs = Array.ofList dirs
          Out = out
          AllowPartial = r.Contains MergeArgs.Allow_Partial
          AllowVersionChange = r.Contains MergeArgs.Allow_Version_Change }

    // bench, highMi and consistency read their shared options (training, seeds, samples, job) the
    // same way on purpose: each command is its own Argu union, so one shared reader would need the
    // reflection over union cases that these typed reads replaced.
    let private bench (r: ParseResults<BenchArgs>) : BenchOptions =
        let training =
            training (r.TryGetResult BenchArgs.Profile) (r.TryGetResult BenchArgs.Steps)
                (r.TryGetResult BenchArgs.Device) (r.TryGetResult BenchArgs.Threads)
        let seeds = seeds (r.TryGetResult BenchArgs.Seeds)
        let samples = count "samples" 1 MaxSamples (r.TryGetResult BenchArgs.Samples)
        { Tasks = r.TryGetResult BenchArgs.Tasks |> Option.map list |> Option.defaultValue [| "all" |]
          Estimators = r.TryGetResult BenchArgs.Estimators |> Option.map list |> Option.toObj
          Seeds = seeds
          Samples = Option.toNullable samples
          Training = training
          Job =
            job (r.TryGetResult BenchArgs.Out) (r.TryGetResult BenchArgs.Shard) (r.TryGetResult BenchArgs.Shard_Count)
                (r.Contains BenchArgs.Allow_Version_Change)
          Set = r.TryGetResult BenchArgs.Set |> Option.map keyValues |> Option.toObj
          Speed = r.Contains BenchArgs.Speed }

    let private highMi (r: ParseResults<HighMiArgs>) : HighMiOptions =
        let training =
            training (r.TryGetResult HighMiArgs.Profile) (r.TryGetResult HighMiArgs.Steps)
                (r.TryGetResult HighMiArgs.Device) (r.TryGetResult HighMiArgs.Threads)
        let seeds = seeds (r.TryGetResult HighMiArgs.Seeds)
        let samples = count "samples" 1 MaxSamples (r.TryGetResult HighMiArgs.Samples)
        { Estimators = list (r.GetResult(HighMiArgs.Estimators, defaultValue = "mmg-adaptive,mmg-orthogonal-adaptive,mmg-debiased"))
          Seeds = seeds
          Samples = Option.toNullable samples
          Mi = nats (r.GetResult(HighMiArgs.Mi, defaultValue = "1,2.5,5,7.5,10,12.5,15"))
          Transforms = list (r.GetResult(HighMiArgs.Transforms, defaultValue = "none,half_cube,spiral"))
          Training = training
          Job =
            job (r.TryGetResult HighMiArgs.Out) (r.TryGetResult HighMiArgs.Shard) (r.TryGetResult HighMiArgs.Shard_Count)
                (r.Contains HighMiArgs.Allow_Version_Change)
          Set = r.TryGetResult HighMiArgs.Set |> Option.map keyValues |> Option.toObj
          FigureOnly = r.Contains HighMiArgs.Figure_Only }

    let private consistency (r: ParseResults<ConsistencyArgs>) : ConsistencyOptions =
        let training =
            training (r.TryGetResult ConsistencyArgs.Profile) (r.TryGetResult ConsistencyArgs.Steps)
                (r.TryGetResult ConsistencyArgs.Device) (r.TryGetResult ConsistencyArgs.Threads)
        let seeds = seeds (r.TryGetResult ConsistencyArgs.Seeds)
        let images = count "images" 1 Int32.MaxValue (r.TryGetResult ConsistencyArgs.Images)
        { Test = r.GetResult(ConsistencyArgs.Test, defaultValue = "all")
          Estimators = r.TryGetResult ConsistencyArgs.Estimators |> Option.map list |> Option.toObj
          Seeds = seeds
          Images = Option.toNullable images
          Data = orNull (r.TryGetResult ConsistencyArgs.Data)
          Training = training
          Job =
            job (r.TryGetResult ConsistencyArgs.Out) (r.TryGetResult ConsistencyArgs.Shard) (r.TryGetResult ConsistencyArgs.Shard_Count)
                (r.Contains ConsistencyArgs.Allow_Version_Change)
          Quick = r.Contains ConsistencyArgs.Quick
          FigureOnly = r.Contains ConsistencyArgs.Figure_Only }

    let private ciTest (r: ParseResults<CiTestArgs>) : CiTestOptions =
        let samples = count "samples" 1 MaxSamples (r.TryGetResult CiTestArgs.Samples)
        let k = count "k" 1 1000 (r.TryGetResult CiTestArgs.K)
        let kPerm = count "kperm" 1 1000 (r.TryGetResult CiTestArgs.Kperm)
        let permutations = count "permutations" 1 1_000_000 (r.TryGetResult CiTestArgs.Permutations)
        let runs = count "runs" 1 1_000_000 (r.TryGetResult CiTestArgs.Runs)
        let alpha = r.GetResult(CiTestArgs.Alpha, defaultValue = 0.05)
        if not (alpha > 0.0 && alpha < 1.0) then
            refuse (String.Format(CultureInfo.InvariantCulture, "--alpha must lie in (0, 1), got {0}.", alpha))
        { Tasks = r.TryGetResult CiTestArgs.Tasks |> Option.map list |> Option.toObj
          Input = orNull (r.TryGetResult CiTestArgs.Input)
          X = orNull (r.TryGetResult CiTestArgs.X)
          Y = orNull (r.TryGetResult CiTestArgs.Y)
          Z = orNull (r.TryGetResult CiTestArgs.Z)
          Runs = Option.toNullable runs
          Samples = Option.toNullable samples
          Permutations = defaultArg permutations 99
          K = defaultArg k 5
          KPerm = defaultArg kPerm 5
          Alpha = alpha
          Seed = r.GetResult(CiTestArgs.Seed, defaultValue = 0)
          Out = orNull (r.TryGetResult CiTestArgs.Out) }

    // ------------------------------------------------------------------ parsing

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

    /// Parses argv into the command and its checked options. Raises UsageException for a command
    /// line Argu rejects (one line), for a bad shard and for --help (with the usage text), and
    /// ArgumentException for an option value out of range or unknown.
    let parse (argv: string[] | null) : Command =
        let argv = nullArgCheck "argv" argv
        let results =
            try parser.Value.ParseCommandLine(argv, raiseOnUsage = true)
            with :? ArguParseException as e ->
                if e.ErrorCode = ErrorCode.HelpText then raise (UsageException(e.Message.TrimEnd(), true))
                else raise (UsageException(oneLine e.Message, false))
        match results.TryGetSubCommand() with
        | None ->
            raise (UsageException("no command given; use one of estimate, tasks, estimators, sample, bench, highmi, consistency, gaussian-mi, citest (see `mmg --help`).", false))
        | Some(MmgArgs.Estimate r) -> Command.Estimate(estimate r)
        | Some(MmgArgs.Tasks r) -> Command.Tasks { Json = orNull (r.TryGetResult TasksArgs.Json) }
        | Some(MmgArgs.Estimators r) -> Command.Estimators { Json = orNull (r.TryGetResult EstimatorsArgs.Json) }
        | Some(MmgArgs.Sample r) -> Command.Sample(sample r)
        | Some(MmgArgs.Bench r) ->
            match r.TryGetResult BenchArgs.Merge with
            | Some m -> Command.BenchMerge(merge m)
            | None -> Command.Bench(bench r)
        | Some(MmgArgs.Highmi r) -> Command.HighMi(highMi r)
        | Some(MmgArgs.Consistency r) -> Command.Consistency(consistency r)
        | Some(MmgArgs.Gaussian_Mi r) -> Command.GaussianMi { Rho = r.GetResult(GaussianArgs.Rho, defaultValue = 0.75) }
        | Some(MmgArgs.Citest r) -> Command.CiTest(ciTest r)
        | Some MmgArgs.Verbose -> raise (UsageException("--verbose needs a command (see `mmg --help`).", false))

    /// The top-level usage text.
    let usage () = parser.Value.PrintUsage()
