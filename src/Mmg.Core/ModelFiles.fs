namespace Mmg.Core

open System
open System.Collections.Generic
open System.IO
open System.Security.Cryptography
open System.Text.Json
open System.Text.Json.Nodes
open TorchSharp

/// What the persisted model knows besides its weights (model.json): the network's shape, the
/// standardisation of x and y fit on the training rows, both log-SNR densities. An MI model's
/// model.json is this record; a conditional-MI model's adds ConditioningInfo's fields. Both carry
/// a "Kind" (ModelFiles.MiKind, ModelFiles.CmiKind), written and checked by ModelFiles.
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
      /// NetworkShape.YEmbedding (false in files written before it existed).
      YEmbedding: bool
      /// NetworkShape.InputFeatures as its option text (null, "plain", in files written before it existed).
      InputFeatures: string
      /// NetworkShape.VPrediction (false in files written before it existed).
      VPrediction: bool
      /// NetworkShape.Gated (false in files written before it existed).
      Gated: bool
      /// NetworkShape.GroupNorm as the option's text, "group" or "none" (null, group, in files
      /// written before it existed).
      Norm: string
      MeanX: float[]
      StdX: float[]
      MeanY: float[]
      StdY: float[]
      /// Normal-scores maps of x's and y's columns applied before the standardisation
      /// (Data.MarginalScores); empty or absent (null, format ≤ 2) for none.
      MarginalsX: Data.MarginalScores[]
      MarginalsY: Data.MarginalScores[]
      FixedQ: float[]
      AdaptiveQ: float[]
      Settings: Dictionary<string, string>
      /// SHA-256 (lower-case hex) of each weight file, by file name.
      Checksums: Dictionary<string, string> }

/// What a conditional-MI (MMG-CMI) model adds to MmgModelInfo in model.json: the number of
/// conditioning columns and the standardisation of z fit on the training rows.
type ConditioningInfo =
    { DimZ: int
      MeanZ: float[]
      StdZ: float[]
      /// Normal-scores maps of z's columns (empty or absent for none).
      MarginalsZ: Data.MarginalScores[] }

