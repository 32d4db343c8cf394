namespace Mmg.Core

open System
open System.Globalization
open System.IO
open Deedle

/// Sample matrices read from CSV (via Deedle) with their column names.
type LabelledSamples =
    { X: float[,]
      Y: float[,]
      XNames: string[]
      YNames: string[] }

/// CSV in bmi's layout (header row; columns X0.., Y0..). Errors are one line naming the file,
/// the row (1-based data row, i.e. line − 1) and the column.
module DataFiles =
    let private fail (path: string) (message: string) = raise (InvalidDataException(sprintf "%s: %s" path message))

    /// The header of a CSV (its column names), via Deedle, and the frame.
    let private load (path: string) : Frame<int, string> * string[] =
        if not (File.Exists path) then raise (FileNotFoundException(sprintf "%s: no such file." path, path))
        if FileInfo(path).Length = 0L then fail path "the file is empty; expected a header row (X0,..,Y0,..) and data rows."
        let frame: Frame<int, string> =
            try Frame.ReadCsv(path, hasHeaders = true, inferTypes = false)
            with e -> fail path (sprintf "cannot be read as CSV (%s)." e.Message)
        let names = frame.ColumnKeys |> Array.ofSeq
        if frame.RowCount = 0 then fail path "has a header but no data rows."
        frame, names

    let private pick (path: string) (names: string[]) (spec: string) (prefix: string) (label: string) =
        if String.IsNullOrWhiteSpace spec then
            let cols = names |> Array.filter (fun n -> n.Trim().StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            if cols.Length = 0 then
                fail path (sprintf "no %s columns: none of the columns (%s) starts with '%s'; name them with --%s." label (String.Join(", ", names)) prefix (label.ToLowerInvariant()))
            cols
        else
            let wanted = spec.Split(',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries)
            for w in wanted do
                if not (Array.contains w names) then
                    fail path (sprintf "unknown column '%s' for %s; the columns are: %s." w label (String.Join(", ", names)))
            wanted

    let private matrix (path: string) (frame: Frame<int, string>) (cols: string[]) =
        let rowKeys = frame.RowKeys |> Array.ofSeq
        let m = Array2D.zeroCreate rowKeys.Length cols.Length
        cols
        |> Array.iteri (fun j c ->
            let s = frame.GetColumn<string>(c)
            rowKeys
            |> Array.iteri (fun i k ->
                let v = s.TryGet k
                if not v.HasValue || String.IsNullOrWhiteSpace v.Value then
                    fail path (sprintf "row %d (line %d), column %s: the cell is empty." (i + 1) (i + 2) c)
                match Double.TryParse(v.Value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture) with
                | true, d when Double.IsFinite d -> m.[i, j] <- d
                | true, d -> fail path (sprintf "row %d (line %d), column %s: %g is not finite." (i + 1) (i + 2) c d)
                | _ -> fail path (sprintf "row %d (line %d), column %s: '%s' is not a number." (i + 1) (i + 2) c v.Value)))
        m

    /// Reads x and y columns from a CSV. `xColumns`/`yColumns` are comma-separated names, or
    /// null/empty for the default: every column whose name starts with X (resp. Y).
    let readCsv (path: string) (xColumns: string) (yColumns: string) : LabelledSamples =
        let frame, names = load path
        let xs, ys = pick path names xColumns "X" "x", pick path names yColumns "Y" "y"
        for c in xs do
            if Array.contains c ys then fail path (sprintf "column '%s' is both an x and a y column." c)
        { X = matrix path frame xs; Y = matrix path frame ys; XNames = xs; YNames = ys }

    /// The default conditioning columns of a header: names Z followed by digits (Z0, Z1, …).
    let defaultZColumns (names: string[]) =
        names |> Array.filter (fun n -> let t = n.Trim() in t.Length > 1 && (t.[0] = 'Z' || t.[0] = 'z') && t.Substring(1) |> Seq.forall Char.IsDigit)

    /// Reads x, y and z columns from a CSV. `zColumns`: comma-separated names; null/empty for the
    /// default (every Z<digits> column, possibly none); "none" for no conditioning. Returns the
    /// samples and z with its names (z is n×0 when there is none).
    let readCsvConditional (path: string) (xColumns: string) (yColumns: string) (zColumns: string) : LabelledSamples * float[,] * string[] =
        let frame, names = load path
        let xs, ys = pick path names xColumns "X" "x", pick path names yColumns "Y" "y"
        let zs =
            if String.IsNullOrWhiteSpace zColumns then defaultZColumns names
            elif zColumns.Trim().Equals("none", StringComparison.OrdinalIgnoreCase) then [||]
            else pick path names zColumns "Z" "z"
        for c in xs do
            if Array.contains c ys then fail path (sprintf "column '%s' is both an x and a y column." c)
        for c in zs do
            if Array.contains c xs || Array.contains c ys then fail path (sprintf "column '%s' is both a z column and an x or y column." c)
        let z = if zs.Length = 0 then Array2D.zeroCreate frame.RowCount 0 else matrix path frame zs
        { X = matrix path frame xs; Y = matrix path frame ys; XNames = xs; YNames = ys }, z, zs

    /// The column names of a CSV's header.
    let columns (path: string) : string[] = snd (load path)

    /// Writes samples as bmi-style CSV (X0.., Y0..), via a temporary file so that a failure never
    /// leaves a half-written file.
    let writeCsv (path: string) (x: float[,]) (y: float[,]) =
        if Array2D.length1 x <> Array2D.length1 y then
            invalidArg "y" (sprintf "x has %d rows but y has %d." (Array2D.length1 x) (Array2D.length1 y))
        let dir = Path.GetDirectoryName(Path.GetFullPath path)
        Directory.CreateDirectory dir |> ignore
        let tmp = path + ".tmp"
        (use w = new StreamWriter(tmp)
         let dx, dy = Array2D.length2 x, Array2D.length2 y
         w.WriteLine(String.Join(",", Array.append (Array.init dx (sprintf "X%d")) (Array.init dy (sprintf "Y%d"))))
         for i in 0 .. Array2D.length1 x - 1 do
             let cells = Array.append (Array.init dx (fun j -> x.[i, j].ToString("R", CultureInfo.InvariantCulture))) (Array.init dy (fun j -> y.[i, j].ToString("R", CultureInfo.InvariantCulture)))
             w.WriteLine(String.Join(",", cells)))
        File.Move(tmp, path, true)

    /// Writes (x, y, z) samples as CSV with columns X0.., Y0.., Z0.. (atomically, as writeCsv).
    let writeCsvConditional (path: string) (x: float[,]) (y: float[,]) (z: float[,]) =
        let n = Array2D.length1 x
        if Array2D.length1 y <> n || Array2D.length1 z <> n then
            invalidArg "y" (sprintf "x has %d rows, y %d and z %d." n (Array2D.length1 y) (Array2D.length1 z))
        let dir = Path.GetDirectoryName(Path.GetFullPath path)
        Directory.CreateDirectory dir |> ignore
        let tmp = path + ".tmp"
        (use w = new StreamWriter(tmp)
         let dx, dy, dz = Array2D.length2 x, Array2D.length2 y, Array2D.length2 z
         w.WriteLine(String.Join(",", Array.concat [ Array.init dx (sprintf "X%d"); Array.init dy (sprintf "Y%d"); Array.init dz (sprintf "Z%d") ]))
         let cell (v: float) = v.ToString("R", CultureInfo.InvariantCulture)
         for i in 0 .. n - 1 do
             w.WriteLine(String.Join(",", Array.concat [ Array.init dx (fun j -> cell x.[i, j]); Array.init dy (fun j -> cell y.[i, j]); Array.init dz (fun j -> cell z.[i, j]) ])))
        File.Move(tmp, path, true)
