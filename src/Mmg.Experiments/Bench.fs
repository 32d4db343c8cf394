namespace Mmg.Experiments

open Mmg.Core
open System
open System.Globalization
open System.IO
open System.Text.Json
open Deedle

/// One (task, estimator, seed) run of a benchmark.
type BenchJob =
    { Task: string
      Estimator: string
      Seed: int }

/// One row of results.csv.
type BenchRow =
    { Task: string
      Estimator: string
      Seed: int
      Estimate: float
      StdError: float
      GroundTruth: float
      Seconds: float
      /// "ok" or "failed".
      Status: string
      Error: string }

/// One row of summary.csv: a (task, estimator) over its seeds.
type BenchSummary =
    { Task: string
      Estimator: string
      GroundTruth: float
      Runs: int
      Failed: int
      Mean: float
      Std: float
      Bias: float
      RelativeBias: float
      Success: bool }

/// manifest.json of a run's output folder: the plan (what the results depend on), the shard,
/// its job list, and the tool that made them. Written on first start; a resume or a merge with
/// other settings is refused. Steps and Samples are 0 for "the profile's".
type BenchManifest =
    { Format: int
      /// "bench" or "highmi".
      Command: string
      Tasks: string[]
      Estimators: string[]
      Seeds: int
      Profile: string
      Steps: int
      Samples: int
      Device: string
      /// The estimator-specific options of --set as "key=value", in key order (empty without
      /// --set; null in a manifest written before --set, read as empty).
      Options: string[]
      ShardIndex: int
      ShardCount: int
      /// This shard's jobs, "task,estimator,seed", in the order they run.
      Jobs: string[]
      /// The mmg assembly's informational version (version+commit).
      Tool: string
      Commit: string
      TorchSharp: string
      Created: string }

/// What `Bench.mergePlan` found in the shard folders (nothing is written by it).
type BenchMergeReport =
    { /// The merged plan: the shards' plan with ShardIndex 0, ShardCount 1 and every job.
      Manifest: BenchManifest
      /// The latest row of every planned job that has one, in task, estimator, seed order.
      Rows: BenchRow[]
      /// Shard indices with no folder among the inputs.
      MissingShards: int[]
      /// "folder: k of n jobs" for each input shard with jobs still to run.
      IncompleteShards: string[]
      /// Planned jobs with no row.
      MissingJobs: int }

