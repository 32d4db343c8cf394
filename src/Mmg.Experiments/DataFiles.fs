namespace Mmg.Experiments

open System
open System.Globalization
open System.IO

/// Sample matrices read from CSV with their column names.
type LabelledSamples =
    { X: float[,]
      Y: float[,]
      XNames: string[]
      YNames: string[] }

/// CSV in bmi's layout (header row; columns X0.., Y0..). Errors are one line naming the file,
/// the line (and data row = line − 1) and the column.
module DataFiles =
    let private fail (path: string) (message: string) = raise (InvalidDataException(sprintf "%s: %s" path message))

    /// The most columns a CSV header may have.
    [<Literal>]
    let MaxColumns = 10000

    /// The fields of one CSV line, split on commas; a field may be quoted ("a,b"; "" is a quote).
    /// None if a quote is not closed on the line.
    let splitLine (line: string) : string[] option =
        let fields = ResizeArray<string>()
        let cell = Text.StringBuilder()
        let mutable quoted = false
        let mutable i = 0
        while i < line.Length do
            let ch = line.[i]
            if quoted then
                if ch = '"' then
                    if i + 1 < line.Length && line.[i + 1] = '"' then
                        cell.Append '"' |> ignore
                        i <- i + 1
                    else quoted <- false
                else cell.Append ch |> ignore
            elif ch = '"' then quoted <- true
            elif ch = ',' then
                fields.Add(cell.ToString())
                cell.Clear() |> ignore
            else cell.Append ch |> ignore
            i <- i + 1
        if quoted then None
        else
            fields.Add(cell.ToString())
            Some(fields.ToArray())

    /// Whether a column name is a default x (prefix "X") or y ("Y") column: the prefix, case-exact,
    /// followed by digits only (X0, X12; not "x0", "Xa" or "year").
    let isDefaultColumn (prefix: string) (name: string) =
        name.Length > prefix.Length
        && name.StartsWith(prefix, StringComparison.Ordinal)
        && name |> Seq.skip prefix.Length |> Seq.forall Char.IsAsciiDigit

    let private separatorHint (line: string) =
        if line.Contains ';' then "; the line contains ';': this file seems to use ';' as separator, but columns must be separated by ',' (and decimals written with '.')"
        elif line.Contains '\t' then "; the line contains tabs: this file seems to be tab-separated, but columns must be separated by ','"
        else ""

    /// How the conditioning (z) columns are chosen: none at all (plain MI reading), or a
    /// specification: null for the default (every Z<digits> column, possibly none), "none" for no
    /// conditioning, else comma-separated names.
    type private ZChoice =
        | NoZ
        | ZSpec of string

    /// The header of a CSV: its column names (validated as in readCsv: no empty or duplicate names).
    let private readHeader (path: string) (reader: StreamReader) : string[] =
        let header = reader.ReadLine()
        if isNull header || String.IsNullOrWhiteSpace header then fail path "line 1 (the header) is empty; expected column names such as X0,Y0."
        let names =
            match splitLine header with
            | Some f -> f |> Array.map (fun n -> n.Trim())
            | None -> fail path "line 1 (the header): a quoted name is not closed."
        if names.Length > MaxColumns then
            fail path (sprintf "line 1 (the header) has %d fields; at most %d columns are supported." names.Length MaxColumns)
        if names.Length = 1 && separatorHint header <> "" then
            fail path (sprintf "the header has a single column '%s'%s." (if header.Length > 60 then header.Substring(0, 60) + "…" else header) (separatorHint header))
        names |> Array.iteri (fun j n -> if n = "" then fail path (sprintf "column %d of the header has no name; every column needs one." (j + 1)))
        names
        |> Array.iteri (fun j n ->
            match Array.tryFindIndex ((=) n) names with
            | Some first when first < j -> fail path (sprintf "the column name '%s' appears twice in the header (columns %d and %d); column names must be unique." n (first + 1) (j + 1))
            | _ -> ())
        names

    let private openCsv (path: string) =
        if String.IsNullOrWhiteSpace path then invalidArg "path" "the input file name is empty."
        if Directory.Exists path then raise (InvalidDataException(sprintf "%s is a directory, not a CSV file; give the path of the CSV file." path))
        if not (File.Exists path) then raise (FileNotFoundException(sprintf "%s: no such file." path, path))
        if FileInfo(path).Length = 0L then fail path "the file is empty; expected a header row (X0,..,Y0,..) and data rows."
        new StreamReader(path, Text.Encoding.UTF8, true)

    /// The column names of a CSV's header.
    let columns (path: string) : string[] =
        use reader = openCsv path
        readHeader path reader

    /// The default conditioning columns of a header: the names Z<digits> (Z0, Z1, …), case-exact
    /// like the X and Y defaults.
    let defaultZColumns (names: string[]) = names |> Array.filter (isDefaultColumn "Z")

    let private readColumns (path: string) (xColumns: string) (yColumns: string) (zChoice: ZChoice) : LabelledSamples * float[,] * string[] =
        use reader = openCsv path
        let names = readHeader path reader
        let columnList () = if names.Length <= 12 then String.Join(", ", names) else String.Join(", ", Array.truncate 12 names) + sprintf ", … (%d columns)" names.Length
        let pick (spec: string) (prefix: string) (label: string) =
            if isNull spec then
                let cols = names |> Array.filter (isDefaultColumn prefix)
                if cols.Length = 0 then
                    fail path (sprintf "no %s columns: none of the columns (%s) is named %s<digits> (%s0, %s1, …); choose them with --%s." label (columnList ()) prefix prefix prefix label)
                cols
            else
                let wanted = spec.Split(',') |> Array.map (fun w -> w.Trim())
                if wanted |> Array.forall ((=) "") then fail path (sprintf "--%s is empty; give comma-separated column names (the columns are: %s)." label (columnList ()))
                if wanted |> Array.exists ((=) "") then fail path (sprintf "--%s '%s' has an empty column name; give comma-separated names." label spec)
                wanted
                |> Array.iteri (fun k w ->
                    if Array.IndexOf(wanted, w) < k then fail path (sprintf "column '%s' is listed twice in --%s." w label))
                for w in wanted do
                    if not (Array.contains w names) then
                        fail path (sprintf "unknown column '%s' for %s; the columns are: %s." w label (columnList ()))
                wanted
        let xs, ys = pick xColumns "X" "x", pick yColumns "Y" "y"
        for c in xs do
            if Array.contains c ys then fail path (sprintf "column '%s' is both an x and a y column." c)
        let zs =
            match zChoice with
            | NoZ -> [||]
            | ZSpec spec when isNull spec -> defaultZColumns names |> Array.filter (fun c -> not (Array.contains c xs || Array.contains c ys))
            | ZSpec spec when spec.Trim().Equals("none", StringComparison.OrdinalIgnoreCase) -> [||]
            | ZSpec spec -> pick spec "Z" "z"
        for c in zs do
            if Array.contains c xs || Array.contains c ys then fail path (sprintf "column '%s' is both a z column and an x or y column." c)
        let zIdx = zs |> Array.map (fun c -> Array.IndexOf(names, c))
        let xIdx = xs |> Array.map (fun c -> Array.IndexOf(names, c))
        let yIdx = ys |> Array.map (fun c -> Array.IndexOf(names, c))
        let xRows, yRows, zRows = ResizeArray<float[]>(), ResizeArray<float[]>(), ResizeArray<float[]>()
        let mutable lineNo = 1
        let mutable blank = 0
        let mutable line = reader.ReadLine()
        while not (isNull line) do
            lineNo <- lineNo + 1
            if String.IsNullOrWhiteSpace line then
                if blank = 0 then blank <- lineNo
            else
                if blank > 0 then fail path (sprintf "line %d is empty; remove blank lines between data rows." blank)
                let row = lineNo - 1
                let fields =
                    match splitLine line with
                    | Some f -> f
                    | None -> fail path (sprintf "line %d (row %d): a quoted field is not closed." lineNo row)
                if fields.Length <> names.Length then
                    let what = if fields.Length > names.Length then "more" else "fewer"
                    fail path (sprintf "line %d (row %d) has %d field%s, %s than the %d of the header (%s)%s; every row needs one value per column." lineNo row fields.Length (if fields.Length = 1 then "" else "s") what names.Length (columnList ()) (separatorHint line))
                let cells (idx: int[]) (cols: string[]) =
                    idx
                    |> Array.mapi (fun k j ->
                        let text = fields.[j].Trim()
                        if text = "" then fail path (sprintf "row %d (line %d), column %s: the cell is empty." row lineNo cols.[k])
                        match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
                        | true, d when Double.IsFinite d -> d
                        | true, d -> fail path (sprintf "row %d (line %d), column %s: %g is not finite." row lineNo cols.[k] d)
                        | _ -> fail path (sprintf "row %d (line %d), column %s: '%s' is not a number." row lineNo cols.[k] text))
                xRows.Add(cells xIdx xs)
                yRows.Add(cells yIdx ys)
                zRows.Add(cells zIdx zs)
            line <- reader.ReadLine()
        if xRows.Count = 0 then fail path "has a header but no data rows."
        if xRows.Count = 1 then fail path "has only 1 data row; estimating mutual information needs many rows (at least 2; most estimators need hundreds)."
        // a column whose mean or variance overflows cannot be standardised (Data.validate checks
        // this too; here the message can name the column and the line)
        for rows, cols in [ xRows, xs; yRows, ys; zRows, zs ] do
            cols
            |> Array.iteri (fun j c ->
                let n = float rows.Count
                let mean = (rows |> Seq.sumBy (fun r -> r.[j])) / n
                let ss = rows |> Seq.sumBy (fun r -> (r.[j] - mean) * (r.[j] - mean))
                if not (Double.IsFinite mean && Double.IsFinite ss) then
                    let i = rows |> Seq.mapi (fun i r -> i, abs r.[j]) |> Seq.maxBy snd |> fst
                    fail path (sprintf "column %s cannot be standardised: its values are too large (%g on line %d), so its mean or variance overflows; rescale the column (e.g. divide it by a power of 10)." c rows.[i].[j] (i + 2)))
        let matrix (rows: ResizeArray<float[]>) (k: int) = Array2D.init rows.Count k (fun i j -> rows.[i].[j])
        { X = matrix xRows xs.Length; Y = matrix yRows ys.Length; XNames = xs; YNames = ys }, matrix zRows zs.Length, zs

    /// Reads x and y columns from a CSV. `xColumns`/`yColumns` are comma-separated names, or
    /// null for the default: the columns named X<digits> (resp. Y<digits>), case-exact.
    /// Refused, with the line number: rows with more or fewer fields than the header, blank lines
    /// between rows, empty or non-numeric cells, non-finite values; also duplicate or empty
    /// header names, files with fewer than 2 data rows, and (with a hint) ';'-separated files.
    let readCsv (path: string) (xColumns: string) (yColumns: string) : LabelledSamples =
        let s, _, _ = readColumns path xColumns yColumns NoZ
        s

    /// Reads x, y and z columns from a CSV, with readCsv's checks (also on the z cells).
    /// `zColumns`: comma-separated names; null for the default (every Z<digits> column that is not
    /// an x or y column, possibly none); "none" for no conditioning. Returns the samples and z with
    /// its names (z is n×0 when there is none).
    let readCsvConditional (path: string) (xColumns: string) (yColumns: string) (zColumns: string) : LabelledSamples * float[,] * string[] =
        readColumns path xColumns yColumns (ZSpec zColumns)

    // Writes column blocks (prefix, matrix) as CSV with columns <prefix>0.., via a uniquely named
    // temporary file in the same folder that is renamed into place (and removed on failure), so a
    // failure never leaves a half-written file or debris.
    let private writeBlocks (path: string) (blocks: (string * float[,]) list) =
        let n = Array2D.length1 (snd blocks.Head)
        if blocks |> List.exists (fun (_, m) -> Array2D.length1 m <> n) then
            invalidArg "y" (sprintf "the columns have different row counts: %s." (String.Join(", ", blocks |> List.map (fun (p, m) -> sprintf "%s %d" (p.ToLowerInvariant()) (Array2D.length1 m)))))
        let full = Path.GetFullPath path
        if Directory.Exists full then invalidArg "path" (sprintf "'%s' is a directory; give a file name." path)
        let dir = Path.GetDirectoryName full
        Directory.CreateDirectory dir |> ignore
        let tmp = Path.Combine(dir, sprintf ".%s.%s.tmp" (Path.GetFileName full) (Guid.NewGuid().ToString("N").Substring(0, 12)))
        try
            (use w = new StreamWriter(tmp)
             w.WriteLine(String.Join(",", blocks |> Seq.collect (fun (p, m) -> Array.init (Array2D.length2 m) (fun j -> sprintf "%s%d" p j))))
             let cell (v: float) = v.ToString("R", CultureInfo.InvariantCulture)
             for i in 0 .. n - 1 do
                 w.WriteLine(String.Join(",", blocks |> Seq.collect (fun (_, m) -> Array.init (Array2D.length2 m) (fun j -> cell m.[i, j])))))
            File.Move(tmp, full, true)
        finally
            if File.Exists tmp then File.Delete tmp

    /// Writes samples as bmi-style CSV (X0.., Y0..), atomically (a temporary file renamed into
    /// place; a failure leaves no half-written file or debris).
    let writeCsv (path: string) (x: float[,]) (y: float[,]) = writeBlocks path [ "X", x; "Y", y ]

    /// Writes (x, y, z) samples as CSV with columns X0.., Y0.., Z0.. (atomically, as writeCsv).
    let writeCsvConditional (path: string) (x: float[,]) (y: float[,]) (z: float[,]) = writeBlocks path [ "X", x; "Y", y; "Z", z ]
