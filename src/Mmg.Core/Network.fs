namespace Mmg.Core

open System
open TorchSharp
open TorchSharp.Modules

/// GroupNorm over the features of [n; width] rows: each group of width/groups features is
/// normalised to mean 0, variance 1, then scaled and shifted per feature. Written with
/// layer_norm on a [n; groups; width/groups] view: TorchSharp's GroupNorm module wants ≥ 3 dims
/// and was 5× slower here for [n; width; 1] (docs/performance.md). With `normalise` false it
/// only scales and shifts (the same parameters): each row keeps its features' mean and scale,
/// which GroupNorm divides out (NetworkShape.GroupNorm).
type FeatureGroupNorm(groups: int, width: int, normalise: bool) as this =
    inherit torch.nn.Module<Tensor, Tensor>("FeatureGroupNorm")
    do
        if width % groups <> 0 then
            invalidArg "groups" (sprintf "width %d is not divisible by %d groups." width groups)
    let weight = torch.nn.Parameter(torch.ones(int64 width))
    let bias = torch.nn.Parameter(torch.zeros(int64 width))
    do this.RegisterComponents()

    new(groups: int, width: int) = new FeatureGroupNorm(groups, width, true)

    /// Call inside a dispose scope.
    override _.forward(h: Tensor) =
        if not normalise then Ops.add (h * weight) bias
        else
            let n = h.shape.[0]
            let v = h.reshape(n, int64 groups, int64 (width / groups))
            let normed = torch.nn.functional.layer_norm(v, [| int64 (width / groups) |], eps = 1e-5)
            Ops.add (normed.reshape(n, int64 width) * weight) bias

/// A residual MLP block with an additive log-SNR projection:
/// h + W₂·SiLU(GN(W₁·SiLU(GN(h)) + T·emb)); gated (NetworkShape.Gated), the hidden features are
/// also multiplied by (1 + G·GN(h)), h + W₂·[SiLU(GN(u)) ⊙ (1 + G·GN(h))] (a GLU-style product,
/// so products of the inputs — norms, a rotation by an angle that depends on them — are one
/// layer away rather than approximated by curvature). The gate's layer is drawn after the
/// others, so a block without it has the same weights as before it existed. With `groupNorm`
/// false each GN is a per-feature scale and shift only (FeatureGroupNorm; NetworkShape.GroupNorm).
type ResidualBlock(width: int, groups: int, gated: bool, groupNorm: bool) as this =
    inherit torch.nn.Module<Tensor, Tensor, Tensor>("ResidualBlock")
    let norm1 = new FeatureGroupNorm(groups, width, groupNorm)
    let lin1 = torch.nn.Linear(int64 width, int64 width)
    let time = torch.nn.Linear(int64 width, int64 width)
    let norm2 = new FeatureGroupNorm(groups, width, groupNorm)
    let lin2 = torch.nn.Linear(int64 width, int64 width)
    // empty unless gated (no parameters, no state-dict entries)
    let gate = torch.nn.ModuleList<Linear>([| if gated then torch.nn.Linear(int64 width, int64 width) |])
    do this.RegisterComponents()

    new(width: int, groups: int, gated: bool) = new ResidualBlock(width, groups, gated, true)
    new(width: int, groups: int) = new ResidualBlock(width, groups, false, true)

    /// Call inside a dispose scope: intermediates are left to it.
    override _.forward(h: Tensor, emb: Tensor) =
        let n1 = norm1.forward h
        let u = Ops.add (lin1.forward (torch.nn.functional.silu n1)) (time.forward emb)
        let s = torch.nn.functional.silu (norm2.forward u)
        let hidden = if gated then Ops.add s (s * gate.[0].forward n1) else s
        Ops.add h (lin2.forward hidden)

/// The fixed (untrained) part of the log-SNR embedding shared by the noise-prediction networks:
/// log-spaced angular frequencies and the sinusoid features [sin(ω·a), cos(ω·a)].
module LogSnrFeatures =
    /// `count` angular frequencies for periods from 2 to 64 log-SNR units.
    let frequencies (count: int) : float32[] =
        Array.init count (fun k -> float32 (Math.PI / Math.Pow(2.0, float k * 5.0 / float (max 1 (count - 1)))))

    /// [n; 2·count] features of a [n]. Call inside a dispose scope.
    let sinusoids (freq: float32[]) (a: Tensor) : Tensor =
        let phase = a.unsqueeze 1L * torch.tensor(freq, dtype = a.dtype, device = a.device).unsqueeze 0L
        torch.cat ([| phase.sin (); phase.cos () |], 1L)

