namespace Mmg.Core

open System
open System.Collections.Generic
open TorchSharp

/// A joint noise predictor for MINDE-j: ε̂ for (z_x, z_y) noised at the same log-SNR a, or for one
/// part alone with the other absent. The trained JointDenoiserNet and the Gaussian oracle are both
/// JointDenoisers, so the estimator code does not know which one it runs with.
type JointDenoiser =
    { /// ε̂_xy(z_x, z_y, a): [n; dx + dy], x-part first.
      Joint: Tensor -> Tensor -> Tensor -> Tensor
      /// ε̂_x(z_x, a) with y absent: [n; dx].
      MarginalX: Tensor -> Tensor -> Tensor
      /// ε̂_y(z_y, a) with x absent: [n; dy].
      MarginalY: Tensor -> Tensor -> Tensor }

/// The joint noise predictor of MINDE-j: the DenoiserNet architecture (input projection, learned
/// log-SNR embedding, residual GroupNorm/SiLU blocks) over [z_x or absent, z_y or absent,
/// x-present flag, y-present flag], predicting [ε_x, ε_y]. An absent part is a learned stand-in
/// vector plus its flag, never zeros (0 is a common value of standardised data).
type JointDenoiserNet(shape: NetworkShape) as this =
    inherit torch.nn.Module("JointDenoiserNet")
    let inProj = torch.nn.Linear(int64 (shape.DimX + shape.DimY + 2), int64 shape.Width)
    let absentX = torch.nn.Parameter(torch.zeros(int64 shape.DimX))
    let absentY = torch.nn.Parameter(torch.zeros(int64 shape.DimY))
    let trunk = new DenoiserTrunk(shape, shape.DimX + shape.DimY)
    do this.RegisterComponents()

    member _.Shape = shape

    /// [ε̂_x, ε̂_y] ([n; dx + dy]) for z_x [n; dx], z_y [n; dy], a [n] and the bool presence
    /// flags presentX, presentY [n]. The output of an absent part is meaningless (and not trained).
    /// Call inside a dispose scope.
    member _.Predict(zx: Tensor, zy: Tensor, a: Tensor, presentX: Tensor, presentY: Tensor) : Tensor =
        let xIn = torch.where (presentX.unsqueeze 1L, zx, absentX.expand_as zx)
        let yIn = torch.where (presentY.unsqueeze 1L, zy, absentY.expand_as zy)
        let flags = torch.stack ([| presentX.``to`` zx.dtype; presentY.``to`` zx.dtype |], 1L)
        trunk.forward (inProj.forward (torch.cat ([| xIn; yIn; flags |], 1L)), a)

    /// Number of trainable parameters.
    member this.ParameterCount = this.parameters () |> Seq.sumBy (fun p -> p.numel ())

