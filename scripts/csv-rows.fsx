// CSV reading shared by the scripts that read result files: a line split on commas outside
// double quotes, and a file's rows as lookups by column name. `#load "csv-rows.fsx"`.
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
