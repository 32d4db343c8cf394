namespace Mmg.Core

open System
open System.Collections.Generic
open System.IO
open System.Security.Cryptography
open System.Text.Json

/// What the persisted model knows besides its weights (model.json).
type MmgModelInfo =
    { /// ModelFiles.FormatVersion when written; 0 (absent) is refused on load.
      FormatVersion: int
      DimX: int
      DimY: int
      Width: int
      Blocks: int
      Frequencies: int
      /// Whether the networks carry the linear-Gaussian base (Network.LinearGaussian).
      LinearBase: bool
      MeanX: float[]
      StdX: float[]
      MeanY: float[]
      StdY: float[]
      FixedQ: float[]
      AdaptiveQ: float[]
      Settings: Dictionary<string, string>
      /// SHA-256 (lower-case hex) of each weight file, by file name.
      Checksums: Dictionary<string, string> }

/// A saved MMG model is one folder (model.json, fixed.bin, adaptive.bin) that is written as a
/// unit: everything goes into a temporary sibling folder, which is then renamed into place, so a
/// killed or failed save leaves either the old model or the new one, never a mix. model.json
/// carries a format version and the SHA-256 of each weight file; `read` verifies both. Nothing
/// here touches libtorch, so a bad model folder is refused before libtorch is loaded.
module ModelFiles =
    /// The format written by this version.
    [<Literal>]
    let FormatVersion = 1

    /// The weight files of a model folder.
    let WeightFiles = [| "fixed.bin"; "adaptive.bin" |]

    /// Every file a model folder holds.
    let Files = Array.append [| "model.json" |] WeightFiles

    let private fail (dir: string) (message: string) = raise (InvalidDataException(sprintf "model %s: %s" dir message))

    /// SHA-256 of a file as lower-case hex.
    let sha256 (path: string) =
        use s = File.OpenRead path
        Convert.ToHexStringLower(SHA256.HashData s)

    let private full (dir: string) =
        if String.IsNullOrWhiteSpace dir then invalidArg "dir" "the model folder name is empty."
        Path.TrimEndingDirectorySeparator(Path.GetFullPath dir)

    /// Checks that `dir` can receive a saved model, without writing anything: it must not be a
    /// file, and an existing folder must be empty or hold a saved model (which a save replaces),
    /// so that saving never deletes anything else; the nearest existing parent must be a folder.
    let checkTarget (dir: string) =
        let f = full dir
        if File.Exists f then
            invalidArg "dir" (sprintf "'%s' is a file; a model is saved as a folder (model.json, fixed.bin, adaptive.bin)." dir)
        if Directory.Exists f then
            let others =
                Directory.EnumerateFileSystemEntries f
                |> Seq.map Path.GetFileName
                |> Seq.filter (fun n -> not (Array.contains n Files))
                |> Seq.truncate 3
                |> Array.ofSeq
            if others.Length > 0 then
                invalidArg "dir" (sprintf "'%s' already holds other files (%s); save the model to a new or empty folder, or to one that holds a saved model." dir (String.Join(", ", others)))
        else
            let mutable parent = Path.GetDirectoryName f
            while not (isNull parent) && not (Directory.Exists parent) do
                if File.Exists parent then
                    invalidArg "dir" (sprintf "cannot create the folder '%s': '%s' is a file." dir parent)
                parent <- Path.GetDirectoryName parent

    /// Writes a model folder as a unit. `writeWeights folder` writes the WeightFiles into the
    /// (temporary) folder it is given; model.json is written last with their checksums.
    let save (dir: string) (info: MmgModelInfo) (writeWeights: string -> unit) =
        checkTarget dir
        let target = full dir
        let parent = Path.GetDirectoryName target
        Directory.CreateDirectory parent |> ignore
        let tag = Guid.NewGuid().ToString("N").Substring(0, 12)
        let name = Path.GetFileName target
        let tmp = Path.Combine(parent, sprintf ".%s.%s.tmp" name tag)
        let old = Path.Combine(parent, sprintf ".%s.%s.old" name tag)
        try
            Directory.CreateDirectory tmp |> ignore
            writeWeights tmp
            let sums = Dictionary<string, string>()
            for w in WeightFiles do
                let p = Path.Combine(tmp, w)
                if not (File.Exists p) then invalidOp (sprintf "saving the model wrote no %s." w)
                sums.[w] <- sha256 p
            let text = JsonSerializer.Serialize({ info with FormatVersion = FormatVersion; Checksums = sums }, JsonSerializerOptions(WriteIndented = true))
            File.WriteAllText(Path.Combine(tmp, "model.json"), text)
            if Directory.Exists target then
                // the old model steps aside until the new one is in place
                Directory.Move(target, old)
                Directory.Move(tmp, target)
                Directory.Delete(old, true)
            else
                Directory.Move(tmp, target)
        finally
            if Directory.Exists tmp then Directory.Delete(tmp, true)
            if Directory.Exists old then
                if Directory.Exists target then Directory.Delete(old, true) else Directory.Move(old, target)

    let private requireLength (dir: string) (field: string) (expected: int) (a: float[]) =
        if isNull a || a.Length <> expected then
            fail dir (sprintf "model.json is damaged: %s has %s values, expected %d." field (if isNull a then "no" else string a.Length) expected)
        for v in a do
            if not (Double.IsFinite v) then fail dir (sprintf "model.json is damaged: %s holds the non-finite value %g." field v)

    let private requireDensity (dir: string) (field: string) (a: float[]) =
        match a with
        | [| 0.0; _; s; c |] when s > 0.0 && c > 0.0 && Array.forall Double.IsFinite a -> ()
        | [| 1.0; lo; hi |] when lo < hi && Array.forall Double.IsFinite a -> ()
        | _ -> fail dir (sprintf "model.json is damaged: %s is not a log-SNR density." field)

    /// Reads and verifies model.json of a saved model folder: format version, field shapes and
    /// the checksum of each weight file. Every problem is one line naming the folder and file.
    let read (dir: string) : MmgModelInfo =
        let f = full dir
        if File.Exists f then
            invalidArg "dir" (sprintf "'%s' is a file; give the folder a model was saved to (it holds model.json, fixed.bin, adaptive.bin)." dir)
        if not (Directory.Exists f) then
            invalidArg "dir" (sprintf "no saved MMG model in '%s': no such folder." dir)
        let path = Path.Combine(f, "model.json")
        if not (File.Exists path) then
            invalidArg "dir" (sprintf "no saved MMG model in '%s' (model.json is missing)." dir)
        let info =
            try JsonSerializer.Deserialize<MmgModelInfo>(File.ReadAllText path)
            with
            | :? JsonException as e -> fail dir (sprintf "model.json is not valid JSON (%s)." (e.Message.Split('\n').[0].TrimEnd('.')))
            | :? NotSupportedException as e -> fail dir (sprintf "model.json does not describe a model (%s)." (e.Message.Split('\n').[0].TrimEnd('.')))
        if box info |> isNull then fail dir "model.json is empty (null)."
        if info.FormatVersion = 0 then
            fail dir "model.json has no format version: it was not saved by this version of Mmg, or it is damaged; train and save the model again."
        if info.FormatVersion > FormatVersion then
            fail dir (sprintf "model.json has format version %d, newer than this Mmg reads (%d); use a newer Mmg." info.FormatVersion FormatVersion)
        if info.FormatVersion < 0 then
            fail dir (sprintf "model.json is damaged: format version %d." info.FormatVersion)
        for name, v in [ "DimX", info.DimX; "DimY", info.DimY; "Width", info.Width; "Blocks", info.Blocks; "Frequencies", info.Frequencies ] do
            if v < 1 then fail dir (sprintf "model.json is damaged: %s is %d, expected a positive number." name v)
        requireLength dir "MeanX" info.DimX info.MeanX
        requireLength dir "StdX" info.DimX info.StdX
        requireLength dir "MeanY" info.DimY info.MeanY
        requireLength dir "StdY" info.DimY info.StdY
        for name, s in [ "StdX", info.StdX; "StdY", info.StdY ] do
            if s |> Array.exists (fun v -> v <= 0.0) then fail dir (sprintf "model.json is damaged: %s holds a value that is not positive." name)
        requireDensity dir "FixedQ" info.FixedQ
        requireDensity dir "AdaptiveQ" info.AdaptiveQ
        if isNull info.Checksums then fail dir "model.json has no checksums of the weight files; train and save the model again."
        for w in WeightFiles do
            let p = Path.Combine(f, w)
            if not (File.Exists p) then fail dir (sprintf "%s is missing; the folder does not hold a complete model." w)
            match info.Checksums.TryGetValue w with
            | true, expected when not (String.IsNullOrEmpty expected) ->
                if not (String.Equals(sha256 p, expected, StringComparison.OrdinalIgnoreCase)) then
                    fail dir (sprintf "%s does not match its checksum in model.json: the folder is damaged or was partly overwritten; save the model again." w)
            | _ -> fail dir (sprintf "model.json has no checksum for %s; train and save the model again." w)
        { info with Settings = (if isNull info.Settings then Dictionary<string, string>() else info.Settings) }