/// The benchmark runner's pure parts: the job list, sharding (by estimated cost), the manifest,
/// the resumable results file, merging and the summary (read and written through Deedle frames).
module Bench =
    let header = "task,estimator,seed,estimate,std_error,ground_truth,seconds,status,error"

    /// The manifest's file name in an output folder.
    [<Literal>]
    let ManifestFile = "manifest.json"

    /// The current manifest format.
    [<Literal>]
    let ManifestFormat = 1

    /// Every (task, estimator, seed), seeds 1..k, task-major.
    let jobs (tasks: string seq) (estimators: string seq) (seeds: int) : BenchJob[] =
        Checks.requirePositiveInt "seeds" seeds
        [| for t in tasks do
             for e in estimators do
                 for s in 1 .. seeds -> { Task = t; Estimator = e; Seed = s } |]

    /// "task,estimator,seed": a job's key in manifests and messages.
    let jobKey (j: BenchJob) = sprintf "%s,%s,%d" j.Task j.Estimator j.Seed

    let private rowKey (r: BenchRow) = sprintf "%s,%s,%d" r.Task r.Estimator r.Seed

    let private shardMessage spec =
        sprintf "--shard must be i/n with 0 <= i < n (or 'auto' in a Slurm array or Kubernetes Indexed Job), got '%s'." spec

    /// "i/n" → (i, n) with 0 ≤ i < n.
    let parseShard (spec: string) =
        let parts = (if isNull spec then "" else spec).Split('/')
        match parts with
        | [| a; b |] ->
            match Int32.TryParse a, Int32.TryParse b with
            | (true, i), (true, n) when n >= 1 && i >= 0 && i < n -> i, n
            | _ -> invalidArg "shard" (shardMessage spec)
        | _ -> invalidArg "shard" (shardMessage spec)

    /// `--shard auto`: (i, n) from the scheduler's environment (`env` returns null when a variable
    /// is unset). `count` > 0 (from --shard-count) or MMG_SHARD_COUNT fixes n; then i is
    /// SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX itself, so one element can be resubmitted alone
    /// (`sbatch --array=2`). Without it, a Slurm array gives i = SLURM_ARRAY_TASK_ID −
    /// SLURM_ARRAY_TASK_MIN and n = SLURM_ARRAY_TASK_COUNT (or MAX − MIN + 1); a Kubernetes
    /// Indexed Job has no count variable, so it needs one of the two.
    let autoShard (env: string -> string) (count: int) =
        let get name =
            match env name with
            | null -> None
            | s when String.IsNullOrWhiteSpace s -> None
            | s ->
                match Int32.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture) with
                | true, v -> Some v
                | _ -> invalidArg "shard" (sprintf "--shard auto: %s='%s' is not an integer." name s)
        let count, countFrom =
            if count > 0 then Some count, "--shard-count"
            else get "MMG_SHARD_COUNT", "MMG_SHARD_COUNT"
        let checkedShard (i: int) (n: int) (what: string) =
            if n < 1 || i < 0 || i >= n then
                invalidArg "shard" (sprintf "--shard auto: %s gives shard %d of %d, outside 0..%d." what i n (n - 1))
            i, n
        match get "SLURM_ARRAY_TASK_ID", get "JOB_COMPLETION_INDEX" with
        | Some id, _ ->
            match count with
            | Some n -> checkedShard id n (sprintf "SLURM_ARRAY_TASK_ID=%d with %s=%d" id countFrom n)
            | None ->
                match get "SLURM_ARRAY_TASK_COUNT", get "SLURM_ARRAY_TASK_MIN", get "SLURM_ARRAY_TASK_MAX" with
                | Some c, Some lo, Some hi when hi - lo + 1 <> c ->
                    invalidArg "shard" (sprintf "--shard auto: the Slurm array %d-%d has %d elements, not contiguous; pass --shard-count N (or MMG_SHARD_COUNT) and number the elements 0..N-1." lo hi c)
                | Some c, lo, _ -> checkedShard (id - defaultArg lo 0) c (sprintf "SLURM_ARRAY_TASK_ID=%d, SLURM_ARRAY_TASK_COUNT=%d" id c)
                | None, Some lo, Some hi -> checkedShard (id - lo) (hi - lo + 1) (sprintf "SLURM_ARRAY_TASK_ID=%d in %d-%d" id lo hi)
                | _ -> invalidArg "shard" "--shard auto: SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT (or _MIN/_MAX); pass --shard-count N."
        | None, Some index ->
            match count with
            | Some n -> checkedShard index n (sprintf "JOB_COMPLETION_INDEX=%d with %s=%d" index countFrom n)
            | None -> invalidArg "shard" "--shard auto: JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but not the number of shards; pass --shard-count N or set MMG_SHARD_COUNT to the Job's completions."
        | None, None ->
            invalidArg "shard" "--shard auto needs SLURM_ARRAY_TASK_ID (a Slurm job array) or JOB_COMPLETION_INDEX (a Kubernetes Indexed Job); outside one, give --shard i/n."

    /// Relative training cost of one step at a network width, from the it/s measured at batch
    /// 128–256 (docs/performance.md): width 64 → 1, 128 → 1.6, 256 → 5.
    let private stepCost (width: int) = if width <= 64 then 1.0 elif width <= 128 then 1.6 else 5.0

    /// Estimated cost of a (task, seed) group of jobs, in units of one training step of the 1×1
    /// network: a neural estimator costs its steps (the profile's, or `steps` when > 0, plus half
    /// again for MMG's adaptive phase) times the step cost of its width; the MMG variants of one
    /// group share one training run, so they count once; KSG grows with n² and the dimension, CCA
    /// is almost free. Only the ratios matter: they balance shards, they do not predict seconds.
    let groupCost (dimX: int) (dimY: int) (profile: string) (steps: int) (samples: int) (estimators: string seq) =
        let p = MmgProfiles.byName profile dimX dimY
        let n = float (if samples > 0 then samples else p.Samples)
        let neural = 1.5 * float (if steps > 0 then steps else p.Steps) * stepCost (Network.defaultWidth dimX dimY)
        let names = Seq.toArray estimators
        // MMG and MMG-CMI variants of one group share one training run
        let isMmg e = Registry.isMmg e || CmiRegistry.isMmg e
        let mmg = if names |> Array.exists isMmg then neural else 0.0
        let others =
            names
            |> Array.filter (fun e -> not (isMmg e))
            |> Array.sumBy (fun e ->
                match e with
                | "cca" | "gaussian-cmi" -> 1.0
                | "ksg" | "ksg-cmi" -> 30.0 * (n / 2000.0) ** 2.0 * (1.0 + float (dimX + dimY) / 10.0)
                | _ -> neural)
        mmg + others

    /// The jobs of shard i of n: (task, seed) groups (so the MMG variants of one group share one
    /// training run) dealt out by estimated cost, largest first, each to the shard with the least
    /// cost so far (ties: the earlier group, the lower shard). Deterministic in the job list and
    /// the costs; with equal costs it is every n-th group. Jobs keep their order within a shard.
    let shardByCost (cost: BenchJob[] -> float) (i: int, n: int) (all: BenchJob[]) =
        if n < 1 || i < 0 || i >= n then invalidArg "shard" (sprintf "shard %d of %d is outside 0..%d." i n (n - 1))
        let groups = all |> Array.groupBy (fun j -> j.Task, j.Seed)
        let costs = groups |> Array.map (fun (_, js) -> cost js)
        let order = Array.init groups.Length id |> Array.sortWith (fun a b -> match compare costs.[b] costs.[a] with 0 -> compare a b | c -> c)
        let load = Array.zeroCreate<float> n
        let owner = Array.zeroCreate<int> groups.Length
        for g in order do
            let mutable best = 0
            for s in 1 .. n - 1 do
                if load.[s] < load.[best] then best <- s
            owner.[g] <- best
            load.[best] <- load.[best] + costs.[g]
        let mine = [| for g in 0 .. groups.Length - 1 do if owner.[g] = i then fst groups.[g] |] |> Set.ofArray
        all |> Array.filter (fun j -> mine.Contains(j.Task, j.Seed))

    /// Every n-th (task, seed) group of jobs starting at i (shardByCost with equal costs).
    let shard (i: int, n: int) (all: BenchJob[]) = shardByCost (fun _ -> 1.0) (i, n) all

    // ---- manifest ------------------------------------------------------------------------

    let private jsonOptions =
        JsonSerializerOptions(WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Encoder = Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping)

    /// Writes manifest.json into `dir` atomically.
    let writeManifest (dir: string) (m: BenchManifest) =
        let path = Path.Combine(dir, ManifestFile)
        let tmp = path + ".tmp"
        File.WriteAllText(tmp, JsonSerializer.Serialize(m, jsonOptions) + "\n")
        File.Move(tmp, path, true)

    /// Reads `dir`/manifest.json, or None when there is none.
    let tryReadManifest (dir: string) : BenchManifest option =
        let path = Path.Combine(dir, ManifestFile)
        if not (File.Exists path) then None
        else
            let m =
                try JsonSerializer.Deserialize<BenchManifest>(File.ReadAllText path, jsonOptions)
                with :? JsonException as e -> raise (InvalidDataException(sprintf "%s is not an mmg manifest (%s)." path e.Message))
            if isNull (box m) || m.Format <> ManifestFormat || isNull m.Tasks || isNull m.Estimators || isNull m.Jobs then
                raise (InvalidDataException(sprintf "%s is not an mmg manifest of format %d." path ManifestFormat))
            Some m

    let private list (a: string[]) = if a.Length <= 6 then String.Join(",", a) else sprintf "%s,... (%d)" (String.Join(",", a.[0..4])) a.Length

    /// A manifest's --set options (empty for one written before --set).
    let private options (m: BenchManifest) = if isNull m.Options then [||] else m.Options

    let private setText (m: BenchManifest) = match options m with [||] -> "none" | o -> String.Join(",", o)

    /// --set options as the manifest records them: "key=value" in ordinal key order.
    let manifestOptions (set: Collections.Generic.IReadOnlyDictionary<string, string>) : string[] =
        if isNull set then [||]
        else set |> Seq.sortWith (fun a b -> String.CompareOrdinal(a.Key, b.Key)) |> Seq.map (fun kv -> kv.Key + "=" + kv.Value) |> Array.ofSeq

    /// The plan fields that differ between a recorded manifest and a requested one, as
    /// "option: recorded X, requested Y" (empty when they agree). Shards compared when `shard`.
    let planDifferences (shard: bool) (recorded: BenchManifest) (requested: BenchManifest) =
        let zero v = if v = 0 then "the profile's" else string v
        [ if recorded.Command <> requested.Command then sprintf "command: %s, not %s" recorded.Command requested.Command
          if recorded.Tasks <> requested.Tasks then sprintf "--tasks: %s, not %s" (list recorded.Tasks) (list requested.Tasks)
          if recorded.Estimators <> requested.Estimators then sprintf "--estimators: %s, not %s" (list recorded.Estimators) (list requested.Estimators)
          if recorded.Seeds <> requested.Seeds then sprintf "--seeds: %d, not %d" recorded.Seeds requested.Seeds
          if recorded.Profile <> requested.Profile then sprintf "--profile: %s, not %s" recorded.Profile requested.Profile
          if recorded.Steps <> requested.Steps then sprintf "--steps: %s, not %s" (zero recorded.Steps) (zero requested.Steps)
          if recorded.Samples <> requested.Samples then sprintf "--samples: %s, not %s" (zero recorded.Samples) (zero requested.Samples)
          if recorded.Device <> requested.Device then sprintf "--device: %s, not %s" recorded.Device requested.Device
          if options recorded <> options requested then sprintf "--set: %s, not %s" (setText recorded) (setText requested)
          if shard && (recorded.ShardIndex, recorded.ShardCount) <> (requested.ShardIndex, requested.ShardCount) then
              sprintf "--shard: %d/%d, not %d/%d" recorded.ShardIndex recorded.ShardCount requested.ShardIndex requested.ShardCount
          if shard && recorded.Jobs <> requested.Jobs then "the shard's job list differs (another sharding)" ]

    /// The tool fields (version and commit, TorchSharp) that differ, as text (empty when equal).
    let versionDifferences (recorded: BenchManifest) (requested: BenchManifest) =
        [ if recorded.Tool <> requested.Tool || recorded.Commit <> requested.Commit then
              sprintf "mmg %s (commit %s), not %s (commit %s)" recorded.Tool recorded.Commit requested.Tool requested.Commit
          if recorded.TorchSharp <> requested.TorchSharp then sprintf "TorchSharp %s, not %s" recorded.TorchSharp requested.TorchSharp ]

    // ---- results.csv -----------------------------------------------------------------------

    let private quote (s: string) =
        if isNull s then "" elif s.IndexOfAny([| ','; '"'; '\n'; '\r' |]) >= 0 then "\"" + s.Replace("\"", "\"\"").Replace("\r", " ").Replace("\n", " ") + "\"" else s

    let private num (v: float) = if Double.IsNaN v then "" else v.ToString("R", CultureInfo.InvariantCulture)

    let private line (r: BenchRow) =
        String.Join(",", [| quote r.Task; quote r.Estimator; string r.Seed; num r.Estimate; num r.StdError; num r.GroundTruth; num r.Seconds; r.Status; quote r.Error |])

    /// The complete lines of results.csv: a last line cut short by a killed run (no trailing
    /// newline) is left out. Refuses a file whose first line is not our header.
    let private completeText (path: string) =
        let text = File.ReadAllText path
        let complete = if text.EndsWith "\n" then text else (match text.LastIndexOf '\n' with -1 -> "" | cut -> text.Substring(0, cut + 1))
        let ours =
            if complete.Length > 0 then complete.Substring(0, complete.IndexOf '\n').TrimEnd('\r') = header
            else header.StartsWith text
        if not ours then
            raise (InvalidDataException(sprintf "%s was not written by mmg (its first line is not '%s'); choose another --out." path header))
        complete

    /// Reads results.csv without changing it (empty array if absent). A last line cut short by a
    /// killed run is ignored; a row that does not parse is an error naming its line.
    let readRows (path: string) : BenchRow[] =
        if not (File.Exists path) then [||]
        else
            let text = completeText path
            if text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length <= 1 then [||]
            else
                use stream = new MemoryStream(Text.Encoding.UTF8.GetBytes text)
                let f: Frame<int, string> = Frame.ReadCsv(stream, hasHeaders = true, inferTypes = false)
                let col (name: string) = f.GetColumn<string>(name)
                let task, est, seed, e, se, gt, sec, st, err =
                    col "task", col "estimator", col "seed", col "estimate", col "std_error", col "ground_truth", col "seconds", col "status", col "error"
                [| for k in f.RowKeys do
                     let bad (column: string) (v: string) =
                         raise (InvalidDataException(sprintf "%s, line %d: %s '%s' is not a number; the file was changed by hand or is not ours." path (k + 2) column v))
                     let text (s: OptionalValue<string>) = if s.HasValue then s.Value else ""
                     let parse column (s: OptionalValue<string>) =
                         if s.HasValue && not (String.IsNullOrWhiteSpace s.Value) then
                             match Double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture) with
                             | true, v -> v
                             | _ -> bad column s.Value
                         else Double.NaN
                     let seedText = text (seed.TryGet k)
                     let seedValue = match Int32.TryParse(seedText, NumberStyles.Integer, CultureInfo.InvariantCulture) with | true, v -> v | _ -> bad "seed" seedText
                     let status = text (st.TryGet k)
                     if status <> "ok" && status <> "failed" then
                         raise (InvalidDataException(sprintf "%s, line %d: status '%s' is neither ok nor failed; the file was changed by hand or is not ours." path (k + 2) status))
                     yield
                       { Task = text (task.TryGet k); Estimator = text (est.TryGet k); Seed = seedValue
                         Estimate = parse "estimate" (e.TryGet k); StdError = parse "std_error" (se.TryGet k); GroundTruth = parse "ground_truth" (gt.TryGet k)
                         Seconds = parse "seconds" (sec.TryGet k); Status = status; Error = text (err.TryGet k) } |]

    /// Drops a last line cut short by a killed run (no trailing newline) from the file, so a
    /// resumed run appends after whole rows. Call only while holding the folder's lock.
    let repairTail (path: string) =
        if File.Exists path then
            let text = File.ReadAllText path
            let complete = completeText path
            if complete.Length <> text.Length then File.WriteAllText(path, complete)

    /// Appends one row and flushes it to disk (writing the header first for a new file).
    let appendRow (path: string) (row: BenchRow) =
        let isNew = not (File.Exists path) || FileInfo(path).Length = 0L
        use fs = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)
        use w = new StreamWriter(fs)
        if isNew then w.Write(header + "\n")
        w.Write(line row + "\n")
        w.Flush()
        fs.Flush(true)

    /// The latest row of each (task, estimator, seed), in the order the keys first appear: a
    /// failed job that was retried counts once, with its retry's row.
    let latest (rows: BenchRow[]) =
        let last = Collections.Generic.Dictionary<string, BenchRow>()
        for r in rows do last.[rowKey r] <- r
        rows |> Array.map rowKey |> Array.distinct |> Array.map (fun k -> last.[k])

    /// The jobs without an "ok" row in `done'`: jobs never run, and jobs whose latest row failed
    /// (they are retried).
    let remaining (done': BenchRow[]) (all: BenchJob[]) =
        let ok = latest done' |> Array.filter (fun r -> r.Status = "ok") |> Array.map rowKey |> Set.ofArray
        all |> Array.filter (fun j -> not (ok.Contains(jobKey j)))

    /// Runs one job; any exception becomes a failed row with its message, except
    /// OperationCanceledException (an interrupted run), which propagates: no row for that job.
    let run (job: BenchJob) (groundTruth: float) (work: unit -> EstimatorResult) : BenchRow =
        let watch = Diagnostics.Stopwatch.StartNew()
        try
            let r = work ()
            { Task = job.Task; Estimator = job.Estimator; Seed = job.Seed; Estimate = r.Estimate; StdError = r.StdError
              GroundTruth = groundTruth; Seconds = watch.Elapsed.TotalSeconds; Status = (if Double.IsFinite r.Estimate then "ok" else "failed")
              Error = (if Double.IsFinite r.Estimate then "" else "non-finite estimate") }
        with
        | :? OperationCanceledException -> reraise ()
        | e ->
            { Task = job.Task; Estimator = job.Estimator; Seed = job.Seed; Estimate = Double.NaN; StdError = Double.NaN
              GroundTruth = groundTruth; Seconds = watch.Elapsed.TotalSeconds; Status = "failed"; Error = e.GetType().Name + ": " + e.Message }

    /// Success as in the paper's Table 1 convention used here: |mean − truth| ≤ max(0.05, 0.10·truth).
    let succeeded (truth: float) (mean: float) = Double.IsFinite mean && abs (mean - truth) <= max 0.05 (0.10 * truth)

    /// Summary per (task, estimator), in the order tasks and estimators first appear (the latest
    /// row of each job counts).
    let summarize (rows: BenchRow[]) : BenchSummary[] =
        latest rows
        |> Array.groupBy (fun r -> r.Task, r.Estimator)
        |> Array.map (fun ((task, est), rs) ->
            let ok = rs |> Array.filter (fun r -> r.Status = "ok") |> Array.map (fun r -> r.Estimate)
            let truth = rs.[0].GroundTruth
            let mean = if ok.Length = 0 then Double.NaN else Array.average ok
            let std =
                if ok.Length < 2 then Double.NaN
                else sqrt ((ok |> Array.sumBy (fun v -> (v - mean) ** 2.0)) / float (ok.Length - 1))
            { Task = task; Estimator = est; GroundTruth = truth; Runs = rs.Length; Failed = rs.Length - ok.Length
              Mean = mean; Std = std; Bias = mean - truth
              RelativeBias = (if truth > 0.0 then (mean - truth) / truth else Double.NaN)
              Success = ok.Length = rs.Length && succeeded truth mean })

    /// Writes summary.csv from a Deedle frame of the summary records (atomically).
    let writeSummary (path: string) (summary: BenchSummary[]) =
        let frame = Frame.ofRecords summary
        let tmp = path + ".tmp"
        frame.SaveCsv(tmp, includeRowKeys = false)
        File.Move(tmp, path, true)

    // ---- merge ---------------------------------------------------------------------------

    /// Reads the shard folders (read-only) and checks them against each other: every folder needs
    /// a manifest; all must share one plan and shard count (and tool version unless
    /// `allowVersionChange`), no shard twice. Raises ArgumentException for folders that do not
    /// belong together; reports missing shards, incomplete shards and missing jobs.
    let mergePlan (dirs: string seq) (allowVersionChange: bool) : BenchMergeReport =
        let dirs = Seq.toArray dirs
        if dirs.Length = 0 then invalidArg "dirs" "bench merge needs at least one shard folder."
        let shards =
            dirs
            |> Array.map (fun d ->
                if not (Directory.Exists d) then raise (DirectoryNotFoundException(sprintf "%s: no such shard folder." d))
                match tryReadManifest d with
                | Some m -> d, m, readRows (Path.Combine(d, "results.csv"))
                | None -> raise (InvalidDataException(sprintf "%s has no %s: not the output of mmg bench/highmi (or made by an mmg before manifests); rerun it." d ManifestFile)))
        let d0, m0, _ = shards.[0]
        for d, m, _ in shards.[1..] do
            match planDifferences false m0 m with
            | [] -> ()
            | diffs -> invalidArg "dirs" (sprintf "%s and %s were run with different settings (%s); they cannot be merged." d0 d (String.Join("; ", diffs)))
            if m.ShardCount <> m0.ShardCount then
                invalidArg "dirs" (sprintf "%s is shard %d/%d but %s is shard %d/%d: different shard counts cannot be merged." d0 m0.ShardIndex m0.ShardCount d m.ShardIndex m.ShardCount)
            if not allowVersionChange then
                match versionDifferences m0 m with
                | [] -> ()
                | diffs -> invalidArg "dirs" (sprintf "%s and %s were made by different tools (%s); pass --allow-version-change to merge them anyway." d0 d (String.Join("; ", diffs)))
        match shards |> Array.groupBy (fun (_, m, _) -> m.ShardIndex) |> Array.tryFind (fun (_, g) -> g.Length > 1) with
        | Some (i, g) -> invalidArg "dirs" (sprintf "shard %d/%d appears twice: %s." i m0.ShardCount (String.Join(" and ", g |> Array.map (fun (d, _, _) -> d))))
        | None -> ()
        let all = jobs m0.Tasks m0.Estimators m0.Seeds
        let planned = all |> Array.map jobKey |> Set.ofArray
        let present = shards |> Array.map (fun (_, m, _) -> m.ShardIndex) |> Set.ofArray
        let rowsOf (m: BenchManifest) (rows: BenchRow[]) =
            let mine = Set.ofArray m.Jobs
            latest rows |> Array.filter (fun r -> mine.Contains(rowKey r) && planned.Contains(rowKey r))
        let perShard = shards |> Array.map (fun (d, m, rows) -> d, m, rowsOf m rows)
        let incomplete =
            [| for d, m, rows in perShard do
                 let ok = rows |> Array.filter (fun r -> r.Status = "ok") |> Array.length
                 if rows.Length < m.Jobs.Length then sprintf "%s (shard %d/%d): %d of %d jobs" d m.ShardIndex m.ShardCount rows.Length m.Jobs.Length
                 elif ok < rows.Length then sprintf "%s (shard %d/%d): %d of %d jobs failed (rerun it to retry them)" d m.ShardIndex m.ShardCount (rows.Length - ok) m.Jobs.Length |]
        let rows = perShard |> Array.collect (fun (_, _, r) -> r) |> Array.distinctBy rowKey
        // shards interleave jobs: restore the plan's task order, then the registry's estimator
        // order, then seed, so summaries and heatmaps read the same as an unsharded run
        let taskOrder = m0.Tasks |> Array.mapi (fun i t -> t, i) |> dict
        let estimatorRank (e: string) = match List.tryFindIndex ((=) e) Registry.names with Some i -> i | None -> Int32.MaxValue
        let rows = rows |> Array.sortBy (fun r -> taskOrder.[r.Task], estimatorRank r.Estimator, r.Seed)
        { Manifest = { m0 with ShardIndex = 0; ShardCount = 1; Jobs = all |> Array.map jobKey; Created = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture) }
          Rows = rows
          MissingShards = [| 0 .. m0.ShardCount - 1 |] |> Array.filter (fun i -> not (present.Contains i))
          IncompleteShards = incomplete
          MissingJobs = all.Length - rows.Length }

    /// Refuses a merge's `outDir` that is one of the inputs, or that holds results of another plan
    /// (a previous merge of the same plan may be overwritten).
    let checkMergeOut (dirs: string seq) (outDir: string) (merged: BenchManifest) =
        let full (d: string) = Path.TrimEndingDirectorySeparator(Path.GetFullPath d)
        if dirs |> Seq.exists (fun d -> full d = full outDir) then
            invalidArg "out" (sprintf "--out %s is one of the shard folders; merge never changes its inputs, give another folder." outDir)
        if File.Exists(Path.Combine(outDir, "results.csv")) || File.Exists(Path.Combine(outDir, ManifestFile)) then
            match (try tryReadManifest outDir with :? InvalidDataException -> None) with
            | Some m when m.ShardCount = 1 && List.isEmpty (planDifferences false m merged) -> ()
            | _ -> invalidArg "out" (sprintf "--out %s already holds results of another run; give an empty or new folder." outDir)

    /// Writes a merge into `outDir` (after `checkMergeOut`): results.csv and manifest.json, atomically.
    let writeMerge (dirs: string seq) (outDir: string) (report: BenchMergeReport) =
        checkMergeOut dirs outDir report.Manifest
        Directory.CreateDirectory outDir |> ignore
        let target = Path.Combine(outDir, "results.csv")
        let tmp = target + ".tmp"
        File.WriteAllText(tmp, header + "\n" + String.Join("", report.Rows |> Array.map (fun r -> line r + "\n")))
        File.Move(tmp, target, true)
        writeManifest outDir report.Manifest
