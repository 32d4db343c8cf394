namespace Mmg.Core

open System
open System.Collections.Generic
open TorchSharp

/// Conditional noise predictor ε̂(x_a, a, y, z) for conditional MI: input projection of
/// [x_a, y-or-absent, present-flag, z], then the shared DenoiserTrunk. z is always seen; y is
/// given or replaced by the learned "absent" vector, as in DenoiserNet. The layers are created
/// in DenoiserNet's order with DenoiserNet's names, so with dimZ = 0 this is DenoiserNet: the
/// same initial weights from the same torch seed, the same forward pass.
/// With shape.LinearBase the trunk learns a residual on top of DenoiserNet's linear-Gaussian base,
/// here conditional on z: the "unconditional" prediction is the linear-Gaussian predictor of x
/// given z (mean B_xz·z, covariance Cov(X|Z)), the conditional one that of x given (y, z) (see
/// SetLinearBase). With dimZ = 0 both are DenoiserNet's base exactly.
type CmiDenoiserNet(shape: NetworkShape, dimZ: int) as this =
    inherit torch.nn.Module("DenoiserNet")
    do if dimZ < 0 then invalidArg "dimZ" (sprintf "dimZ must be ≥ 0, got %d." dimZ)
    let dx, dy, dz = int64 shape.DimX, int64 shape.DimY, int64 dimZ
    let inProj = torch.nn.Linear(int64 (shape.DimX + shape.DimY + 1 + dimZ), int64 shape.Width)
    let absentY = torch.nn.Parameter(torch.zeros(int64 shape.DimY))
    let trunk = new DenoiserTrunk(shape, shape.DimX)
    // the linear base (buffers, never trained): x given z, and x given (y, z); identity / zero until set
    let zU = torch.eye(dx)
    let zLambda = torch.ones(dx)
    let zRegression = torch.zeros(dx, dz)
    let yzU = torch.eye(dx)
    let yzLambda = torch.ones(dx)
    let yzRegression = torch.zeros(dx, dy + dz)
    do
        this.register_buffer("base_u", zU)
        this.register_buffer("base_lambda", zLambda)
        this.register_buffer("z_regression", zRegression)
        this.register_buffer("cond_u", yzU)
        this.register_buffer("cond_lambda", yzLambda)
        this.register_buffer("regression", yzRegression)
        this.RegisterComponents()

    member _.Shape = shape
    member _.DimZ = dimZ

    /// Starts the trunk at zero output (so the network starts as its linear base), as DenoiserNet.
    member _.ZeroTrunkOutput() = trunk.ZeroOutput()

    /// Sets the linear base from standardised training rows x, y, z. With z: the least-squares
    /// regressions B_xz, B_yz (ridge 1e-6) give the residuals x̃ = x − B_xz·z, ỹ = y − B_yz·z,
    /// and LinearGaussian.fit on (x̃, ỹ) gives Cov(X|Z) (its "unconditional" part), the
    /// James–Stein-shrunk partial regression b of x̃ on ỹ and Cov(X|Y,Z). The predictor given
    /// (y, z) has mean B_xz·z + b·(y − B_yz·z), so on data with X ⊥ Y | Z the base's two
    /// predictions differ only by the shrunk b ≈ 0, whatever the dependence on z. Without z this is
    /// DenoiserNet.SetLinearBase. Returns the shrinkage factor of b.
    member _.SetLinearBase(x: Tensor, y: Tensor, z: Tensor) : float =
        let ols (target: Tensor) (z: Tensor) =
            // [d_target; dz] least-squares coefficients of target on z (float64, centred)
            use scope = torch.NewDisposeScope()
            let t64 = target.``to`` torch.ScalarType.Float64
            let z64 = z.``to`` torch.ScalarType.Float64
            let tc = t64 - t64.mean ([| 0L |], keepdim = true)
            let zc = z64 - z64.mean ([| 0L |], keepdim = true)
            let n = float target.shape.[0]
            let szz = Ops.addRidge (Ops.divScalar (zc.t().matmul(zc)) n) 1e-6
            let szt = Ops.divScalar (zc.t().matmul(tc)) n
            torch.linalg.solve(szz, szt).t().MoveToOuterDisposeScope()
        let uU, lU, uC, lC, b, c, bxz, byz =
            if dimZ = 0 then
                let uU, lU, uC, lC, b, c = LinearGaussian.fit 1e-7 x y
                uU, lU, uC, lC, b, c, torch.zeros(dx, 0L), torch.zeros(dy, 0L)
            else
                use bxz64 = ols x z
                use byz64 = ols y z
                use x64 = x.``to`` torch.ScalarType.Float64
                use y64 = y.``to`` torch.ScalarType.Float64
                use z64 = z.``to`` torch.ScalarType.Float64
                use xr = x64 - z64.matmul (bxz64.t ())
                use yr = y64 - z64.matmul (byz64.t ())
                let uU, lU, uC, lC, b, c = LinearGaussian.fit 1e-7 xr yr
                uU, lU, uC, lC, b, c, bxz64.``to`` torch.ScalarType.Float32, byz64.``to`` torch.ScalarType.Float32
        // the (y, z) regression: [b, B_xz − b·B_yz]
        use zPart = bxz - b.matmul byz
        use combined = torch.cat ([| b; zPart |], 1L)
        use _ = torch.no_grad ()
        for dst, src in [ zU, uU; zLambda, lU; zRegression, bxz; yzU, uC; yzLambda, lC; yzRegression, combined ] do
            dst.copy_ src |> ignore
        for t in [ uU; lU; uC; lC; b; bxz; byz ] do t.Dispose()
        c

    /// The linear base's tensors.
    member _.LinearBaseTensors = [| zU; zLambda; zRegression; yzU; yzLambda; yzRegression |]

    /// Copies the linear base of another network of the same shape.
    member this.CopyLinearBase(other: CmiDenoiserNet) =
        use _ = torch.no_grad ()
        for dst, src in Array.zip this.LinearBaseTensors other.LinearBaseTensors do
            dst.copy_ src |> ignore

    /// ε̂ for rows x_a [n; dx], a [n], y [n; dy], present [n] (bool) and z [n; dz].
    /// Call inside a dispose scope.
    member _.Predict(xa: Tensor, a: Tensor, y: Tensor, present: Tensor, z: Tensor) : Tensor =
        let yIn = torch.where (present.unsqueeze 1L, y, absentY.expand_as y)
        let flag = present.``to``(xa.dtype).unsqueeze 1L
        let learned = trunk.forward (inProj.forward (torch.cat ([| xa; yIn; flag; z |], 1L)), a)
        if shape.LinearBase then
            let a1 = a.unsqueeze 1L
            let alpha, sigma = Channel.signalScale a1, Channel.noiseScale a1
            let givenZ = if dimZ = 0 then xa else xa - alpha * z.matmul (zRegression.t ())
            let yz = if dimZ = 0 then y else torch.cat ([| y; z |], 1L)
            let unconditional = LinearGaussian.predict zU zLambda alpha sigma givenZ
            let conditional = LinearGaussian.predict yzU yzLambda alpha sigma (xa - alpha * yz.matmul (yzRegression.t ()))
            learned + torch.where (present.unsqueeze 1L, conditional, unconditional)
        else learned

    member this.ParameterCount = this.parameters () |> Seq.sumBy (fun p -> p.numel ())

    /// The network as a ConditionalDenoiser (inference: no_grad).
    member this.AsDenoiser() : ConditionalDenoiser =
        fun xa a z y ->
            use _ = torch.no_grad ()
            let n = xa.shape.[0]
            match y with
            | Some y ->
                use present = torch.ones([| n |], dtype = torch.ScalarType.Bool, device = xa.device)
                this.Predict(xa, a, y, present, z)
            | None ->
                use present = torch.zeros([| n |], dtype = torch.ScalarType.Bool, device = xa.device)
                use y0 = torch.zeros([| n; int64 shape.DimY |], dtype = xa.dtype, device = xa.device)
                this.Predict(xa, a, y0, present, z)

