/// Saved model folders (ModelFiles): the MMG-CMI model's round trip, the kind that keeps MI and
/// conditional-MI folders apart, version-1 MI folders, and corrupt or half-written folders.
module Mmg.Core.Tests.ModelFilesTests

open System
open System.Collections.Generic
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open TorchSharp
open global.Xunit
open Mmg.Core

let private quick seed steps = { EstimatorOptions.Default with Seed = seed; Profile = "quick"; Steps = steps }

/// The quick profile with normal-scores maps on every column (x, y and z), so that the round
/// trips below carry them.
let private quickScores seed steps = { quick seed steps with Extra = readOnlyDict [ "normal-scores", "32" ] }

/// The collider's samples: training rows (seed 1) and other rows to evaluate on (seed 2).
let private collider n seed = (CmiTasks.find "cmi-collider-1-1-1-0.5").Sample n seed

/// A trained MMG-CMI model (quick profile, 200 + 100 steps, 400 rows; a few seconds), saved to
/// <root>/cmi, and an untrained MI model with a defensive adaptive density saved to <root>/mi.
type SavedModels() =
    let root = Directory.CreateTempSubdirectory("mmg-modelfiles-").FullName
    let x, y, z = collider 400 1
    let _, cmi = CmiEstimator("mmg-cmi-orthogonal-adaptive", quickScores 3 200).EstimateWithModel(x, y, z, null, false)
    let cmiDir = Path.Combine(root, "cmi")
    do cmi.Save cmiDir
    let miDir = Path.Combine(root, "mi")
    do
        let shape = Network.shape 1 1 16
        let s: Data.Standardizer = { Mean = [| 0.5 |]; Std = [| 2.0 |]; Marginals = [||] }
        let q = LogSnr.defensive (LogSnr.logistic 1.0 2.0 4.0) 0.2
        use mi = new MmgModel(shape, new DenoiserNet(shape), new DenoiserNet(shape), LogSnr.paperDefault, q, s, s, torch.CPU, Dictionary<string, string>())
        mi.Save miDir

    member _.Root = root
    member _.Cmi = cmi
    member _.CmiDir = cmiDir
    member _.MiDir = miDir

    interface IDisposable with
        member _.Dispose() =
            (cmi :> IDisposable).Dispose()
            Directory.Delete(root, true)

let private json (dir: string) = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "model.json"))).AsObject()

let private writeJson (dir: string) (o: JsonObject) = File.WriteAllText(Path.Combine(dir, "model.json"), o.ToJsonString())

let private sameEvaluation (a: MmgEvaluation) (b: MmgEvaluation) =
    for (name, u: McEstimate), (_, v: McEstimate) in
        Array.zip
            [| "mmg", a.Mmg; "adaptive", a.MmgAdaptive; "orthogonal", a.MmgOrthogonal; "orthogonal-adaptive", a.MmgOrthogonalAdaptive; "debiased", a.MmgDebiased |]
            [| "mmg", b.Mmg; "adaptive", b.MmgAdaptive; "orthogonal", b.MmgOrthogonal; "orthogonal-adaptive", b.MmgOrthogonalAdaptive; "debiased", b.MmgDebiased |] do
        Assert.True((u.Mean = v.Mean && u.StdError = v.StdError), sprintf "%s: %.17g ± %.17g vs %.17g ± %.17g" name u.Mean u.StdError v.Mean v.StdError)
    Assert.Equal<float[]>(a.Pointwise, b.Pointwise)
    Assert.Equal<float[]>(a.Curves.Gap, b.Curves.Gap)
    Assert.Equal<float[]>(a.Curves.OrthogonalGap, b.Curves.OrthogonalGap)

