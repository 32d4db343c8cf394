namespace Mmg.Core

open System
open System.Globalization
open System.IO
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

/// The benchmark runner's pure parts: the job list, sharding, the resumable results file, and
/// the summary (read and written through Deedle frames).
module Bench =
    let header = "task,estimator,seed,estimate,std_error,ground_truth,seconds,status,error"

    /// Every (task, estimator, seed), seeds 1..k, task-major.
    let jobs (tasks: string seq) (estimators: string seq) (seeds: int) : BenchJob[] =
        Checks.requirePositiveInt "seeds" seeds
        [| for t in tasks do
             for e in estimators do
                 for s in 1 .. seeds -> { Task = t; Estimator = e; Seed = s } |]

    /// "i/n" → (i, n) with 0 ≤ i < n.
    let parseShard (spec: string) =
        let parts = (if isNull spec then "" else spec).Split('/')
        match parts with
        | [| a; b |] ->
            match Int32.TryParse a, Int32.TryParse b with
            | (true, i), (true, n) when n >= 1 && i >= 0 && i < n -> i, n
            | _ -> invalidArg "shard" (sprintf "--shard must be i/n with 0 <= i < n, got '%s'." spec)
        | _ -> invalidArg "shard" (sprintf "--shard must be i/n with 0 <= i < n, got '%s'." spec)

    /// Every n-th (task, seed) group of jobs starting at i: the jobs of one (task, seed) stay in
    /// one shard, so the MMG variants among them share one training run. With one estimator this
    /// is every n-th job.
    let shard (i: int, n: int) (all: BenchJob[]) =
        let groups = all |> Array.map (fun j -> j.Task, j.Seed) |> Array.distinct
        let mine = groups |> Array.indexed |> Array.filter (fun (k, _) -> k % n = i) |> Array.map snd |> Set.ofArray
        all |> Array.filter (fun j -> mine.Contains(j.Task, j.Seed))

    let private quote (s: string) =
        if isNull s then "" elif s.IndexOfAny([| ','; '"'; '\n'; '\r' |]) >= 0 then "\"" + s.Replace("\"", "\"\"").Replace("\r", " ").Replace("\n", " ") + "\"" else s

    let private num (v: float) = if Double.IsNaN v then "" else v.ToString("R", CultureInfo.InvariantCulture)

    let private line (r: BenchRow) =
        String.Join(",", [| quote r.Task; quote r.Estimator; string r.Seed; num r.Estimate; num r.StdError; num r.GroundTruth; num r.Seconds; r.Status; quote r.Error |])

    /// Reads results.csv (empty array if absent). A last line cut short by a killed run (no
    /// trailing newline) is dropped from the file first, so a resumed run redoes that job.
    let readRows (path: string) : BenchRow[] =
        if not (File.Exists path) then [||]
        else
            let text = File.ReadAllText path
            if text.Length > 0 && not (text.EndsWith "\n") then
                let cut = text.LastIndexOf '\n'
                File.WriteAllText(path, (if cut >= 0 then text.Substring(0, cut + 1) else ""))
            if FileInfo(path).Length = 0L || File.ReadAllLines(path).Length <= 1 then [||]
            else
                let f: Frame<int, string> = Frame.ReadCsv(path, hasHeaders = true, inferTypes = false)
                let col (name: string) = f.GetColumn<string>(name)
                let parse (s: OptionalValue<string>) =
                    if s.HasValue && not (String.IsNullOrWhiteSpace s.Value) then Double.Parse(s.Value, CultureInfo.InvariantCulture) else Double.NaN
                let text (s: OptionalValue<string>) = if s.HasValue then s.Value else ""
                let task, est, seed, e, se, gt, sec, st, err =
                    col "task", col "estimator", col "seed", col "estimate", col "std_error", col "ground_truth", col "seconds", col "status", col "error"
                [| for k in f.RowKeys ->
                     { Task = text (task.TryGet k); Estimator = text (est.TryGet k); Seed = int (parse (seed.TryGet k))
                       Estimate = parse (e.TryGet k); StdError = parse (se.TryGet k); GroundTruth = parse (gt.TryGet k)
                       Seconds = parse (sec.TryGet k); Status = text (st.TryGet k); Error = text (err.TryGet k) } |]

    /// Appends one row and flushes it to disk (writing the header first for a new file).
    let appendRow (path: string) (row: BenchRow) =
        let isNew = not (File.Exists path) || FileInfo(path).Length = 0L
        use fs = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)
        use w = new StreamWriter(fs)
        if isNew then w.Write(header + "\n")
        w.Write(line row + "\n")
        w.Flush()
        fs.Flush(true)

    /// The jobs not yet in `done` (matched on task, estimator, seed).
    let remaining (done': BenchRow[]) (all: BenchJob[]) =
        let keys = done' |> Array.map (fun r -> r.Task, r.Estimator, r.Seed) |> Set.ofArray
        all |> Array.filter (fun j -> not (keys.Contains(j.Task, j.Estimator, j.Seed)))

    /// Runs one job; any exception becomes a failed row with its message.
    let run (job: BenchJob) (groundTruth: float) (work: unit -> EstimatorResult) : BenchRow =
        let watch = Diagnostics.Stopwatch.StartNew()
        try
            let r = work ()
            { Task = job.Task; Estimator = job.Estimator; Seed = job.Seed; Estimate = r.Estimate; StdError = r.StdError
              GroundTruth = groundTruth; Seconds = watch.Elapsed.TotalSeconds; Status = (if Double.IsFinite r.Estimate then "ok" else "failed")
              Error = (if Double.IsFinite r.Estimate then "" else "non-finite estimate") }
        with e ->
            { Task = job.Task; Estimator = job.Estimator; Seed = job.Seed; Estimate = Double.NaN; StdError = Double.NaN
              GroundTruth = groundTruth; Seconds = watch.Elapsed.TotalSeconds; Status = "failed"; Error = e.GetType().Name + ": " + e.Message }

    /// Success as in the paper's Table 1 convention used here: |mean − truth| ≤ max(0.05, 0.10·truth).
    let succeeded (truth: float) (mean: float) = Double.IsFinite mean && abs (mean - truth) <= max 0.05 (0.10 * truth)

    /// Summary per (task, estimator), in the order tasks and estimators first appear.
    let summarize (rows: BenchRow[]) : BenchSummary[] =
        rows
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

    /// Merges the results.csv of several shard directories into `outDir`/results.csv, keeping
    /// the first row of any duplicated (task, estimator, seed).
    let merge (dirs: string seq) (outDir: string) =
        let rows =
            [| for d in dirs do
                 let p = Path.Combine(d, "results.csv")
                 if not (File.Exists p) then raise (FileNotFoundException(sprintf "%s: no results.csv in this shard directory." d, p))
                 yield! readRows p |]
            |> Array.distinctBy (fun r -> r.Task, r.Estimator, r.Seed)
        // shards interleave jobs: restore task order (first appearance), then the registry's
        // estimator order, then seed, so summaries and heatmaps read the same as an unsharded run
        let taskOrder = rows |> Array.map (fun r -> r.Task) |> Array.distinct |> Array.mapi (fun i t -> t, i) |> dict
        let estimatorRank (e: string) = match List.tryFindIndex ((=) e) Registry.names with Some i -> i | None -> Int32.MaxValue
        let rows = rows |> Array.sortBy (fun r -> taskOrder.[r.Task], estimatorRank r.Estimator, r.Seed)
        Directory.CreateDirectory outDir |> ignore
        let target = Path.Combine(outDir, "results.csv")
        let tmp = target + ".tmp"
        File.WriteAllText(tmp, header + "\n" + String.Join("", rows |> Array.map (fun r -> line r + "\n")))
        File.Move(tmp, target, true)
        rows