/// Trains a JointDenoiserNet: each row is, with probability 1/3 each, a joint row (x and y noised
/// at the same a, both present), an x-only row (y absent) or a y-only row (x absent). Loss: the
/// ε-MSE summed over the present parts, weighted by w = 1/(q(a)·|support|) as in DenoiserTrainer
/// (E_q[w] = 1); the shared TrainingLoop with `ema` as its EMA copy and plateau halving of the
/// learning rate (config.LoopSettings). Owns the generator, seeded by `seed`, that every batch is
/// drawn from: deterministic given the seed. (DropProbability of the config is not used: the three
/// modes replace it; it is still checked, as for DenoiserTrainer.)
type JointTrainer(net: JointDenoiserNet, ema: JointDenoiserNet, config: TrainConfig, seed: int) =
    do config.Validate()
    let loop = new TrainingLoop(net.parameters (), config.LoopSettings, { Parameters = ema.parameters (); Decay = config.EmaDecay })
    let generator = new torch.Generator(uint64 seed)

    member _.Steps = loop.Steps
    member _.LearningRate = loop.LearningRate
    member _.SmoothedLoss = loop.SmoothedLoss

    /// One optimisation step on a batch drawn from (x, y) with a ~ q; returns the batch loss.
    member _.Step(x: Tensor, y: Tensor, q: LogSnrDensity) : float =
        use scope = torch.NewDisposeScope()
        let n = x.shape.[0]
        let b = int64 config.BatchSize
        let dx = x.shape.[1]
        let dev = x.device
        let idx = torch.randint(n, [| b |], generator = generator).``to`` dev
        let xb = x.index_select (0L, idx)
        let yb = y.index_select (0L, idx)
        let a = (LogSnr.sample generator x.dtype config.BatchSize q).``to`` dev
        let ex = torch.randn([| b; dx |], dtype = x.dtype, generator = generator).``to`` dev
        let ey = torch.randn([| b; y.shape.[1] |], dtype = y.dtype, generator = generator).``to`` dev
        // 0 = joint, 1 = x only (y absent), 2 = y only (x absent)
        let mode = torch.randint(3L, [| b |], generator = generator).``to`` dev
        let presentX = mode.ne (torch.tensor 2L)
        let presentY = mode.ne (torch.tensor 1L)
        let zx = Channel.noisy a ex xb
        let zy = Channel.noisy a ey yb
        net.train ()
        let out = net.Predict(zx, zy, a, presentX, presentY)
        let errX = (ex - out.narrow (1L, 0L, dx)).square().sum(1L) * presentX.``to`` x.dtype
        let errY = (ey - out.narrow (1L, dx, y.shape.[1])).square().sum(1L) * presentY.``to`` x.dtype
        let lo, hi = LogSnr.range q
        let w = Ops.divScalar (LogSnr.weights q a) (hi - lo)
        loop.Apply(((Ops.add errX errY) * w).mean ())

    /// `steps` steps with q, reporting progress under `phase`; returns what the phase did
    /// (PhaseOutcome: the final smoothed loss, the steps taken).
    member this.Train(x: Tensor, y: Tensor, q: LogSnrDensity, steps: int, phase: string, progress: Action<TrainingProgress>) =
        LogSnr.validate q
        Checks.requireSameRows "x" x "y" y
        loop.Run(steps, phase, progress, fun () -> this.Step(x, y, q))

    interface IDisposable with
        member _.Dispose() =
            (loop :> IDisposable).Dispose()
            generator.Dispose()