/// A saved MMG or MMG-CMI model is one folder (model.json, fixed.bin, adaptive.bin) that is
/// written as a unit: everything goes into a temporary sibling folder, which is then renamed into
/// place, so a killed or failed save leaves either the old model or the new one, never a mix.
/// model.json carries a format version, the kind of model (MI or conditional MI) and the SHA-256
/// of each weight file; `read` / `readConditional` verify all three, so an MI folder is never
/// loaded as a conditional model or the reverse. checkTarget, read, readConditional and kindOf
/// touch no libtorch, so a bad model folder is refused before libtorch is loaded; only
/// writeNetworks and loadNetworks (the weights) do.
module ModelFiles =
    /// The format written by this version. 2 added "Kind"; a version-1 folder (no kind) holds an
    /// MI model, the only kind version 1 could save, and still loads as one. 3 added the
    /// normal-scores maps (MarginalsX/Y/Z): an older Mmg would ignore them and misread the
    /// model, so it must refuse the folder; version 1 and 2 folders load with no maps.
    [<Literal>]
    let FormatVersion = 3

    /// model.json's "Kind" of an MI model (MmgModel: I(X;Y)).
    [<Literal>]
    let MiKind = "mi"

    /// model.json's "Kind" of a conditional-MI model (CmiModel: I(X;Y|Z)).
    [<Literal>]
    let CmiKind = "cmi"

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

    /// Writes a model folder of `kind` as a unit. model.json is Kind, FormatVersion, the fields of
    /// `parts` (records, in order; their own Kind, FormatVersion and Checksums are replaced) and
    /// the weights' Checksums; `writeWeights folder` writes the WeightFiles into the (temporary)
    /// folder it is given, and model.json is written last.
    let private writeFolder (dir: string) (kind: string) (parts: JsonObject list) (writeWeights: string -> unit) =
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
            let root = JsonObject()
            root.["Kind"] <- (JsonValue.Create kind :> JsonNode)
            root.["FormatVersion"] <- (JsonValue.Create FormatVersion :> JsonNode)
            for part in parts do
                for KeyValue(key, value) in List.ofSeq part do
                    if key <> "Kind" && key <> "FormatVersion" && key <> "Checksums" then
                        root.[key] <- (if isNull value then null else value.DeepClone())
            root.["Checksums"] <- JsonSerializer.SerializeToNode sums
            File.WriteAllText(Path.Combine(tmp, "model.json"), root.ToJsonString(JsonSerializerOptions(WriteIndented = true)))
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

    let private toObject (record: 'T) = JsonSerializer.SerializeToNode record :?> JsonObject

    /// Writes an MI model folder (kind MiKind) as a unit. `writeWeights folder` writes the
    /// WeightFiles into the (temporary) folder it is given; model.json is written last with their
    /// checksums.
    let save (dir: string) (info: MmgModelInfo) (writeWeights: string -> unit) =
        writeFolder dir MiKind [ toObject info ] writeWeights

    /// Writes a conditional-MI model folder (kind CmiKind) as a unit: model.json holds the fields
    /// of `info` and of `conditioning`; otherwise as `save`.
    let saveConditional (dir: string) (info: MmgModelInfo) (conditioning: ConditioningInfo) (writeWeights: string -> unit) =
        writeFolder dir CmiKind [ toObject info; toObject conditioning ] writeWeights

    /// model.json's fields of a trained network: its shape, the standardisation of x and y and
    /// both densities (LogSnr.toArray); format version and checksums are filled in by the save.
    let info (shape: NetworkShape) (stdX: Data.Standardizer) (stdY: Data.Standardizer) (fixedQ: LogSnrDensity) (adaptiveQ: LogSnrDensity) (settings: IReadOnlyDictionary<string, string>) : MmgModelInfo =
        { FormatVersion = FormatVersion
          DimX = shape.DimX; DimY = shape.DimY; Width = shape.Width; Blocks = shape.Blocks; Frequencies = shape.Frequencies
          LinearBase = shape.LinearBase
          YEmbedding = shape.YEmbedding
          InputFeatures = InputFeatures.text shape.InputFeatures
          VPrediction = shape.VPrediction
          Gated = shape.Gated
          Norm = (if shape.GroupNorm then "group" else "none")
          MeanX = stdX.Mean; StdX = stdX.Std; MeanY = stdY.Mean; StdY = stdY.Std
          MarginalsX = stdX.Marginals; MarginalsY = stdY.Marginals
          FixedQ = LogSnr.toArray fixedQ; AdaptiveQ = LogSnr.toArray adaptiveQ
          Settings = Dictionary<string, string>(settings)
          Checksums = null }

    /// The network shape model.json describes.
    let shapeOf (info: MmgModelInfo) : NetworkShape =
        { DimX = info.DimX; DimY = info.DimY; Width = info.Width; Blocks = info.Blocks; Frequencies = info.Frequencies; LinearBase = info.LinearBase; YEmbedding = info.YEmbedding; InputFeatures = InputFeatures.parse info.InputFeatures; VPrediction = info.VPrediction; Gated = info.Gated; GroupNorm = (info.Norm <> "none") }

    let private orNone (m: Data.MarginalScores[]) = if isNull m then [||] else m

    /// The standardisers of x and y model.json records.
    let standardizers (info: MmgModelInfo) : Data.Standardizer * Data.Standardizer =
        { Mean = info.MeanX; Std = info.StdX; Marginals = orNone info.MarginalsX }, { Mean = info.MeanY; Std = info.StdY; Marginals = orNone info.MarginalsY }

    /// The standardiser of z a conditional model's model.json records.
    let conditioningStandardizer (z: ConditioningInfo) : Data.Standardizer =
        { Mean = z.MeanZ; Std = z.StdZ; Marginals = orNone z.MarginalsZ }

    /// The fixed and the adaptive log-SNR density model.json records (verified by read).
    let densities (info: MmgModelInfo) : LogSnrDensity * LogSnrDensity =
        LogSnr.ofArray info.FixedQ, LogSnr.ofArray info.AdaptiveQ

    /// A `writeWeights` for save / saveConditional: the two networks' state to fixed.bin and adaptive.bin.
    let writeNetworks (fixedNet: torch.nn.Module) (adaptiveNet: torch.nn.Module) (folder: string) =
        fixedNet.save (Path.Combine(folder, "fixed.bin")) |> ignore
        adaptiveNet.save (Path.Combine(folder, "adaptive.bin")) |> ignore

    /// The weights of a verified folder (read / readConditional first): two networks made by
    /// `create`, loaded from fixed.bin and adaptive.bin, moved to `device`, in eval mode. A weight
    /// file libtorch cannot read as that network is one line naming it; nothing is left undisposed.
    let loadNetworks (dir: string) (device: torch.Device) (create: unit -> 'N) : 'N * 'N when 'N :> torch.nn.Module =
        let load name =
            let net = create ()
            try
                net.load (Path.Combine(dir, name)) |> ignore
                net.``to`` device |> ignore
                net.eval ()
                net
            with e ->
                net.Dispose()
                let first = e.Message.Split('\n').[0].Trim()
                raise (InvalidDataException(sprintf "model %s: %s does not hold the network model.json describes (%s)." dir name first))
        let fixedNet = load "fixed.bin"
        let adaptiveNet =
            try load "adaptive.bin"
            with _ ->
                fixedNet.Dispose()
                reraise ()
        fixedNet, adaptiveNet

    let private requireLength (dir: string) (field: string) (expected: int) (a: float[]) =
        if isNull a || a.Length <> expected then
            fail dir (sprintf "model.json is damaged: %s has %s values, expected %d." field (if isNull a then "no" else string a.Length) expected)
        for v in a do
            if not (Double.IsFinite v) then fail dir (sprintf "model.json is damaged: %s holds the non-finite value %g." field v)

    let private requirePositive (dir: string) (field: string) (a: float[]) =
        if a |> Array.exists (fun v -> v <= 0.0) then fail dir (sprintf "model.json is damaged: %s holds a value that is not positive." field)

    // absent/empty, or one strictly increasing finite map per column (Data.MarginalScores; a
    // column with no spread has empty knots)
    let private requireMarginals (dir: string) (field: string) (columns: int) (a: Data.MarginalScores[]) =
        if not (isNull a) && a.Length > 0 then
            if a.Length <> columns then fail dir (sprintf "model.json is damaged: %s has %d maps for %d columns." field a.Length columns)
            a |> Array.iteri (fun j m ->
                let increasing (v: float[]) = not (isNull v) && Array.forall Double.IsFinite v && Array.forall (fun (p, q) -> q > p) (Array.pairwise v)
                let ok =
                    not (box m |> isNull) && increasing m.Knots && increasing m.Scores
                    && m.Knots.Length = m.Scores.Length && m.Knots.Length <> 1
                if not ok then fail dir (sprintf "model.json is damaged: %s[%d] is not an increasing map (knots and scores of equal length)." field j))

    // any density LogSnr.toArray writes (logistic, uniform, defensive mixture), checked by LogSnr.ofArray
    let private requireDensity (dir: string) (field: string) (a: float[]) =
        let ok =
            not (isNull a) && Array.forall Double.IsFinite a
            && (try LogSnr.ofArray a |> ignore; true with :? ArgumentException -> false)
        if not ok then fail dir (sprintf "model.json is damaged: %s is not a log-SNR density." field)

    let private kindName (kind: string) =
        match kind with
        | MiKind -> "an MI model of I(X;Y)"
        | CmiKind -> "a conditional-MI model of I(X;Y|Z)"
        | other -> sprintf "a model of kind '%s'" other

    let private kindOrigin (kind: string) =
        match kind with
        | MiKind -> "kind mi, saved from an mmg estimator"
        | _ -> "kind cmi, saved from an mmg-cmi estimator"

    let private howToLoad (kind: string) =
        match kind with
        | MiKind -> "load it as an MI model (MmgModel.Load; with `mmg estimate`, leave out Z columns and conditional estimators, or give --z none)"
        | _ -> "load it as a conditional model (CmiModel.Load, in C# MmgCmiModel.Load; with `mmg estimate`, give the Z columns and an mmg-cmi estimator)"

    /// model.json's text and its MmgModelInfo, with the folder, the JSON, the format version and
    /// the kind checked; `expected` = the kind the caller loads.
    let private readHeader (dir: string) (expected: string) : string * MmgModelInfo =
        let f = full dir
        if File.Exists f then
            invalidArg "dir" (sprintf "'%s' is a file; give the folder a model was saved to (it holds model.json, fixed.bin, adaptive.bin)." dir)
        if not (Directory.Exists f) then
            invalidArg "dir" (sprintf "no saved MMG model in '%s': no such folder." dir)
        let path = Path.Combine(f, "model.json")
        if not (File.Exists path) then
            invalidArg "dir" (sprintf "no saved MMG model in '%s' (model.json is missing)." dir)
        let text = File.ReadAllText path
        let info =
            try JsonSerializer.Deserialize<MmgModelInfo> text
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
        let kind =
            use doc = JsonDocument.Parse text
            match doc.RootElement.TryGetProperty "Kind" with
            | true, k when k.ValueKind = JsonValueKind.String -> k.GetString()
            | true, _ -> fail dir "model.json is damaged: Kind is not a string (mi or cmi)."
            | false, _ when info.FormatVersion = 1 -> MiKind
            | false, _ -> fail dir "model.json is damaged: it does not say which kind of model it holds (Kind mi or cmi)."
        if kind <> MiKind && kind <> CmiKind then
            fail dir (sprintf "model.json holds a model of kind '%s', which this Mmg does not know (it reads mi and cmi); use a newer Mmg." kind)
        if kind <> expected then
            fail dir (sprintf "the folder holds %s (%s), not %s; %s." (kindName kind) (kindOrigin kind) (kindName expected) (howToLoad kind))
        text, info

    // the shape, standardisation, densities and weight checksums of a header that passed readHeader
    let private verify (dir: string) (info: MmgModelInfo) : MmgModelInfo =
        let f = full dir
        for name, v in [ "DimX", info.DimX; "DimY", info.DimY; "Width", info.Width; "Blocks", info.Blocks; "Frequencies", info.Frequencies ] do
            if v < 1 then fail dir (sprintf "model.json is damaged: %s is %d, expected a positive number." name v)
        requireLength dir "MeanX" info.DimX info.MeanX
        requireLength dir "StdX" info.DimX info.StdX
        requireLength dir "MeanY" info.DimY info.MeanY
        requireLength dir "StdY" info.DimY info.StdY
        requirePositive dir "StdX" info.StdX
        requirePositive dir "StdY" info.StdY
        requireMarginals dir "MarginalsX" info.DimX info.MarginalsX
        requireMarginals dir "MarginalsY" info.DimY info.MarginalsY
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

    /// Reads and verifies model.json of a saved MI model folder: format version, kind (a
    /// conditional-MI folder is refused, naming what it holds), field shapes and the checksum of
    /// each weight file. Every problem is one line naming the folder and file.
    let read (dir: string) : MmgModelInfo =
        let _, info = readHeader dir MiKind
        verify dir info

    /// Reads and verifies model.json of a saved conditional-MI model folder, as `read` (an MI
    /// folder is refused, naming what it holds), and the conditioning fields.
    let readConditional (dir: string) : MmgModelInfo * ConditioningInfo =
        let text, info = readHeader dir CmiKind
        let z =
            try JsonSerializer.Deserialize<ConditioningInfo> text
            with :? JsonException as e -> fail dir (sprintf "model.json is damaged: its conditioning fields do not read (%s)." (e.Message.Split('\n').[0].TrimEnd('.')))
        if z.DimZ < 0 then fail dir (sprintf "model.json is damaged: DimZ is %d, expected 0 or more." z.DimZ)
        requireLength dir "MeanZ" z.DimZ z.MeanZ
        requireLength dir "StdZ" z.DimZ z.StdZ
        requirePositive dir "StdZ" z.StdZ
        requireMarginals dir "MarginalsZ" z.DimZ z.MarginalsZ
        verify dir info, z

    /// The kind ("mi" or "cmi") of the model saved in `dir`, or null when the folder holds no
    /// readable model.json (use read / readConditional for the reason). Never throws.
    let kindOf (dir: string) : string =
        try
            let path = Path.Combine(full dir, "model.json")
            if not (File.Exists path) then null
            else
                use doc = JsonDocument.Parse(File.ReadAllText path)
                if doc.RootElement.ValueKind <> JsonValueKind.Object then null
                else
                    match doc.RootElement.TryGetProperty "Kind", doc.RootElement.TryGetProperty "FormatVersion" with
                    | (true, k), _ when k.ValueKind = JsonValueKind.String -> k.GetString()
                    | (false, _), (true, v) when v.ValueKind = JsonValueKind.Number && v.GetRawText() = "1" -> MiKind
                    | _ -> null
        with _ -> null
