// CSV reading shared by the scripts that read result files: a line split on commas outside
// double quotes, a file's rows as lookups by column name, the `mmg-debiased` estimates of bench
// or ablation files, and the benchmark's pass rules for the suite tables. `#load "csv-rows.fsx"`.
module CsvRows

open System.IO

/// A CSV line split on commas outside double quotes (the quotes dropped).
let fields (line: string) =
    let out = System.Collections.Generic.List<string>()
    let cur = System.Text.StringBuilder()
    let mutable quoted = false
    for c in line do
        if c = '"' then quoted <- not quoted
        elif c = ',' && not quoted then
            out.Add(cur.ToString())
            cur.Clear() |> ignore
        else cur.Append c |> ignore
    out.Add(cur.ToString())
    out.ToArray()

/// The rows of a CSV file with a header line, each a lookup by column name.
let rows (path: string) =
    let lines = File.ReadAllLines path
    let header = fields lines.[0]
    lines |> Array.skip 1 |> Array.filter (fun l -> l.Trim() <> "") |> Array.map (fun l -> let f = fields l in fun (name: string) -> f.[System.Array.IndexOf(header, name)])

/// (task, seed) → `mmg-debiased` estimate, a later file's row replacing an earlier one's. Bench
/// files (`mmg bench` results: rows of estimator mmg-debiased) are read whole; ablation files
/// (column mmg_debiased) only where `keep` takes the row (e.g. one configuration).
let debiasedEstimates (paths: string seq) (keep: (string -> string) -> bool) =
    let d = System.Collections.Generic.Dictionary<string * int, float>()
    let num (s: string) = System.Double.Parse(s, System.Globalization.CultureInfo.InvariantCulture)
    for p in paths do
        let bench = fields (File.ReadLines p |> Seq.head) |> Array.contains "estimator"
        for r in rows p do
            if (if bench then r "estimator" = "mmg-debiased" else keep r) then
                d.[(r "task", int (r "seed"))] <- num (if bench then r "estimate" else r "mmg_debiased")
    d

/// The benchmark's rule: the mean over seeds within max(0.05, 0.1·truth).
let passes (truth: float) (xs: float[]) = abs (Array.average xs - truth) <= max 0.05 (0.1 * truth)

/// The per-seed rule: every seed within max(0.08, 0.15·truth).
let everySeed (truth: float) (xs: float[]) = xs |> Array.forall (fun v -> abs (v - truth) <= max 0.08 (0.15 * truth))