/// MMG-CMI's part of an MMG fit (MmgFit.run).
module CmiFit =
    /// CmiDenoiserNet with dimZ z-columns on the conditions [| y; z |]; with dimZ = 0 it draws and
    /// computes as MmgFit.denoiser (CmiDenoiserNet's layers match DenoiserNet's).
    let network (dimZ: int) : MmgNetwork<CmiDenoiserNet> =
        { Create = fun shape device -> (new CmiDenoiserNet(shape, dimZ)).``to`` device
          Predict = fun net xa a present c -> net.Predict(xa, a, c.[0], present, c.[1])
          Curves = fun net g grid x c -> ConditionalMmse.curves (net.AsDenoiser()) g grid x c.[0] c.[1]
          SetLinearBase = fun net x c -> net.SetLinearBase(x, c.[0], c.[1])
          ZeroTrunkOutput = fun net -> net.ZeroTrunkOutput()
          CopyLinearBase = fun target source -> target.CopyLinearBase source }

/// A trained MMG-CMI model: fixed-q and adaptive EMA networks, standardisers fit on the training
/// rows (x, y and z), both densities. Evaluates CMI on new samples without retraining; saves to
/// and loads from a directory (ModelFiles, kind cmi).
type CmiModel(shape: NetworkShape, dimZ: int, fixedNet: CmiDenoiserNet, adaptiveNet: CmiDenoiserNet, fixedQ: LogSnrDensity, adaptiveQ: LogSnrDensity,
              stdX: Data.Standardizer, stdY: Data.Standardizer, stdZ: Data.Standardizer, device: torch.Device, settings: IReadOnlyDictionary<string, string>) =
    member _.Shape = shape
    member _.DimZ = dimZ
    member _.FixedQ = fixedQ
    member _.AdaptiveQ = adaptiveQ
    member _.Settings = settings

    member _.Prepare(x: float[,], y: float[,], z: float[,]) =
        if Array2D.length2 x <> shape.DimX || Array2D.length2 y <> shape.DimY || Array2D.length2 z <> dimZ then
            invalidArg "x" (sprintf "the model was trained on %d x-, %d y- and %d z-columns, got %d, %d and %d." shape.DimX shape.DimY dimZ (Array2D.length2 x) (Array2D.length2 y) (Array2D.length2 z))
        let prep (s: Data.Standardizer) (m: float[,]) =
            use t = Data.toTensor m
            use st = Data.standardize s t
            st.``to`` device
        prep stdX x, prep stdY y, prep stdZ z

    /// All five variants on (x, y, z), as MmgModel.Evaluate.
    member this.Evaluate(x: float[,], y: float[,], z: float[,], repeats: int, seed: int, pointwiseVariant: string, curvePoints: int) : MmgEvaluation =
        CmiData.validate 2 x y z
        // pointwise CMI is the difference form of the variant's model, as for MMG
        let from =
            match pointwiseVariant with
            | null | "" -> ModelEvaluation.NoPointwise
            | "mmg-cmi" | "mmg-cmi-orthogonal" -> ModelEvaluation.FixedModel
            | "mmg-cmi-adaptive" | "mmg-cmi-orthogonal-adaptive" | "mmg-cmi-debiased" -> ModelEvaluation.AdaptiveModel
            | other -> invalidArg "variant" (sprintf "unknown MMG-CMI variant '%s'." other)
        let xs, ys, zs = this.Prepare(x, y, z)
        use xs = xs
        use ys = ys
        use zs = zs
        let rows = min xs.shape.[0] 2000L
        use xc = xs.narrow (0L, 0L, rows)
        use yc = ys.narrow (0L, 0L, rows)
        use zc = zs.narrow (0L, 0L, rows)
        ModelEvaluation.evaluate
            (fun (net: CmiDenoiserNet) q g -> ConditionalMmse.pointwise (net.AsDenoiser()) q g repeats 4096 xs ys zs)
            (fun (net: CmiDenoiserNet) g grid -> ConditionalMmse.curves (net.AsDenoiser()) g grid xc yc zc)
            fixedNet adaptiveNet fixedQ adaptiveQ seed from curvePoints

    /// Local-permutation test of H0: I(X;Y|Z) = 0 (X ⊥ Y | Z) on rows the model did not train
    /// on. The statistic is the adaptive model's held-out difference-form estimate (how much y
    /// helps the denoiser that already sees z), recomputed with y permuted only among rows whose
    /// z are within each other's `kPerm` nearest (standardised z, max-norm; LocalPermutation),
    /// with the same (a, ε) draws every time (common random numbers). The model is fixed and
    /// independent of these rows, so under H0 the permuted rows have (approximately, as z-
    /// neighbours share z only approximately) the law of the originals and the p-value
    /// (1 + #{T_π ≥ T}) / (1 + permutations) is valid to that approximation (exact for discrete
    /// z; with no z it is the exact permutation test of MmgModel). No retraining: B permutations
    /// cost B evaluations. Returns (p-value, observed statistic).
    member this.LocalPermutationTest(x: float[,], y: float[,], z: float[,], permutations: int, kPerm: int, seed: int) : float * float =
        Checks.requirePositiveInt "permutations" permutations
        CmiData.validate 2 x y z
        let n = Array2D.length1 x
        if kPerm < 1 || kPerm > n then invalidArg "kPerm" (sprintf "kPerm must lie in 1..%d (the rows tested), got %d." n kPerm)
        let xs, ys, zs = this.Prepare(x, y, z)
        use xs = xs
        use ys = ys
        use zs = zs
        adaptiveNet.eval ()
        let den = adaptiveNet.AsDenoiser()
        let statistic (yy: Tensor) =
            use g = new torch.Generator(uint64 seed)
            let d, o = ConditionalMmse.pointwise den adaptiveQ g 2 4096 xs yy zs
            use d = d
            use o = o
            d.mean().item<float> ()
        let observed = statistic ys
        let neighbours =
            if dimZ = 0 then [||]
            else
                use zc = zs.cpu().``to``(torch.ScalarType.Float64).contiguous()
                LocalPermutation.nearestInZ kPerm (zc.data<float>().ToArray()) dimZ n
        let rng = Random seed
        let mutable atLeast = 0
        for _ in 1 .. permutations do
            let perm = if dimZ = 0 then Data.shuffle rng n else LocalPermutation.draw rng neighbours kPerm n
            use idx = torch.tensor (perm |> Array.map int64, device = ys.device)
            use yp = ys.index_select (0L, idx)
            if statistic yp >= observed then atLeast <- atLeast + 1
        float (1 + atLeast) / float (1 + permutations), observed

    /// Saves the model as one folder (model.json, fixed.bin, adaptive.bin) as MmgModel.Save does
    /// (ModelFiles.saveConditional: written as a unit, format version, kind cmi, checksums), with
    /// z's dimension and standardisation besides MMG's fields.
    member _.Save(dir: string) =
        ModelFiles.saveConditional dir (ModelFiles.info shape stdX stdY fixedQ adaptiveQ settings)
            { DimZ = dimZ; MeanZ = stdZ.Mean; StdZ = stdZ.Std; MarginalsZ = stdZ.Marginals } (ModelFiles.writeNetworks fixedNet adaptiveNet)

    /// Loads a model saved by Save; refuses (one line) a folder whose model.json is missing, not
    /// JSON, of another format version, of an MI model (naming it), or whose weights do not match
    /// their checksums. (The same steps as MmgModel.Load, each a ModelFiles call, on the CMI
    /// network and its z standardiser: the two model classes share their parts, not their type.)
    static member Load(dir: string, device: torch.Device) =
        let info, z = ModelFiles.readConditional dir
        let shape = ModelFiles.shapeOf info
        let fixedQ, adaptiveQ = ModelFiles.densities info
        let stdX, stdY = ModelFiles.standardizers info
        let fixedNet, adaptiveNet = ModelFiles.loadNetworks dir device (fun () -> new CmiDenoiserNet(shape, z.DimZ))
        new CmiModel(shape, z.DimZ, fixedNet, adaptiveNet, fixedQ, adaptiveQ, stdX, stdY, ModelFiles.conditioningStandardizer z, device, info.Settings)

    interface IDisposable with
        member _.Dispose() =
            fixedNet.Dispose()
            adaptiveNet.Dispose()