/// MINDE (Franzese et al. 2024, "MINDE: Mutual Information Neural Diffusion Estimation") in Mmg's
/// conventions: the conditional estimator minde-c and the joint estimator minde-j, their MI
/// integrands and a Gaussian oracle for the joint one.
module Minde =
    /// The registered names.
    let names = [ "minde-c"; "minde-j" ]

    /// MINDE's log-SNR density: uniform on [−10, 14]. MINDE samples diffusion time uniformly
    /// (no adaptive density); in log-SNR the nearest equivalent is a uniform density. The range is
    /// the support of MMG's fixed density (LogSnr.paperDefault), so the comparison with MMG
    /// changes only the shape of q: at a = −10 the signal weight sigmoid(a) is 5·10⁻⁵ and the gap
    /// of standardised data is negligible, and a = 14 covers the gap of a Gaussian pair up to
    /// about 4.5 nats (docs/design.md §1: the gap lives on a ∈ [−5, 2·I + 5]). Higher MI is truncated
    /// (underestimated) — see docs/estimators-neural.md.
    let density = Uniform(-10.0, 14.0)

    /// The trained network as a JointDenoiser (inference under no_grad; call inside a dispose
    /// scope). The marginals pass the other part as absent.
    let asJointDenoiser (net: JointDenoiserNet) : JointDenoiser =
        let dx, dy = int64 net.Shape.DimX, int64 net.Shape.DimY
        let flags (n: int64) (px: bool) (py: bool) (dev: torch.Device) =
            (if px then torch.ones([| n |], dtype = torch.ScalarType.Bool, device = dev) else torch.zeros([| n |], dtype = torch.ScalarType.Bool, device = dev)),
            (if py then torch.ones([| n |], dtype = torch.ScalarType.Bool, device = dev) else torch.zeros([| n |], dtype = torch.ScalarType.Bool, device = dev))
        { Joint =
            fun zx zy a ->
                use _ = torch.no_grad ()
                let px, py = flags zx.shape.[0] true true zx.device
                use px = px
                use py = py
                net.Predict(zx, zy, a, px, py)
          MarginalX =
            fun zx a ->
                use _ = torch.no_grad ()
                let n = zx.shape.[0]
                let px, py = flags n true false zx.device
                use px = px
                use py = py
                use zy = torch.zeros([| n; dy |], dtype = zx.dtype, device = zx.device)
                use out = net.Predict(zx, zy, a, px, py)
                out.narrow(1L, 0L, dx).contiguous ()
          MarginalY =
            fun zy a ->
                use _ = torch.no_grad ()
                let n = zy.shape.[0]
                let px, py = flags n false true zy.device
                use px = px
                use py = py
                use zx = torch.zeros([| n; dx |], dtype = zy.dtype, device = zy.device)
                use out = net.Predict(zx, zy, a, px, py)
                out.narrow(1L, dx, dy).contiguous () }

    /// The exact joint and marginal ε-predictors of a zero-mean jointly Gaussian (X, Y) with
    /// covariance cov (X's dimX coordinates first), built from Gaussian.oracle: the joint one is
    /// the oracle of the whole vector (as the "x" of an oracle with a dummy, independent y), the
    /// marginals are those of the blocks. float64.
    let gaussianOracle (dimX: int) (cov: Tensor) : JointDenoiser =
        Gaussian.validate dimX cov
        let d = int cov.shape.[0]
        let f64 = torch.ScalarType.Float64
        use c = cov.``to`` f64
        use one = torch.ones([| 1L; 1L |], dtype = f64)
        use extended = torch.block_diag (c, one)
        let joint = Gaussian.oracle d extended
        let mx = Gaussian.oracle dimX c
        // Y's coordinates first, so that Y is the oracle's "x"
        use order = torch.tensor(Array.append [| int64 dimX .. int64 d - 1L |] [| 0L .. int64 dimX - 1L |])
        use rows = c.index_select (0L, order)
        use permuted = rows.index_select (1L, order)
        let my = Gaussian.oracle (d - dimX) permuted
        { Joint =
            fun zx zy a ->
                use z = torch.cat ([| zx; zy |], 1L)
                joint z a None
          MarginalX = fun zx a -> mx zx a None
          MarginalY = fun zy a -> my zy a None }

    /// One draw per row of (a ~ q, ε_x, ε_y), both parts noised at the same a, and the MINDE-j
    /// integrands from the same draw: difference ½(‖ε − ε̂_m‖² − ‖ε − ε̂_xy‖²)/q and orthogonal
    /// ½‖ε̂_xy − ε̂_m‖²/q, where ε = [ε_x, ε_y] and ε̂_m = [ε̂_x(z_x), ε̂_y(z_y)].
    /// Their expectation is ½∫ [mmse_ε,x + mmse_ε,y − mmse_ε,xy] da = h(X) + h(Y) − h(X,Y) = I(X;Y).
    let jointIntegrands (denoiser: JointDenoiser) (q: LogSnrDensity) (generator: torch.Generator) (x: Tensor) (y: Tensor) : Tensor * Tensor =
        Checks.requireRank "x" 2 x
        Checks.requireRank "y" 2 y
        Checks.requireSameRows "x" x "y" y
        let n = int x.shape.[0]
        use a0 = LogSnr.sample generator x.dtype n q
        use a = a0.``to`` x.device
        // Drawn on the CPU generator, then moved (a CPU generator cannot fill a CUDA tensor).
        use ex0 = torch.randn(x.shape, dtype = x.dtype, generator = generator)
        use ey0 = torch.randn(y.shape, dtype = y.dtype, generator = generator)
        use ex = ex0.``to`` x.device
        use ey = ey0.``to`` y.device
        use zx = Channel.noisy a ex x
        use zy = Channel.noisy a ey y
        use joint = denoiser.Joint zx zy a
        use mx = denoiser.MarginalX zx a
        use my = denoiser.MarginalY zy a
        use marginal = torch.cat ([| mx; my |], 1L)
        use eps = torch.cat ([| ex; ey |], 1L)
        use jointT = joint.``to`` marginal.dtype
        Mmse.differenceIntegrand q a eps marginal jointT, Mmse.orthogonalIntegrand q a marginal jointT

    /// MINDE-j in both forms on (x, y): per-row integrands averaged over `repeats` draws, then the
    /// mean and standard error across rows (as Mmse.estimate).
    let jointEstimate (denoiser: JointDenoiser) (q: LogSnrDensity) (generator: torch.Generator) (repeats: int) (batchSize: int) (x: Tensor) (y: Tensor) : GapEstimate =
        LogSnr.validate q
        let d, o = Mmse.pointwiseOf (jointIntegrands denoiser q generator) repeats batchSize x y
        use d = d
        use o = o
        { Difference = Mmse.summarize d; Orthogonal = Mmse.summarize o }

    /// Standardised train and test tensors of one run (standardiser fit on the training rows).
    type internal Prepared(options: EstimatorOptions, x: float[,], y: float[,]) =
        do Data.validate 4 x y
        let dimX, dimY = Array2D.length2 x, Array2D.length2 y
        let p = MmgProfiles.resolve options dimX dimY
        let train, test = Data.split options.Seed p.TestFraction (Array2D.length1 x)
        let pick (rows: int[]) (m: float[,]) = Array2D.init rows.Length (Array2D.length2 m) (fun i j -> m.[rows.[i], j])
        let xTrain, yTrain = pick train x, pick train y
        do Data.validate p.BatchSize xTrain yTrain
        let device = Estimation.device options.Device
        let tensors (m: float[,]) (s: Data.Standardizer) =
            use t = Data.toTensor m
            use st = Data.standardize s t
            st.``to`` device
        let sx, sy =
            use xt = Data.toTensor xTrain
            use yt = Data.toTensor yTrain
            Data.fitStandardizer xt, Data.fitStandardizer yt
        let xs, ys = tensors xTrain sx, tensors yTrain sy
        let xe, ye = tensors (pick test x) sx, tensors (pick test y) sy
        member _.Profile = p
        member _.Device = device
        member _.DimX = dimX
        member _.DimY = dimY
        member _.TrainX = xs
        member _.TrainY = ys
        member _.TestX = xe
        member _.TestY = ye
        member _.TrainRows = train.Length
        member _.TestRows = test.Length
        /// Width from the profile, or from the data dimension when the profile says 0.
        member _.Width = if p.Width > 0 then p.Width else Network.defaultWidth dimX dimY
        /// The training budget: MMG's fixed plus adaptive steps, so that MINDE and MMG get the same
        /// number of optimiser steps at the same batch size (a fair comparison).
        member _.Steps = p.Steps + p.AdaptSteps
        member _.Config =
            { BatchSize = p.BatchSize; LearningRate = p.LearningRate; EmaDecay = p.EmaDecay
              DropProbability = p.DropProbability; PlateauPatience = p.PlateauPatience; MinLearningRate = 1e-5 }
        interface IDisposable with
            member _.Dispose() =
                for t in [ xs; ys; xe; ye ] do t.Dispose()

    let private qText q = LogSnr.describe q

    let internal commonSettings (options: EstimatorOptions) (prep: Prepared) (shape: NetworkShape) (finalLr: float) (parameters: int64) (extra: (string * obj) list) =
        let p = prep.Profile
        Estimation.settings
            ([ "profile", box p.Name; "steps", box prep.Steps; "batch_size", box p.BatchSize; "learning_rate", box p.LearningRate
               "final_learning_rate", box finalLr; "width", box shape.Width; "blocks", box shape.Blocks; "ema_decay", box p.EmaDecay
               "repeats", box p.Repeats; "test_fraction", box p.TestFraction; "seed", box options.Seed
               "device", box (string prep.Device); "q", box (qText density); "parameters", box parameters
               "train_rows", box prep.TrainRows; "test_rows", box prep.TestRows ] @ extra)

    let internal result (name: string) (seconds: float) (est: GapEstimate) (settings: IReadOnlyDictionary<string, string>) =
        let named n (e: McEstimate) = { Name = n; Estimate = e.Mean; StdError = e.StdError }
        Estimation.result name est.Orthogonal.Mean est.Orthogonal.StdError seconds [| named name est.Orthogonal; named (name + "-difference") est.Difference |] settings

    /// One MINDE run (MINDE-c and MINDE-j differ only in the network, trainer and integrand):
    /// prepare the rows, seed torch, `fit` trains on the training rows with q = density and
    /// returns the test rows' estimate, the final learning rate and the parameter count.
    let internal run (name: string) (options: EstimatorOptions) (x: float[,]) (y: float[,]) (extra: MmgProfile -> (string * obj) list)
            (fit: Prepared -> NetworkShape -> GapEstimate * float * int64) : EstimatorResult =
        let watch = Diagnostics.Stopwatch.StartNew()
        use prep = new Prepared(options, x, y)
        torch.random.manual_seed (int64 options.Seed) |> ignore
        let shape = Network.shape prep.DimX prep.DimY prep.Width
        let est, finalLr, parameters = fit prep shape
        result name watch.Elapsed.TotalSeconds est (commonSettings options prep shape finalLr parameters (extra prep.Profile))