/// Extra input features of the denoiser, computed from its inputs (not learned).
type InputFeatures =
    /// z, y (or the absent stand-in) and the present flag only.
    | PlainInput
    /// Also the centred mean squares ‖z‖²/dx − 1 and ‖y‖²/dy − 1 (option `input-features=radial`).
    | Radial
    /// Also the centred squares z² − 1 and y² − 1, column by column (option `input-features=squares`).
    | Squares

module InputFeatures =
    /// Number of extra columns computed from a block of d columns (z or y): none, its mean
    /// square, or its d squares. The y block's also enter the y embedding.
    let columns (f: InputFeatures) (d: int64) =
        match f with
        | PlainInput -> 0L
        | Radial -> 1L
        | Squares -> d

    /// The option's text.
    let text =
        function
        | PlainInput -> "plain"
        | Radial -> "radial"
        | Squares -> "squares"

    /// Option `input-features` (plain, the default, radial or squares), also the text saved in
    /// model.json (null there, in files written before the field: plain).
    let parse (t: string) =
        match (if isNull t then "" else t) with
        | "" | "plain" -> PlainInput
        | "radial" -> Radial
        | "squares" -> Squares
        | other -> invalidArg "input-features" (sprintf "option 'input-features' must be plain, radial or squares, got '%s'." other)

    /// The extra columns [n; count] for rows z [n; dx] and y [n; dy] (null for PlainInput).
    /// Call inside a dispose scope.
    let compute (f: InputFeatures) (z: Tensor) (y: Tensor) : Tensor =
        match f with
        | PlainInput -> null
        | Radial ->
            let ms (t: Tensor) = Ops.subScalar (t.square().mean ([| 1L |], keepdim = true)) 1.0
            torch.cat ([| ms z; ms y |], 1L)
        | Squares -> Ops.subScalar (torch.cat ([| z.square (); y.square () |], 1L)) 1.0

/// The architecture of a conditional noise-prediction network.
type NetworkShape =
    { DimX: int
      DimY: int
      Width: int
      Blocks: int
      /// Number of sinusoidal frequencies fed to the learned log-SNR embedding.
      Frequencies: int
      /// Whether the network adds its output to the best linear (Gaussian) noise predictor of the
      /// training data (see DenoiserNet); false for the plain network.
      LinearBase: bool
      /// Whether y (or the "absent" stand-in and flag) also enters every residual block through a
      /// learned embedding added to the log-SNR one, besides the input concatenation.
      YEmbedding: bool
      /// Extra input features (InputFeatures; PlainInput by default).
      InputFeatures: InputFeatures
      /// Whether the learned part is a velocity (v-prediction, Salimans & Ho 2022): ε̂ = skip +
      /// α·(learned), the skip being σ·z (the noise predictor of independent unit-variance
      /// columns) or, with LinearBase, the linear base; instead of ε̂ = (learned) [+ base]. At low
      /// SNR (α → 0) the prediction then tends to the skip without the network having to
      /// reproduce it. False for the plain network.
      VPrediction: bool
      /// Whether the residual blocks are gated (ResidualBlock; option `gated`). False for the
      /// plain network.
      Gated: bool
      /// Whether the blocks and the output head normalise each row's features by groups
      /// (GroupNorm, option `norm=group`) or only scale and shift them (`norm=none`). GroupNorm
      /// divides out each row's feature scale, and with it the magnitude of the row it came
      /// from, which the network must then rebuild through its nonlinearities; without it a
      /// norm-dependent structure (a spiral's twist, a Student-t's shared scale) is carried
      /// linearly. True for the plain network.
      GroupNorm: bool }