/// MMG for conditional MI (issue 14): one noise predictor ε̂(x_a, a, y, z) that always sees z and
/// sees y or the "absent" token, trained by MmgEstimator's own fit (MmgFit.run with CmiFit.network:
/// same profiles, loss, training loop, linear-Gaussian base (option "linear-base", by default from
/// Network.linearBaseMinColumns columns), gated adaptive density with range widening, held-out
/// rows, standardisation fit on the training rows) and evaluated as MmgEstimator; all five
/// variants from one run. With dz = 0 it reproduces MmgEstimator's numbers for
/// the same options (tested). Cross-fitting ("folds") is MI-only; the option "permutations" = B runs
/// the local-permutation test of conditional independence (CmiModel.LocalPermutationTest, option
/// "k-perm" its z-neighbourhood, default 5).
type CmiEstimator(variant: string, options: EstimatorOptions) =
    do
        if not (Array.contains variant CmiEstimator.Variants) then
            invalidArg "variant" (sprintf "unknown MMG-CMI variant '%s'; use %s." variant (String.Join(", ", CmiEstimator.Variants)))
        // MMG's options less cross-fitting and the y embedding (MI-only), plus the z-neighbourhood of the local-permutation test
        Estimation.requireKnownOptions variant ((MmgEstimator.OptionKeys |> List.filter (fun k -> k <> "folds" && k <> "y-embedding" && k <> "input-features" && k <> "v-prediction")) @ [ "k-perm" ]) options
        MmgProfiles.resolve options 1 1 |> ignore
        MmgFitOptions.read options |> ignore

    /// The variant names, in MmgEstimator.Variants' order (the default is CmiRegistry.defaultName).
    /// `mmg-cmi-debiased` is ½(difference + orthogonal) of the adaptive model, rescaled where the
    /// rows show the model shrunk, as mmg-debiased (Mmse.debiased).
    static member Variants = [| "mmg-cmi"; "mmg-cmi-adaptive"; "mmg-cmi-orthogonal"; "mmg-cmi-orthogonal-adaptive"; "mmg-cmi-debiased" |]

    member _.Variant = variant

    /// The profile for these dimensions: Y and Z together play the part of MMG's Y.
    /// Overtime stays off unless given: the profile's default was measured for MI only.
    static member Profile(options: EstimatorOptions, dimX: int, dimY: int, dimZ: int) =
        { MmgProfiles.resolve options dimX (dimY + dimZ) with Overtime = EarlyStoppingOptions.overtime options |> Option.defaultValue 0.0 }

    /// LogSnr.fitToGap on the preliminary model's orthogonal gap, gated and bounded exactly as
    /// MmgEstimator.AdaptDensity: below MmgEstimator.AdaptThreshold nats of gap area q is kept
    /// (the curve is mostly noise), else the fitted location is clamped into the measured range
    /// and the scale to at most a quarter of its width.
    static member AdaptDensity(net: CmiDenoiserNet, q: LogSnrDensity, x: Tensor, y: Tensor, z: Tensor, points: int, seed: int) =
        let grid, og = CmiEstimator.GapCurve(net, q, x, y, z, points, seed)
        AdaptiveDensity.fromGap q grid og

    /// The orthogonal gap on `points` log-SNR values across q's range, on up to 2 000 rows.
    static member GapCurve(net: CmiDenoiserNet, q: LogSnrDensity, x: Tensor, y: Tensor, z: Tensor, points: int, seed: int) =
        MmgFit.gapCurve (CmiFit.network net.DimZ) net q x [| y; z |] points seed

    /// Trains on (x, y, z) (raw units) and returns the model.
    member _.Fit(x: float[,], y: float[,], z: float[,], progress: Action<TrainingProgress>) : CmiModel =
        let dimZ = Array2D.length2 z
        let p = CmiEstimator.Profile(options, Array2D.length2 x, Array2D.length2 y, dimZ)
        CmiData.validate p.BatchSize x y z
        // CmiDenoiserNet has no y embedding, input features or v-prediction (the options are refused above),
        // so the shape must not say so
        // GroupNorm stays on unless `norm` says otherwise: its MI default was measured on the MI
        // tasks only (docs/accuracy.md, twenty-second round)
        let read = MmgFitOptions.read options
        let fit = { read with YEmbedding = Some false; InputFeatures = PlainInput; VPrediction = false; GroupNorm = Some (defaultArg read.GroupNorm true) }
        let f = MmgFit.run (CmiFit.network dimZ) fit p x [| y; z |] [ "dim_z", box dimZ ] progress
        let sx, sy, sz = f.Standardizers.[0], f.Standardizers.[1], f.Standardizers.[2]
        new CmiModel(f.Shape, dimZ, f.FixedNet, f.AdaptiveNet, f.FixedQ, f.AdaptiveQ, sx, sy, sz, f.Device, f.Settings)

    /// Split, train on the training rows, evaluate all variants on the held-out rows.
    member this.EstimateWithModel(x: float[,], y: float[,], z: float[,], progress: Action<TrainingProgress>, wantPointwise: bool) : EstimatorResult * CmiModel =
        let watch = Diagnostics.Stopwatch.StartNew()
        CmiData.validate 4 x y z
        let p = CmiEstimator.Profile(options, Array2D.length2 x, Array2D.length2 y, Array2D.length2 z)
        let n = Array2D.length1 x
        let train, test = Data.split options.Seed p.TestFraction n
        if train.Length < p.BatchSize then
            invalidArg "x" (sprintf "%d rows leave %d training rows after holding out %.0f%% for the estimate, fewer than the batch size %d; give at least %d rows or a smaller batch size." n train.Length (100.0 * p.TestFraction) p.BatchSize (int (ceil (float p.BatchSize / (1.0 - p.TestFraction))) + 1))
        // the conditional-independence test's options, checked before any training
        let permutations = Estimation.extraInt options "permutations" 0
        if permutations < 0 then invalidArg "permutations" (sprintf "permutations must be 0 (no test) or positive, got %d." permutations)
        let kPerm = Estimation.extraInt options "k-perm" 5
        if permutations = 0 && options.Extra.ContainsKey "k-perm" then
            invalidArg "k-perm" "option 'k-perm' sets the test's z-neighbourhood and applies only with permutations (--test B); drop it or add the test."
        if kPerm < 1 || kPerm > test.Length then
            invalidArg "k-perm" (sprintf "option 'k-perm' (the z-neighbours y may move among) must lie in 1..%d (the held-out rows), got %d." test.Length kPerm)
        let pick (rows: int[]) (m: float[,]) = Array2D.init rows.Length (Array2D.length2 m) (fun i j -> m.[rows.[i], j])
        let model = this.Fit(pick train x, pick train y, pick train z, progress)
        let ev = model.Evaluate(pick test x, pick test y, pick test z, p.Repeats, options.Seed + 11, (if wantPointwise then variant else ""), p.CurvePoints)
        // the same arithmetic as MmgEstimator's one-split pooling (so that dz = 0 repeats it exactly)
        let c = float test.Length
        let named name (e: McEstimate) = { Name = name; Estimate = c * e.Mean / c; StdError = sqrt ((c * e.StdError) ** 2.0) / c }
        let variants =
            [| named "mmg-cmi" ev.Mmg; named "mmg-cmi-adaptive" ev.MmgAdaptive; named "mmg-cmi-orthogonal" ev.MmgOrthogonal
               named "mmg-cmi-orthogonal-adaptive" ev.MmgOrthogonalAdaptive; named "mmg-cmi-debiased" ev.MmgDebiased |]
        let headIndex = variants |> Array.findIndex (fun v -> v.Name = variant)
        let head = variants.[headIndex]
        let mc = 1.96 * head.StdError
        let settings = Dictionary<string, string>(model.Settings)
        settings.["train_rows"] <- string train.Length
        settings.["test_rows"] <- string test.Length
        settings.["debiased_scale"] <- ev.DebiasedScale.ToString("0.###", Globalization.CultureInfo.InvariantCulture)
        let pValue =
            if permutations = 0 then nan
            else
                settings.["permutations"] <- string permutations
                settings.["k_perm"] <- string kPerm
                fst (model.LocalPermutationTest(pick test x, pick test y, pick test z, permutations, kPerm, options.Seed + 13))
        { Estimator = variant
          Estimate = head.Estimate
          StdError = head.StdError
          Seconds = watch.Elapsed.TotalSeconds
          Variants = variants
          Curves = Some ev.Curves
          Pointwise = ev.Pointwise
          Interval = Some (ModelEvaluation.interval variants headIndex mc "monte-carlo")
          IndependencePValue = pValue
          Settings = settings },
        model

    interface ICmiEstimator with
        member _.Name = variant
        member this.Estimate(x, y, z, progress) =
            let r, m = this.EstimateWithModel(x, y, z, progress, false)
            (m :> IDisposable).Dispose()
            r