/// MINDE-c: the conditional MINDE estimator. In Mmg's framework it is MMG's orthogonal estimator
/// with a uniform log-SNR density and no adaptive phase: one conditional DenoiserNet (y randomly
/// absent) trained for Steps + AdaptSteps steps with q = Minde.density, then ½ E‖ε̂_y − ε̂‖²/q on
/// the test rows. Variants: "minde-c" (orthogonal, the headline) and "minde-c-difference".
type MindeConditional(options: EstimatorOptions) =
    do Estimation.requireKnownOptions "minde-c" [ "adapt-steps"; "width"; "repeats"; "drop-probability" ] options
    member _.Options = options

    interface IMiEstimator with
        member _.Name = "minde-c"
        member _.Estimate(x, y, progress) =
            Minde.run "minde-c" options x y (fun p -> [ "drop_probability", box p.DropProbability ]) (fun prep shape ->
                use net = (new DenoiserNet(shape)).``to`` prep.Device
                use ema = (new DenoiserNet(shape)).``to`` prep.Device
                use trainer = new DenoiserTrainer(net, ema, prep.Config, options.Seed)
                trainer.Train(prep.TrainX, prep.TrainY, Minde.density, prep.Steps, "denoiser (uniform q)", progress) |> ignore
                ema.eval ()
                use g = new torch.Generator(uint64 (options.Seed + 11))
                Mmse.estimate (Network.asDenoiser ema) Minde.density g prep.Profile.Repeats 4096 prep.TestX prep.TestY, trainer.LearningRate, ema.ParameterCount)