type ModelFilesTests(models: SavedModels) =
    let scratch = Directory.CreateTempSubdirectory("mmg-modelfiles-case-").FullName

    /// A copy of a saved folder to damage.
    let copy (from: string) (name: string) =
        let dst = Path.Combine(scratch, name)
        Directory.CreateDirectory dst |> ignore
        for f in Directory.GetFiles from do File.Copy(f, Path.Combine(dst, Path.GetFileName f))
        dst

    let refusedAsCmi (dir: string) (mentions: string list) =
        let e = Assert.Throws<InvalidDataException>(fun () -> CmiModel.Load(dir, torch.CPU) |> ignore)
        for m in mentions do Assert.True(e.Message.Contains(m, StringComparison.Ordinal), sprintf "'%s' not in: %s" m e.Message)
        Assert.DoesNotContain("\n", e.Message)

    interface IClassFixture<SavedModels>

    interface IDisposable with
        member _.Dispose() = Directory.Delete(scratch, true)

    [<Fact>]
    member _.``a saved MMG-CMI model loads and gives the in-memory model's numbers and densities without retraining`` () =
        use loaded = CmiModel.Load(models.CmiDir, torch.CPU)
        let x, y, z = collider 300 2
        let a = models.Cmi.Evaluate(x, y, z, 2, 7, "mmg-cmi-adaptive", 8)
        let b = loaded.Evaluate(x, y, z, 2, 7, "mmg-cmi-adaptive", 8)
        sameEvaluation a b
        Assert.Equal(300, b.Pointwise.Length)
        Assert.Equal(models.Cmi.FixedQ, loaded.FixedQ)
        Assert.Equal(models.Cmi.AdaptiveQ, loaded.AdaptiveQ)
        Assert.Equal(models.Cmi.Shape, loaded.Shape)
        Assert.Equal(1, loaded.DimZ)
        Assert.Equal<KeyValuePair<string, string>>(models.Cmi.Settings |> Seq.sortBy (fun kv -> kv.Key), loaded.Settings |> Seq.sortBy (fun kv -> kv.Key))
        let j = json models.CmiDir
        Assert.Equal(ModelFiles.CmiKind, j.["Kind"].GetValue<string>())
        Assert.Equal(ModelFiles.FormatVersion, j.["FormatVersion"].GetValue<int>())
        Assert.Equal(1, j.["DimZ"].GetValue<int>())
        // the maps are saved (32 knots per column) and read back as they were
        for field in [ "MarginalsX"; "MarginalsY"; "MarginalsZ" ] do
            Assert.Equal(32, j.[field].[0].["Knots"].AsArray().Count)
        // the folder is the unit: only the model's three files, no debris beside it
        Assert.Equal<string[]>([| "adaptive.bin"; "fixed.bin"; "model.json" |], Directory.GetFiles models.CmiDir |> Array.map Path.GetFileName |> Array.sort)
        // and the loaded model re-saves to the same weights
        let again = Path.Combine(scratch, "again")
        loaded.Save again
        for w in ModelFiles.WeightFiles do
            Assert.Equal(ModelFiles.sha256 (Path.Combine(models.CmiDir, w)), ModelFiles.sha256 (Path.Combine(again, w)))
        let e = Assert.Throws<ArgumentException>(fun () -> loaded.Evaluate(x, y, Array2D.init 300 2 (fun i j -> z.[i, 0] + float j), 2, 7, "", 8) |> ignore)
        Assert.Contains("1 z-columns, got 1, 1 and 2", e.Message)

    [<Fact>]
    member _.``an MI model with the y embedding, radial input features, v-prediction, gated blocks, no GroupNorm and five blocks survives the round trip exactly`` () =
        let x, y = (Tasks.find "1v1-normal-0.75").Sample 400 2
        let options = { quick 2 60 with Extra = readOnlyDict [ "y-embedding", "1"; "blocks", "5"; "input-features", "radial"; "v-prediction", "1"; "gated", "1"; "norm", "none" ] }
        let _, m = MmgEstimator("mmg-debiased", options).EstimateWithModel(x, y, null, false)
        use m = m
        let dir = Path.Combine(scratch, "y-embedding")
        m.Save dir
        let j = json dir
        Assert.True(j.["YEmbedding"].GetValue<bool>())
        Assert.Equal(5, j.["Blocks"].GetValue<int>())
        Assert.Equal("radial", j.["InputFeatures"].GetValue<string>())
        Assert.True(j.["VPrediction"].GetValue<bool>())
        Assert.True(j.["Gated"].GetValue<bool>())
        Assert.Equal("none", j.["Norm"].GetValue<string>())
        use loaded = MmgModel.Load(dir, torch.CPU)
        let xt, yt = (Tasks.find "1v1-normal-0.75").Sample 300 3
        sameEvaluation (m.Evaluate(xt, yt, 2, 3, "mmg", 6)) (loaded.Evaluate(xt, yt, 2, 3, "mmg", 6))
        // a folder written before the option existed has no such field: it loads as without it
        let old = copy models.MiDir "no-y-embedding-field"
        let o = json old
        o.Remove "YEmbedding" |> ignore
        o.Remove "InputFeatures" |> ignore
        o.Remove "VPrediction" |> ignore
        o.Remove "Gated" |> ignore
        o.Remove "Norm" |> ignore
        writeJson old o
        use before = MmgModel.Load(old, torch.CPU)
        Assert.False(before.Shape.YEmbedding)
        Assert.Equal(PlainInput, before.Shape.InputFeatures)
        Assert.False(before.Shape.VPrediction)
        Assert.False(before.Shape.Gated)
        Assert.True(before.Shape.GroupNorm)

    [<Fact>]
    member _.``a model's Denoiser is the predictor its evaluation integrates, fixed or adaptive, also after loading`` () =
        // Evaluate's curves come from the adaptive network with generator seed + 1 on the first
        // rows; the same curves through model.Denoiser true must match them exactly, and the fixed
        // network (trained on another density for fewer steps) must not.
        let x, y = (Tasks.find "1v1-normal-0.75").Sample 400 4
        let _, m = MmgEstimator("mmg-debiased", quick 4 60).EstimateWithModel(x, y, null, false)
        use m = m
        let dir = Path.Combine(scratch, "denoiser")
        m.Save dir
        use loaded = MmgModel.Load(dir, torch.CPU)
        let xt, yt = (Tasks.find "1v1-normal-0.75").Sample 300 5
        for model in [ m; loaded ] do
            let ev = model.Evaluate(xt, yt, 2, 9, null, 7)
            let xs, ys = model.Prepare(xt, yt)
            use xs = xs
            use ys = ys
            let curve (adaptive: bool) =
                use g = new torch.Generator(10UL)
                let _, u, c, _, _ = Mmse.curves (model.Denoiser adaptive) g ev.Curves.LogSnr xs ys
                u, c
            let u, c = curve true
            Assert.Equal<float[]>(ev.Curves.Unconditional, u)
            Assert.Equal<float[]>(ev.Curves.Conditional, c)
            let uf, _ = curve false
            Assert.NotEqual<float[]>(u, uf)

    [<Fact>]
    member _.``a defensive density and a conditional linear base survive the round trip exactly`` () =
        // untrained networks with the linear base set from data: what is saved is what is loaded
        let shape = { Network.shape 1 1 16 with LinearBase = true }
        let x, y, z = collider 300 1
        use xt = Data.toTensor x
        use yt = Data.toTensor y
        use zt = Data.toTensor z
        let make () =
            let net = new CmiDenoiserNet(shape, 1)
            net.SetLinearBase(xt, yt, zt) |> ignore
            net
        let q = LogSnr.defensive (LogSnr.uniform -3.0 9.0) 0.25
        let std: Data.Standardizer = { Mean = [| 0.0 |]; Std = [| 1.0 |]; Marginals = [||] }
        let stdZ: Data.Standardizer = { Mean = [| 0.1 |]; Std = [| 1.5 |]; Marginals = [||] }
        use m = new CmiModel(shape, 1, make (), make (), LogSnr.paperDefault, q, std, std, stdZ, torch.CPU, Dictionary<string, string>())
        let dir = Path.Combine(scratch, "defensive")
        m.Save dir
        use loaded = CmiModel.Load(dir, torch.CPU)
        Assert.Equal(q, loaded.AdaptiveQ)
        sameEvaluation (m.Evaluate(x, y, z, 2, 3, "mmg-cmi", 6)) (loaded.Evaluate(x, y, z, 2, 3, "mmg-cmi", 6))
        // the MI model's folder with a defensive density loads too (it used to be refused as "not a log-SNR density")
        use mi = MmgModel.Load(models.MiDir, torch.CPU)
        Assert.Equal(LogSnr.defensive (LogSnr.logistic 1.0 2.0 4.0) 0.2, mi.AdaptiveQ)

    [<Fact>]
    member _.``an MI folder is refused as a conditional model and a conditional folder as an MI model, each naming what the folder holds`` () =
        refusedAsCmi models.MiDir [ models.MiDir; "holds an MI model of I(X;Y)"; "not a conditional-MI model"; "MmgModel.Load"; "--z none" ]
        let e = Assert.Throws<InvalidDataException>(fun () -> MmgModel.Load(models.CmiDir, torch.CPU) |> ignore)
        for m in [ models.CmiDir; "holds a conditional-MI model of I(X;Y|Z)"; "not an MI model"; "mmg-cmi" ] do
            Assert.True(e.Message.Contains(m, StringComparison.Ordinal), sprintf "'%s' not in: %s" m e.Message)
        Assert.Throws<InvalidDataException>(fun () -> ModelFiles.read models.CmiDir |> ignore) |> ignore
        Assert.Equal(ModelFiles.MiKind, ModelFiles.kindOf models.MiDir)
        Assert.Equal(ModelFiles.CmiKind, ModelFiles.kindOf models.CmiDir)
        Assert.Null(ModelFiles.kindOf (Path.Combine(scratch, "nothing")))
        // a format-1 folder (before kinds) holds an MI model: it loads as one and is refused as CMI
        let v1 = copy models.MiDir "v1"
        let j = json v1
        j.Remove "Kind" |> ignore
        j.["FormatVersion"] <- JsonValue.Create 1
        // nor the normal-scores maps (format 3)
        j.Remove "MarginalsX" |> ignore
        j.Remove "MarginalsY" |> ignore
        writeJson v1 j
        use old = MmgModel.Load(v1, torch.CPU)
        refusedAsCmi v1 [ "holds an MI model" ]
        Assert.Equal(ModelFiles.MiKind, ModelFiles.kindOf v1)
        // from format 2 on the kind must be there, and be one this Mmg knows
        let noKind = copy models.CmiDir "nokind"
        let j = json noKind
        j.Remove "Kind" |> ignore
        writeJson noKind j
        refusedAsCmi noKind [ "does not say which kind of model" ]
        let other = copy models.CmiDir "other"
        let j = json other
        j.["Kind"] <- JsonValue.Create "mixture"
        writeJson other j
        refusedAsCmi other [ "kind 'mixture'"; "use a newer Mmg" ]

    [<Fact>]
    member _.``a half-written or damaged conditional folder is refused in one line; a failed save leaves the old model`` () =
        let partial = copy models.CmiDir "partial"
        File.Delete(Path.Combine(partial, "adaptive.bin"))
        refusedAsCmi partial [ "partial"; "adaptive.bin is missing" ]
        let flipped = copy models.CmiDir "flipped"
        let bytes = File.ReadAllBytes(Path.Combine(flipped, "fixed.bin"))
        bytes.[bytes.Length - 1] <- bytes.[bytes.Length - 1] ^^^ 0x5auy
        File.WriteAllBytes(Path.Combine(flipped, "fixed.bin"), bytes)
        refusedAsCmi flipped [ "fixed.bin does not match its checksum" ]
        let notJson = copy models.CmiDir "notjson"
        File.WriteAllText(Path.Combine(notJson, "model.json"), "{ \"Kind\": \"cmi\", ")
        refusedAsCmi notJson [ "model.json is not valid JSON" ]
        let zs = copy models.CmiDir "zs"
        let j = json zs
        j.["MeanZ"] <- JsonArray(JsonValue.Create 0.0, JsonValue.Create 1.0, JsonValue.Create 2.0)
        writeJson zs j
        refusedAsCmi zs [ "MeanZ has 3 values, expected 1" ]
        let std = copy models.CmiDir "std"
        let j = json std
        j.["StdZ"] <- JsonArray(JsonValue.Create -1.0)
        writeJson std j
        refusedAsCmi std [ "StdZ holds a value that is not positive" ]
        let maps = copy models.CmiDir "maps"
        let j = json maps
        j.["MarginalsZ"].[0].["Scores"].[5] <- JsonValue.Create 99.0
        writeJson maps j
        refusedAsCmi maps [ "MarginalsZ[0] is not an increasing map" ]
        let mapsX = copy models.CmiDir "mapsx"
        let j = json mapsX
        j.["MarginalsX"].AsArray().Add(j.["MarginalsX"].[0].DeepClone())
        writeJson mapsX j
        refusedAsCmi mapsX [ "MarginalsX has 2 maps for 1 columns" ]
        let density = copy models.CmiDir "density"
        let j = json density
        j.["AdaptiveQ"] <- JsonArray(JsonValue.Create 2.0, JsonValue.Create 1.5, JsonValue.Create 1.0, JsonValue.Create 0.0, JsonValue.Create 1.0)
        writeJson density j
        refusedAsCmi density [ "AdaptiveQ is not a log-SNR density" ]
        // garbage weights whose checksum matches get past the checks and fail inside libtorch, in one line
        let garbage = copy models.CmiDir "garbage"
        File.WriteAllText(Path.Combine(garbage, "adaptive.bin"), String('z', 100))
        let j = json garbage
        j.["Checksums"].["adaptive.bin"] <- JsonValue.Create(ModelFiles.sha256 (Path.Combine(garbage, "adaptive.bin")))
        writeJson garbage j
        refusedAsCmi garbage [ "adaptive.bin does not hold the network" ]
        // a save that fails while writing the weights leaves the old folder as it was, and no debris
        let kept = copy models.CmiDir "kept"
        let before = Directory.GetFileSystemEntries scratch |> Array.sort
        let sums () = ModelFiles.Files |> Array.map (fun f -> ModelFiles.sha256 (Path.Combine(kept, f)))
        let old = sums ()
        let info, zInfo = ModelFiles.readConditional kept
        let e = Assert.Throws<IOException>(fun () ->
            ModelFiles.saveConditional kept info zInfo (fun folder ->
                File.WriteAllText(Path.Combine(folder, "fixed.bin"), "new weights")
                raise (IOException "disk full")))
        Assert.Equal("disk full", e.Message)
        Assert.Equal<string[]>(before, Directory.GetFileSystemEntries scratch |> Array.sort)
        Assert.Equal<string[]>(old, sums ())
        use _ = CmiModel.Load(kept, torch.CPU)
        ()