/// The part every denoiser here shares after its input projection: the learned log-SNR
/// embedding (fixed log-spaced sinusoids → Linear → SiLU → Linear), the residual MLP blocks with
/// GroupNorm (or, with shape.GroupNorm false, a scale and shift) and SiLU, and the output head
/// (GroupNorm → SiLU → Linear to `outputs`).
type DenoiserTrunk(shape: NetworkShape, outputs: int) as this =
    inherit torch.nn.Module<Tensor, Tensor, Tensor>("DenoiserTrunk")
    let w = int64 shape.Width
    let groups = if shape.Width % 8 = 0 then 8 else 1
    // angular frequencies for periods from 2 to 64 log-SNR units (fixed, not trained)
    let freq = LogSnrFeatures.frequencies shape.Frequencies
    let emb1 = torch.nn.Linear(int64 (2 * shape.Frequencies), w)
    let emb2 = torch.nn.Linear(w, w)
    let blocks = torch.nn.ModuleList<ResidualBlock>([| for _ in 1 .. shape.Blocks -> new ResidualBlock(shape.Width, groups, shape.Gated, shape.GroupNorm) |])
    let outNorm = new FeatureGroupNorm(groups, shape.Width, shape.GroupNorm)
    let outLin = torch.nn.Linear(w, int64 outputs)
    do this.RegisterComponents()

    /// Sets the output layer's weights and bias to zero, so the trunk starts as the zero function
    /// (used when it learns a residual on top of a base predictor).
    member _.ZeroOutput() =
        use _ = torch.no_grad ()
        outLin.weight.zero_ () |> ignore
        outLin.bias.zero_ () |> ignore

    /// The prediction from the projected input h0 [n; width] and the log-SNR a [n].
    /// Call inside a dispose scope.
    override this.forward(h0: Tensor, a: Tensor) = this.Forward(h0, a, null)

    /// As forward, with `extra` [n; width] (or null) added to the log-SNR embedding of every block.
    member _.Forward(h0: Tensor, a: Tensor, extra: Tensor) =
        let e0 = emb2.forward (torch.nn.functional.silu (emb1.forward (LogSnrFeatures.sinusoids freq a)))
        let e = if isNull extra then e0 else Ops.add e0 extra
        let mutable h = h0
        for b in blocks do
            h <- b.forward (h, e)
        outLin.forward (torch.nn.functional.silu (outNorm.forward h))

/// The best linear noise predictors of zero-mean data with covariance Cov(X) and, given y,
/// E[x|y] = B·y and Cov(X|Y): for x ~ N(m, S) the exact E[ε | z] is
/// σ·(α²S + σ²I)⁻¹(z − α·m) (the Gaussian oracle's formula). Written with the eigen-decomposition
/// S = U·diag(λ)·Uᵀ so that the per-row log-SNR costs two matrix products:
/// σ·U·diag(1/(α²λ + σ²))·Uᵀ(z − α·m). The parameters are fixed (not trained).
module LinearGaussian =
    /// ε̂ for rows c = z − α·m [n; dx] with signal/noise scales alpha, sigma [n; 1]; u [dx; dx],
    /// lambda [dx]. Call inside a dispose scope.
    let predict (u: Tensor) (lambda: Tensor) (alpha: Tensor) (sigma: Tensor) (c: Tensor) : Tensor =
        let denom = Ops.add ((alpha * alpha) * lambda.unsqueeze 0L) (sigma * sigma)
        (c.matmul u / denom).matmul (u.t ()) * sigma

    /// (U, λ) of Cov(X), (U, λ) of Cov(X|Y) and B [dx; dy] from standardised training rows
    /// x [n; dx], y [n; dy], in float64.
    /// The regression is shrunk towards zero, B = c·B̂ with the positive-part James–Stein factor
    /// c = max(0, 1 − (dy·tr Ŝ_x|y / n) / tr(B̂ Ŝ_yy B̂ᵀ)): the variance that least squares
    /// "explains" with dy regressors on pure noise is dy·tr Σ_x|y / n, so on independent data
    /// c ≈ 0 and the base carries no spurious dependence (the plug-in Gaussian MI of a sample
    /// covariance is biased up by ≈ dx·dy/(2n) nats), while a real dependence keeps c ≈ 1.
    /// Cov(X|Y) is the residual covariance of that shrunk predictor. Eigenvalues are floored at
    /// `floor` (the conditional covariance is nearly singular at high MI) and Cov(Y) gets a ridge
    /// of 1e-6 before it is inverted, so collinear y columns are harmless. Returns the factor c
    /// last.
    let fit (floor: float) (x: Tensor) (y: Tensor) =
        use scope = torch.NewDisposeScope()
        let x64 = x.``to`` torch.ScalarType.Float64
        let y64 = y.``to`` torch.ScalarType.Float64
        let xc = x64 - x64.mean ([| 0L |], keepdim = true)
        let yc = y64 - y64.mean ([| 0L |], keepdim = true)
        let n = float x.shape.[0]
        let dy = float y.shape.[1]
        let sxx = Ops.divScalar (xc.t().matmul(xc)) n
        let sxy = Ops.divScalar (xc.t().matmul(yc)) n
        let syy = Ops.addRidge (Ops.divScalar (yc.t().matmul(yc)) n) 1e-6
        // B̂ = Sxy Syy⁻¹, computed as (Syy⁻¹ Syx)ᵀ; explained = B̂ Syy B̂ᵀ = B̂ Syx
        let bHat = torch.linalg.solve(syy, sxy.t ()).t ()
        let explained = bHat.matmul (sxy.t ())
        let residual = (sxx - explained).trace().item<float> ()
        let signal = explained.trace().item<float> ()
        let c = if signal > 0.0 then max 0.0 (1.0 - dy * residual / n / signal) else 0.0
        let b = Ops.mulScalar bHat c
        let cond = sxx - Ops.mulScalar explained (2.0 * c - c * c)
        use floorScalar = floor.ToScalar()
        let eig (s: Tensor) =
            let sym = Ops.mulScalar (Ops.add s (s.t ())) 0.5
            let struct (l, u) = torch.linalg.eigh sym
            u.``to``(torch.ScalarType.Float32).MoveToOuterDisposeScope(), l.clamp_min(floorScalar).``to``(torch.ScalarType.Float32).MoveToOuterDisposeScope()
        let uU, lU = eig sxx
        let uC, lC = eig cond
        uU, lU, uC, lC, b.``to``(torch.ScalarType.Float32).MoveToOuterDisposeScope(), c