/// MINDE-j: the joint MINDE estimator. One JointDenoiserNet over (x, y) trained in three modes
/// (joint, x only, y only; 1/3 each) for Steps + AdaptSteps steps with q = Minde.density; then
/// I = ½ E‖ε̂_xy − [ε̂_x, ε̂_y]‖²/q on the test rows (both parts noised at the same a).
/// Variants: "minde-j" (orthogonal, the headline) and "minde-j-difference".
type MindeJoint(options: EstimatorOptions) =
    do Estimation.requireKnownOptions "minde-j" [ "adapt-steps"; "width"; "repeats"; "drop-probability" ] options
    member _.Options = options

    interface IMiEstimator with
        member _.Name = "minde-j"
        member _.Estimate(x, y, progress) =
            Minde.run "minde-j" options x y (fun _ -> [ "modes", box "joint, x-only, y-only (1/3 each)" ]) (fun prep shape ->
                use net = (new JointDenoiserNet(shape)).``to`` prep.Device
                use ema = (new JointDenoiserNet(shape)).``to`` prep.Device
                use trainer = new JointTrainer(net, ema, prep.Config, options.Seed)
                trainer.Train(prep.TrainX, prep.TrainY, Minde.density, prep.Steps, "joint denoiser (uniform q)", progress) |> ignore
                ema.eval ()
                use g = new torch.Generator(uint64 (options.Seed + 11))
                Minde.jointEstimate (Minde.asJointDenoiser ema) Minde.density g prep.Profile.Repeats 4096 prep.TestX prep.TestY, trainer.LearningRate, ema.ParameterCount)