/// Conditional noise predictor ε̂(z, a, y) of the paper's kind: input projection of
/// [z, y-or-absent, present-flag] (with shape.InputFeatures, their extra columns before the flag),
/// then the shared trunk (learned log-SNR embedding, residual
/// MLP blocks with GroupNorm and SiLU, output of dim_x). "y absent" is an explicit flag plus a
/// learned stand-in vector, never y = 0 (0 is a common value of standardised y).
/// With shape.LinearBase the trunk learns only a residual: the output is the best linear
/// predictor of the training data (LinearGaussian, set by SetLinearBase; conditional on y when y
/// is present) plus the trunk, whose output layer starts at zero. Gaussian structure is then
/// exact from the first step and the capacity goes to the rest; the estimator still integrates
/// the gap between the whole network's two predictions, so the MI maths is unchanged.
type DenoiserNet(shape: NetworkShape) as this =
    inherit torch.nn.Module("DenoiserNet")
    let dx, dy = int64 shape.DimX, int64 shape.DimY
    let inProj = torch.nn.Linear(dx + dy + 1L + InputFeatures.columns shape.InputFeatures dx + InputFeatures.columns shape.InputFeatures dy, int64 shape.Width)
    let absentY = torch.nn.Parameter(torch.zeros(dy))
    let trunk = new DenoiserTrunk(shape, shape.DimX)
    // the y embedding (YEmbedding): created only when used, so the default draws the same weights
    let yEmbedding =
        if shape.YEmbedding then Some (torch.nn.Linear(dy + 1L + InputFeatures.columns shape.InputFeatures dy, int64 shape.Width), torch.nn.Linear(int64 shape.Width, int64 shape.Width))
        else None
    // the linear base (buffers: saved with the weights, never trained); identity / zero until set
    let baseU = torch.eye(dx)
    let baseLambda = torch.ones(dx)
    let condU = torch.eye(dx)
    let condLambda = torch.ones(dx)
    let regression = torch.zeros(dx, dy)
    do
        this.register_buffer("base_u", baseU)
        this.register_buffer("base_lambda", baseLambda)
        this.register_buffer("cond_u", condU)
        this.register_buffer("cond_lambda", condLambda)
        this.register_buffer("regression", regression)
        this.RegisterComponents()
        match yEmbedding with
        | Some (l1, l2) ->
            this.register_module("y_emb1", l1)
            this.register_module("y_emb2", l2)
        | None -> ()

    member _.Shape = shape

    /// Starts the trunk at zero output (so the network starts as its linear base).
    member _.ZeroTrunkOutput() = trunk.ZeroOutput()

    /// Sets the linear base from standardised training rows (see LinearGaussian.fit).
    /// Returns the shrinkage factor of the regression.
    member _.SetLinearBase(x: Tensor, y: Tensor) : float =
        let uU, lU, uC, lC, b, c = LinearGaussian.fit 1e-7 x y
        use _ = torch.no_grad ()
        for dst, src in [ baseU, uU; baseLambda, lU; condU, uC; condLambda, lC; regression, b ] do
            dst.copy_ src |> ignore
            src.Dispose()
        c

    /// The linear base's tensors (U, λ of Cov(X); U, λ of Cov(X|Y); B).
    member _.LinearBaseTensors = [| baseU; baseLambda; condU; condLambda; regression |]

    /// Copies the linear base of another network of the same shape.
    member this.CopyLinearBase(other: DenoiserNet) =
        use _ = torch.no_grad ()
        for dst, src in Array.zip this.LinearBaseTensors other.LinearBaseTensors do
            dst.copy_ src |> ignore

    /// ε̂ for rows z [n; dx], a [n], y [n; dy] and present [n] (bool: whether y is given).
    /// Call inside a dispose scope.
    member _.Predict(z: Tensor, a: Tensor, y: Tensor, present: Tensor) : Tensor =
        let yIn = torch.where (present.unsqueeze 1L, y, absentY.expand_as y)
        let flag = present.``to``(z.dtype).unsqueeze 1L
        let features = InputFeatures.compute shape.InputFeatures z yIn
        // y's columns are the last of the features (Radial: [‖z‖², ‖y‖²]; Squares: [z², y²])
        let yFeatures =
            let k = InputFeatures.columns shape.InputFeatures dy
            if k = 0L then null else features.narrow (1L, features.shape.[1] - k, k)
        let extra =
            match yEmbedding with
            | Some (l1, l2) ->
                let yIn' = if isNull yFeatures then torch.cat ([| yIn; flag |], 1L) else torch.cat ([| yIn; yFeatures; flag |], 1L)
                l2.forward (torch.nn.functional.silu (l1.forward yIn'))
            | None -> null
        let input = if isNull features then torch.cat ([| z; yIn; flag |], 1L) else torch.cat ([| z; yIn; features; flag |], 1L)
        let learned = trunk.Forward(inProj.forward input, a, extra)
        if not (shape.VPrediction || shape.LinearBase) then learned
        else
            let a1 = a.unsqueeze 1L
            let alpha, sigma = Channel.signalScale a1, Channel.noiseScale a1
            // v-prediction: the learned part is scaled by α and sits on a skip, the linear base where
            // it is on, else σ·z
            let learned = if shape.VPrediction then alpha * learned else learned
            if shape.LinearBase then
                let unconditional = LinearGaussian.predict baseU baseLambda alpha sigma z
                let conditional = LinearGaussian.predict condU condLambda alpha sigma (Ops.sub z (alpha * y.matmul (regression.t ())))
                Ops.add learned (torch.where (present.unsqueeze 1L, conditional, unconditional))
            else Ops.add (sigma * z) learned

    /// Number of trainable parameters.
    member this.ParameterCount = this.parameters () |> Seq.sumBy (fun p -> p.numel ())

module Network =
    /// Width from the data dimension, as in the paper (Table 2): 64 / 128 / 256 for
    /// dim_x + dim_y ≤ 10 / ≤ 50 / larger.
    let defaultWidth (dimX: int) (dimY: int) =
        let d = dimX + dimY
        if d <= 10 then 64 elif d <= 50 then 128 else 256

    /// The linear-Gaussian base is on by default from this many data columns in all (x and y, and
    /// z for CMI). Measured (docs/accuracy.md): in 25×25 and 50×50 it is what lets the network get
    /// the linear structure right at our budget (sparse 25×25: 0.78 → 0.99), while in low
    /// dimension the network learns the linear part by itself and the Gaussian base hurts on
    /// heavy-tailed and bounded data (student-identity-5-5-2: 0.44 without, 0.32 with;
    /// 1v1-additive-0.1: 1.63 without, 1.51 with): a linear base extrapolates without bound
    /// where the trunk, normalised inside, does not.
    let linearBaseMinColumns = 20


    /// Option "linear-base": 1 (on) / 0 (off) / "auto" (the default: None, on from
    /// linearBaseMinColumns columns).
    let linearBaseChoice (options: EstimatorOptions) : bool option =
        Estimation.autoSwitch options "linear-base" "on from 20 columns"

    /// The base for data of `columns` columns in all: the choice, or the default by size.
    let linearBaseFor (choice: bool option) (columns: int) = defaultArg choice (columns >= linearBaseMinColumns)

    /// Option `linear-base` (1, 0 or auto, the default) for data of `columns` columns.
    let useLinearBase (options: EstimatorOptions) (columns: int) = linearBaseFor (linearBaseChoice options) columns

    /// The y embedding (NetworkShape.YEmbedding) is on by default where the linear base is off
    /// (fewer than linearBaseMinColumns columns in all) and y has at least two columns. Measured
    /// (docs/accuracy.md, eleventh and twelfth rounds): below 20 columns it lifts the spiral 5×5 by
    /// 0.07 nats on three seeds and leaves the other tasks where they were; from 20 columns the y
    /// path overfits rows that are already the limit (spiral-Φ 25×25 1.01 → 0.90); with a single y
    /// column it repeats what the input projection already has and its extra path slows the
    /// fixed-q phase (1v1-normal-0.75, `mmg-orthogonal` 0.41 → 0.36 on two seeds of three).
    let yEmbeddingFor (choice: bool option) (dimX: int) (dimY: int) =
        defaultArg choice (dimY >= 2 && dimX + dimY < linearBaseMinColumns)

    /// Option "y-embedding" (MI only): 1 (on) / 0 (off) / "auto" (the default: None, see yEmbeddingFor).
    let yEmbeddingChoice (options: EstimatorOptions) : bool option =
        Estimation.autoSwitch options "y-embedding" "on below 20 columns when y has at least two"

    /// Option `norm` (MI and CMI): group (GroupNorm in the blocks and the head), none (a scale
    /// and shift only) or auto (the default: None; MMG then chooses by size, groupNormFor, and
    /// MMG-CMI keeps GroupNorm).
    let groupNormChoice (options: EstimatorOptions) : bool option =
        match Estimation.extraString options "norm" "auto" with
        | "auto" -> None
        | "group" -> Some true
        | "none" -> Some false
        | v -> invalidArg "norm" (sprintf "option 'norm' must be group, none or auto (none below 20 columns when y has at least two, group elsewhere), got '%s'." v)

    /// GroupNorm (NetworkShape.GroupNorm) is off by default where the y embedding is on by
    /// default (y has at least two columns, fewer than linearBaseMinColumns in all), on elsewhere.
    /// Measured (docs/accuracy.md, twenty-second round): below 20 columns with a multi-column y,
    /// dropping it passes the spirals 3×3 and 5×5 and asinh-Student 5×5 on three seeds and
    /// leaves the other tasks where they were; with one y column it shrinks the fixed-q
    /// model's conditional path (`mmg-orthogonal` on 1v1-normal-0.75 0.41 → 0.36); from 20
    /// columns, where the linear base carries the Gaussian part, it does not help (spiral
    /// 25×25 0.81 / 0.78 against 0.83 / 0.80).
    let groupNormFor (choice: bool option) (dimX: int) (dimY: int) =
        defaultArg choice (not (dimY >= 2 && dimX + dimY < linearBaseMinColumns))

    let shape (dimX: int) (dimY: int) (width: int) =
        Checks.requirePositiveInt "dimX" dimX
        Checks.requirePositiveInt "dimY" dimY
        Checks.requirePositiveInt "width" width
        { DimX = dimX; DimY = dimY; Width = width; Blocks = 3; Frequencies = 16; LinearBase = false; YEmbedding = false; InputFeatures = PlainInput; VPrediction = false; Gated = false; GroupNorm = true }

    /// The network as a Denoiser (inference: no_grad; call inside a dispose scope or dispose
    /// the result). Unconditional calls pass the "absent" flag.
    let asDenoiser (net: DenoiserNet) : Denoiser =
        fun z a y ->
            use _ = torch.no_grad ()
            let n = z.shape.[0]
            match y with
            | Some y ->
                use present = torch.ones([| n |], dtype = torch.ScalarType.Bool, device = z.device)
                net.Predict(z, a, y, present)
            | None ->
                use present = torch.zeros([| n |], dtype = torch.ScalarType.Bool, device = z.device)
                use y0 = torch.zeros([| n; int64 net.Shape.DimY |], dtype = z.dtype, device = z.device)
                net.Predict(z, a, y0, present)
