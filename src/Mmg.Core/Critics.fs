namespace Mmg.Core

open System
open System.Collections.Generic
open System.Diagnostics
open TorchSharp

/// The neural variational MI estimators (MINE, InfoNCE, NWJ, DV, SMILE) and the difference-of-
/// entropies estimators (DoE, Gaussian and logistic), all behind IMiEstimator.
///
/// Layout: the bounds are small pure functions of a critic score matrix (Bounds); the networks
/// are plain TorchSharp modules; one training routine (split → standardise → Adam on
/// mini-batches → early stopping on a validation part of the training split → estimate on the
/// test split) serves every estimator, each of which is only an "objective": a training loss, a
/// per-batch value (the estimate) and a validation score. See docs/estimators-neural.md.
module Critics =

    let private f32 = torch.ScalarType.Float32

    /// Variational lower bounds as functions of a critic score matrix `scores: [b; b]` with
    /// scores[i, j] = f(x_i, y_j): the diagonal holds the b joint pairs, the b(b−1) off-diagonal
    /// entries stand in for samples of the product of marginals. Every function returns a fresh
    /// scalar tensor that keeps the autograd graph, and never disposes its input.
    module Bounds =
        let private requireSquare (scores: Tensor) =
            Checks.requireRank "scores" 2 scores
            if scores.shape.[0] <> scores.shape.[1] || scores.shape.[0] < 2L then
                invalidArg "scores" (sprintf "scores must be a square [b; b] matrix with b >= 2, got shape %s." (Checks.shapeText scores))

        /// mean_i f(x_i, y_i): the joint (diagonal) term.
        let jointMean (scores: Tensor) : Tensor =
            requireSquare scores
            use d = scores.diagonal ()
            d.mean ()

        /// log( mean over the b(b−1) off-diagonal pairs of e^f ).
        let logMeanExpOffDiagonal (scores: Tensor) : Tensor =
            requireSquare scores
            let b = scores.shape.[0]
            use eye = torch.eye(b, dtype = torch.ScalarType.Bool, device = scores.device)
            use minusInfinity = Double.NegativeInfinity.ToScalar()
            use masked = scores.masked_fill(eye, minusInfinity)
            use flat = masked.reshape(-1L)
            use lse = flat.logsumexp(0L)
            Ops.subScalar lse (Math.Log(float (b * (b - 1L))))

        /// mean over the off-diagonal pairs of g(f) for an elementwise g given as a tensor of the same shape.
        let private meanOffDiagonal (values: Tensor) : Tensor =
            let b = values.shape.[0]
            use eye = torch.eye(b, dtype = values.dtype, device = values.device)
            use ones = torch.ones_like eye
            use off = Ops.sub ones eye
            use kept = values * off
            use total = kept.sum ()
            Ops.divScalar total (float (b * (b - 1L)))

        /// InfoNCE (van den Oord et al. 2018; Poole et al. 2019):
        /// mean_i [ f(x_i, y_i) − log Σ_j e^{f(x_i, y_j)} ] + log b. Never exceeds log b.
        let infoNce (scores: Tensor) : Tensor =
            requireSquare scores
            let b = scores.shape.[0]
            use d = scores.diagonal ()
            use lse = scores.logsumexp(1L)
            use diff = d - lse
            use m = diff.mean ()
            Ops.addScalar m (Math.Log(float b))

        /// Donsker–Varadhan: mean_i f(x_i, y_i) − log mean_{i≠j} e^{f(x_i, y_j)}.
        let dv (scores: Tensor) : Tensor =
            use j = jointMean scores
            use m = logMeanExpOffDiagonal scores
            j - m

        /// NWJ (Nguyen, Wainwright & Jordan 2010), as f-divergence bound:
        /// mean_i f(x_i, y_i) − mean_{i≠j} e^{f(x_i, y_j) − 1}.
        let nwj (scores: Tensor) : Tensor =
            use j = jointMean scores
            use m = logMeanExpOffDiagonal scores
            use m1 = Ops.subScalar m 1.0
            use e = m1.exp ()
            j - e

        /// SMILE (Song & Ermon 2020): DV with the critic clipped to [−tau, tau] in the partition
        /// (off-diagonal) term only: mean_i f(x_i, y_i) − log mean_{i≠j} e^{clip(f(x_i, y_j))}.
        let smile (tau: float) (scores: Tensor) : Tensor =
            Checks.requirePositive "tau" tau
            use j = jointMean scores
            use lo = (-tau).ToScalar()
            use hi = tau.ToScalar()
            use c = scores.clamp(lo, hi)
            use m = logMeanExpOffDiagonal c
            j - m

        /// The Jensen–Shannon f-GAN objective mean_i −softplus(−f_ii) − mean_{i≠j} softplus(f_ij).
        /// Its maximiser is the log density ratio itself, so SMILE trains its critic with it
        /// (as in Song & Ermon's reference implementation) and reports the clipped DV value.
        let jsObjective (scores: Tensor) : Tensor =
            requireSquare scores
            use d = scores.diagonal ()
            use nd = d.neg ()
            use spd = torch.nn.functional.softplus nd
            use jointPart = spd.mean ()
            use sp = torch.nn.functional.softplus scores
            use margPart = meanOffDiagonal sp
            use negJoint = jointPart.neg ()
            negJoint - margPart

        /// MINE's surrogate objective for a moving average `ma` of mean_{i≠j} e^{f}: its gradient is
        /// ∇ mean_i f_ii − ∇(mean_{i≠j} e^{f_ij}) / ma, the bias-corrected DV gradient of
        /// Belghazi et al. (2018). Its value is not a bound; report `dv` instead.
        let mineSurrogate (ma: float) (scores: Tensor) : Tensor =
            Checks.requirePositive "ma" ma
            use j = jointMean scores
            use m = logMeanExpOffDiagonal scores
            use e = m.exp ()
            use r = Ops.divScalar e ma
            j - r

        /// mineSurrogate with the moving average given by its logarithm: the ratio
        /// mean e^{f} / ma is formed as exp(log mean e^{f} − log ma), which stays finite when
        /// e^{f} itself overflows (heavy tails).
        let mineSurrogateLog (logMa: float) (scores: Tensor) : Tensor =
            Checks.requireFinite "logMa" logMa
            use j = jointMean scores
            use m = logMeanExpOffDiagonal scores
            use d = Ops.subScalar m logMa
            use r = d.exp ()
            j - r

        /// One step of MINE's moving average ma ← (1 − rate)·ma + rate·mean e^{f}, in log space:
        /// log ma and log mean e^{f} in, the new log ma out (NaN log ma = no average yet). Finite
        /// for any finite inputs, where the average itself would overflow to ∞ beyond e^709.
        let mineMovingLogAverage (rate: float) (logMa: float) (logCurrent: float) : float =
            if not (rate > 0.0 && rate <= 1.0) then invalidArg "rate" (sprintf "rate must lie in (0, 1], got %g." rate)
            Checks.requireFinite "logCurrent" logCurrent
            if Double.IsNaN logMa || rate = 1.0 then logCurrent
            else
                let a = Math.Log(1.0 - rate) + logMa
                let b = Math.Log rate + logCurrent
                let hi = max a b
                hi + Math.Log(Math.Exp(a - hi) + Math.Exp(b - hi))

    // ---------------------------------------------------------------- networks

    /// A ReLU MLP: `layers` hidden layers of width `hidden`, then a linear output layer.
    type Mlp(name: string, inputs: int, hidden: int, layers: int, outputs: int) as this =
        inherit torch.nn.Module<Tensor, Tensor>(name)
        let net =
            let mods = ResizeArray<torch.nn.Module<Tensor, Tensor>>()
            let mutable width = inputs
            for _ in 1..layers do
                mods.Add(torch.nn.Linear(int64 width, int64 hidden))
                mods.Add(torch.nn.ReLU())
                width <- hidden
            mods.Add(torch.nn.Linear(int64 width, int64 outputs))
            torch.nn.Sequential(mods.ToArray())
        do this.RegisterComponents()
        override _.forward(x: Tensor) = net.forward x

    /// Separable critic f(x, y) = g(x)ᵀh(y) with two MLPs into an `embed`-dimensional space.
    /// forward(x [b; dx], y [b; dy]) → scores [b; b]; one network pass per row.
    type SeparableCritic(dx: int, dy: int, hidden: int, layers: int, embed: int) as this =
        inherit torch.nn.Module<Tensor, Tensor, Tensor>("separable-critic")
        let g = new Mlp("g", dx, hidden, layers, embed)
        let h = new Mlp("h", dy, hidden, layers, embed)
        do this.RegisterComponents()
        override _.forward(x: Tensor, y: Tensor) =
            use gx = g.forward x
            use hy = h.forward y
            use ht = hy.t ()
            gx.matmul ht

    /// Concatenated critic f(x, y) = MLP([x; y]) evaluated on all b² pairs.
    /// forward(x [b; dx], y [b; dy]) → scores [b; b]; b² network passes per batch.
    type ConcatCritic(dx: int, dy: int, hidden: int, layers: int) as this =
        inherit torch.nn.Module<Tensor, Tensor, Tensor>("concat-critic")
        let f = new Mlp("f", dx + dy, hidden, layers, 1)
        do this.RegisterComponents()
        override _.forward(x: Tensor, y: Tensor) =
            let b = x.shape.[0]
            use xu = x.unsqueeze 1L
            use xe = xu.expand(b, b, int64 dx)
            use yu = y.unsqueeze 0L
            use ye = yu.expand(b, b, int64 dy)
            use xy = torch.cat([| xe; ye |], 2L)
            use flat = xy.reshape(b * b, int64 (dx + dy))
            use out = f.forward flat
            out.reshape(b, b)

    /// The family of the one-dimensional factors of the DoE density models.
    type DoeFamily =
        | GaussianFamily
        | LogisticFamily

    /// log density of each element of y under loc mu and log-scale ls (elementwise).
    let private logDensity (family: DoeFamily) (y: Tensor) (mu: Tensor) (ls: Tensor) : Tensor =
        use diff = y - mu
        use inv = ls.neg().exp ()
        use z = diff * inv
        match family with
        | GaussianFamily ->
            use z2 = z.square ()
            use half = Ops.mulScalar z2 0.5
            use a = Ops.add half ls
            use b = a.neg ()
            Ops.subScalar b (0.5 * Math.Log(2.0 * Math.PI))
        | LogisticFamily ->
            // −z − log s − 2 softplus(−z)
            use nz = z.neg ()
            use sp = torch.nn.functional.softplus nz
            use sp2 = Ops.mulScalar sp 2.0
            use a = nz - ls
            a - sp2

    /// The two density models of the DoE estimator, trained by maximum likelihood:
    /// q(y) = Π_k q(y_k | y_<k) with loc_k = c_k + Σ_{j<k} B_kj y_j and a free log-scale, and
    /// q(y|x) = Π_k q(y_k | x, y_<k) with loc_k = (Gx + h)_k + m_k(x) + Σ_{j<k} A_kj y_j: a linear
    /// part, an MLP m of x and a linear autoregression over y's earlier coordinates; its log-scale
    /// is one free value per coordinate, or (xDependentScale) that plus a second MLP head s_k(x).
    /// The linear autoregression makes every full-covariance Gaussian representable, so the
    /// Gaussian family is well specified on jointly Gaussian data.
    /// forward(x [b; dx], y [b; dy]) → [b; 2] with columns (log q(y|x), log q(y)).
    type DoeModel(dx: int, dy: int, hidden: int, layers: int, family: DoeFamily, xDependentScale: bool) as this =
        inherit torch.nn.Module<Tensor, Tensor, Tensor>("doe")
        let cond = new Mlp("conditional", dx, hidden, layers, 2 * dy)
        let condLinear = torch.nn.Linear(int64 dx, int64 dy)
        let condAuto = torch.nn.Parameter(torch.zeros(int64 dy, int64 dy))
        let condLsBias = torch.nn.Parameter(torch.zeros(int64 dy))
        let margLoc = torch.nn.Parameter(torch.zeros(int64 dy))
        let margLogScale = torch.nn.Parameter(torch.zeros(int64 dy))
        let margAuto = torch.nn.Parameter(torch.zeros(int64 dy, int64 dy))
        let minLs, maxLs = (-9.0).ToScalar(), (5.0).ToScalar()
        do this.RegisterComponents()

        /// Starts both models at the moment (linear-Gaussian) fit of the standardised training
        /// rows, then training continues by maximum likelihood:
        /// - q(y): autoregression and scales from the Cholesky factor of y's sample covariance
        ///   (for the Gaussian family this is already the maximum-likelihood q(y));
        /// - q(y|x): the linear part and autoregression from the least-squares regression of y on x
        ///   and the Cholesky factor of the residual covariance; the MLP's output layer starts at
        ///   zero, so it only adds what the linear fit misses.
        /// The logistic family gets scale σ·√3/π (same variance as the Gaussian fit).
        /// Without this start, Adam moves these free parameters by about lr per step: far too slow
        /// for a few hundred steps, and for large MI (log-scales far from 0) even for thousands.
        member _.InitFrom(x: Tensor, y: Tensor) =
            use _ng = torch.no_grad ()
            use scope = torch.NewDisposeScope()
            let f64 = torch.ScalarType.Float64
            let n = float y.shape.[0]
            let x64, y64 = x.``to`` f64, y.``to`` f64
            let mx, my = x64.mean([| 0L |]), y64.mean([| 0L |])
            let xc, yc = x64 - mx, y64 - my
            let denom = max 1.0 (n - 1.0)
            let sxx = Ops.divScalar (xc.t().matmul(xc)) denom
            let syx = Ops.divScalar (yc.t().matmul(xc)) denom
            let syy = Ops.divScalar (yc.t().matmul(yc)) denom
            let eyeY = torch.eye(int64 dy, dtype = f64, device = y.device)
            let shift = match family with GaussianFamily -> 0.0 | LogisticFamily -> Math.Log(Math.Sqrt 3.0 / Math.PI)
            // A covariance S as an autoregression: S = L Lᵀ, L = M·diag(d) with M unit lower
            // triangular; e = B e + diag(d) ε with B = I − M⁻¹.
            let autoregression (cov: Tensor) =
                let l = torch.linalg.cholesky (Ops.addRidge cov 1e-6)
                let d = l.diagonal ()
                let unit = l / d.unsqueeze 0L
                eyeY - torch.linalg.inv unit, Ops.addScalar (d.log ()) shift
            let bm, lsm = autoregression syy
            // regression W = S_yx S_xx⁻¹ and residual covariance S_yy − W S_xy
            let w = torch.linalg.solve(Ops.addRidge sxx 1e-6, syx.t ()).t ()
            let resid = syy - w.matmul (syx.t ())
            let resid = Ops.mulScalar (Ops.add resid (resid.t ())) 0.5
            let bc, lsc = autoregression resid
            let imb = eyeY - bc
            let g = imb.matmul w
            let h = imb.matmul (my - w.matmul mx)
            let set (p: Tensor) (v: Tensor) = p.copy_ (v.``to`` p.dtype) |> ignore
            set margAuto bm
            set margLogScale lsm
            set margLoc ((eyeY - bm).matmul my)
            set condAuto bc
            set condLsBias lsc
            set condLinear.weight g
            set condLinear.bias h
            let ps = cond.parameters () |> Seq.toArray
            for p in ps.[ps.Length - 2 ..] do p.zero_ () |> ignore

        override _.forward(x: Tensor, y: Tensor) =
            use out = cond.forward x
            use mlpLoc = out.narrow(1L, 0L, int64 dy)
            use lin = condLinear.forward x
            use condLoc = Ops.add mlpLoc lin
            use condLsRaw = out.narrow(1L, int64 dy, int64 dy)
            use condLsShifted = if xDependentScale then Ops.add condLsRaw condLsBias else Ops.mulScalar condLsBias 1.0
            use condLs = condLsShifted.clamp(minLs, maxLs)
            use a = condAuto.tril(-1L)
            use at = a.t ()
            use ya = y.matmul at
            use cLoc = Ops.add condLoc ya
            use lc = logDensity family y cLoc condLs
            use lcs = lc.sum(1L)
            use m = margAuto.tril(-1L)
            use mt = m.t ()
            use ym = y.matmul mt
            use mLoc = Ops.add ym margLoc
            use mLs = margLogScale.clamp(minLs, maxLs)
            use lm = logDensity family y mLoc mLs
            use lms = lm.sum(1L)
            torch.stack([| lcs; lms |], 1L)

    // ---------------------------------------------------------------- settings

    /// The estimators this module provides, in the order of docs/estimators-neural.md.
    let names = [ "mine"; "infonce"; "nwj"; "dv"; "smile"; "doe-gaussian"; "doe-logistic" ]

    /// Budget defaults per profile: (steps, batch size, learning rate). "default" fits a CPU
    /// (a few thousand steps), "quick" is for smoke tests, "paper" follows Song & Ermon (2020)
    /// and Poole et al. (2019): batch 64, 20 000 steps, Adam lr 5e-4.
    let profileDefaults (profile: string) : int * int * float =
        match (if isNull profile then "default" else profile.Trim().ToLowerInvariant()) with
        | "" | "default" -> 3000, 128, 5e-4
        | "quick" -> 500, 128, 5e-4
        | "paper" -> 20000, 64, 5e-4
        | other -> invalidArg "Profile" (sprintf "unknown profile '%s'; use default, quick or paper." other)

    /// Fraction of rows held out for the final estimate.
    let DefaultTestFraction = 0.3
    /// Fraction of the training rows held out for early stopping.
    let DefaultValidationFraction = 0.15
    /// Critic MLP width (Poole et al. 2019; Song & Ermon 2020: 2 hidden layers of 256, ReLU).
    let DefaultHidden = 256
    /// DoE density-model MLP width: narrower, as the conditional density model overfits a few
    /// thousand rows quickly at 256 (measured on the 3×3 Gaussian task, 2000 rows).
    let DefaultDoeHidden = 64
    /// Hidden layers of every MLP.
    let DefaultLayers = 2
    /// Embedding dimension of the separable critic (Poole et al. 2019 use 32).
    let DefaultEmbed = 32
    /// SMILE's clip τ (Song & Ermon 2020 report τ ∈ {1, 5, ∞}).
    let DefaultTau = 5.0
    /// Rate α of MINE's moving average ma ← (1 − α)·ma + α·mean e^f (Belghazi et al. 2018: 0.01).
    let DefaultMineEmaRate = 0.01
    /// Validation evaluations without improvement before training stops.
    let DefaultPatience = 20
    /// DoE conditional scale: "shared" (one per coordinate) or "x" (a function of x).
    let DefaultDoeScale = "shared"
    /// Fewest rows an estimator accepts.
    let MinRows = 20

    let private extraString = Estimation.extraString

    /// Everything a run uses, resolved from the options.
    type private Resolved =
        { Seed: int
          Device: torch.Device
          DeviceName: string
          Profile: string
          Steps: int
          BatchSize: int
          LearningRate: float
          TestFraction: float
          ValidationFraction: float
          EvalEvery: int
          Patience: int
          Hidden: int
          Layers: int }

    let private resolve (defaultHidden: int) (options: EstimatorOptions) : Resolved =
        let steps0, batch0, lr0 = profileDefaults options.Profile
        let steps = Estimation.orDefault options.Steps steps0
        let tf = Estimation.orDefaultF options.TestFraction DefaultTestFraction
        if tf >= 1.0 then invalidArg "TestFraction" (sprintf "TestFraction must lie strictly between 0 and 1, got %g." tf)
        let vf = Estimation.extraFloat options "validation-fraction" DefaultValidationFraction
        if not (vf > 0.0 && vf < 1.0) then invalidArg "validation-fraction" (sprintf "option 'validation-fraction' must lie strictly between 0 and 1, got %g." vf)
        let evalEvery = Estimation.extraInt options "eval-every" (max 10 (steps / 50))
        let patience = Estimation.extraInt options "patience" DefaultPatience
        let hidden = Estimation.extraInt options "hidden" defaultHidden
        let layers = Estimation.extraInt options "layers" DefaultLayers
        Checks.requirePositiveInt "eval-every" evalEvery
        Checks.requirePositiveInt "patience" patience
        Checks.requirePositiveInt "hidden" hidden
        if layers < 0 then invalidArg "layers" (sprintf "layers must be >= 0, got %d." layers)
        { Seed = options.Seed
          Device = Estimation.device options.Device
          DeviceName = (if String.IsNullOrWhiteSpace options.Device then "cpu" else options.Device.Trim().ToLowerInvariant())
          Profile = (if String.IsNullOrWhiteSpace options.Profile then "default" else options.Profile.Trim().ToLowerInvariant())
          Steps = steps
          BatchSize = Estimation.orDefault options.BatchSize batch0
          LearningRate = Estimation.orDefaultF options.LearningRate lr0
          TestFraction = tf
          ValidationFraction = vf
          EvalEvery = evalEvery
          Patience = patience
          Hidden = hidden
          Layers = layers }

    // ---------------------------------------------------------------- objectives

    /// What distinguishes one estimator from another once the data and the network exist.
    /// Every function takes the model output for one batch (scores [b; b], or DoE's [b; 2]).
    type private Objective =
        { /// The training loss to minimise (may keep state, e.g. MINE's moving average).
          Loss: Tensor -> Tensor
          /// The estimate on a batch (nats), a scalar tensor.
          Value: Tensor -> Tensor
          /// The validation score for early stopping (higher is better; train hands the loop its
          /// negation), a scalar tensor.
          Score: Tensor -> Tensor }

    let private boundObjective (bound: Tensor -> Tensor) =
        { Loss = (fun s -> use v = bound s in v.neg ())
          Value = bound
          Score = bound }

    /// MINE's loss with its moving average kept in log space (Bounds.mineMovingLogAverage), so
    /// heavy-tailed scores cannot turn it into ∞ and the surrogate into NaN; scores that are
    /// themselves no longer finite stop training with a clear error instead of a NaN estimate.
    let private mineObjective (rate: float) =
        let logMa = ref Double.NaN
        { Loss =
            (fun s ->
                let current =
                    use m = Bounds.logMeanExpOffDiagonal s
                    m.item<float32> () |> float
                if not (Double.IsFinite current) then
                    raise (InvalidOperationException(sprintf "mine: training diverged (the critic's log mean e^f is %g); the data may be too heavy-tailed for MINE: try a smaller learning rate, fewer steps or another estimator (e.g. infonce or ksg)." current))
                logMa.Value <- Bounds.mineMovingLogAverage rate logMa.Value current
                use v = Bounds.mineSurrogateLog logMa.Value s
                v.neg ())
          Value = Bounds.dv
          Score = Bounds.dv }

    let private smileObjective (tau: float) =
        { Loss = (fun s -> use v = Bounds.jsObjective s in v.neg ())
          Value = Bounds.smile tau
          Score = Bounds.smile tau }

    let private doeObjective =
        let column (k: int64) (out: Tensor) = out.select(1L, k)
        { Loss =
            (fun out ->
                use ll = out.sum(1L)
                use m = ll.mean ()
                m.neg ())
          Value =
            (fun out ->
                use c = column 0L out
                use mg = column 1L out
                use d = c - mg
                d.mean ())
          Score =
            (fun out ->
                use ll = out.sum(1L)
                ll.mean ()) }

    // ---------------------------------------------------------------- the shared routine

    let private rowsOn (device: torch.Device) (index: int[]) (t: Tensor) : Tensor =
        use idx = torch.tensor(index |> Array.map int64, device = device)
        t.index_select(0L, idx)

    /// Disjoint batches of `batch` rows, in order (the rows are already in random order); the
    /// remainder that does not fill a batch is dropped, and a set smaller than one batch is one
    /// batch. f gives a scalar tensor per batch; runs under no_grad.
    let private batchValues (model: torch.nn.Module<Tensor, Tensor, Tensor>) (f: Tensor -> Tensor) (batch: int) (x: Tensor) (y: Tensor) : float[] =
        let n = int x.shape.[0]
        let b = min batch n
        let k = n / b
        use _ng = torch.no_grad ()
        [| for i in 0 .. k - 1 do
               use scope = torch.NewDisposeScope()
               let xb = x.narrow(0L, int64 (i * b), int64 b)
               let yb = y.narrow(0L, int64 (i * b), int64 b)
               let out = model.forward(xb, yb)
               let v = f out
               yield float (v.item<float32> ()) |]

    /// Weight of the newest batch loss in the critics' smoothed training loss (about 10 steps).
    [<Literal>]
    let private SmoothingWeight = 0.1

    /// Adam at a constant rate on the shared TrainingLoop (no EMA copy), one dispose scope per
    /// step, on mini-batches of the shuffled fitting rows (reshuffled with a Random seeded by
    /// Seed + 1 whenever the rest of the epoch does not fill a batch). Every EvalEvery steps and
    /// after the last the validation score (higher is better; the loop minimises its negation)
    /// is computed and the best parameters kept; training stops after Patience evaluations
    /// without improvement, and the best parameters are restored. In the outcome, ValidationLoss
    /// is the negated best score.
    let private train (r: Resolved) (phase: string) (model: torch.nn.Module<Tensor, Tensor, Tensor>) (objective: Objective) (xTr: Tensor) (yTr: Tensor) (xVal: Tensor) (yVal: Tensor) (progress: Action<TrainingProgress>) : PhaseOutcome =
        use loop = new TrainingLoop(model.parameters (), LoopSettings.ConstantRate(r.LearningRate, SmoothingWeight))
        let rng = Random(r.Seed + 1)
        let nTr = int xTr.shape.[0]
        let b = min r.BatchSize nTr
        let perm = Array.init nTr id
        let shuffle () =
            for i in nTr - 1 .. -1 .. 1 do
                let j = rng.Next(i + 1)
                let t = perm.[i]
                perm.[i] <- perm.[j]
                perm.[j] <- t
        shuffle ()
        let pos = ref 0
        let step () =
            if pos.Value + b > nTr then
                shuffle ()
                pos.Value <- 0
            let idx = perm.[pos.Value .. pos.Value + b - 1]
            pos.Value <- pos.Value + b
            use scope = torch.NewDisposeScope()
            let xb = rowsOn r.Device idx xTr
            let yb = rowsOn r.Device idx yTr
            let out = model.forward(xb, yb)
            loop.Apply(objective.Loss out)
        let negatedScore () = -(Array.average (batchValues model objective.Score r.BatchSize xVal yVal))
        loop.Run(r.Steps, phase, progress, step, { Every = r.EvalEvery; Patience = r.Patience; Loss = negatedScore })

    type private Kind =
        | Bound of critic: string * objective: (unit -> Objective) * extra: (string * obj) list
        | Doe of family: DoeFamily * xDependentScale: bool

    let private kindOf (name: string) (options: EstimatorOptions) : Kind =
        let critic () =
            match extraString options "critic" "separable" with
            | "separable" | "concat" as c -> c
            | other -> invalidArg "critic" (sprintf "unknown critic '%s'; use separable or concat." other)
        match name with
        | "mine" ->
            let rate = Estimation.extraFloat options "ema" DefaultMineEmaRate
            if not (rate > 0.0 && rate <= 1.0) then invalidArg "ema" (sprintf "ema (MINE's moving-average rate) must lie in (0, 1], got %g." rate)
            Bound(critic (), (fun () -> mineObjective rate), [ "ema", box rate ])
        | "infonce" -> Bound(critic (), (fun () -> boundObjective Bounds.infoNce), [])
        | "nwj" -> Bound(critic (), (fun () -> boundObjective Bounds.nwj), [])
        | "dv" -> Bound(critic (), (fun () -> boundObjective Bounds.dv), [])
        | "smile" ->
            let tau = Estimation.extraFloat options "tau" DefaultTau
            Checks.requirePositive "tau" tau
            Bound(critic (), (fun () -> smileObjective tau), [ "tau", box tau; "train_objective", box "js" ])
        | "doe-gaussian" | "doe-logistic" ->
            let family = if name = "doe-gaussian" then GaussianFamily else LogisticFamily
            match extraString options "scale" DefaultDoeScale with
            | "shared" -> Doe(family, false)
            | "x" -> Doe(family, true)
            | other -> invalidArg "scale" (sprintf "unknown DoE scale '%s'; use shared (one scale per coordinate) or x (scales that depend on x)." other)
        | other -> invalidArg "name" (sprintf "unknown neural estimator '%s'; known: %s." other (String.Join(", ", names)))

    let private run (name: string) (options: EstimatorOptions) (x: float[,]) (y: float[,]) (progress: Action<TrainingProgress>) : EstimatorResult =
        let watch = Stopwatch.StartNew()
        Data.validate MinRows x y
        let r = resolve (if name.StartsWith("doe", StringComparison.Ordinal) then DefaultDoeHidden else DefaultHidden) options
        Checks.requirePositiveInt "BatchSize" r.BatchSize
        Checks.requirePositiveInt "Steps" r.Steps
        if r.BatchSize < 2 then invalidArg "BatchSize" (sprintf "BatchSize must be >= 2 (the bounds need off-diagonal pairs), got %d." r.BatchSize)
        let kind = kindOf name options
        let n = Array2D.length1 x
        let dx, dy = Array2D.length2 x, Array2D.length2 y
        let trainIdx, testIdx = Data.split r.Seed r.TestFraction n
        let fitIdx, valIdx =
            let a, b = Data.split (r.Seed + 7919) r.ValidationFraction trainIdx.Length
            a |> Array.map (fun i -> trainIdx.[i]), b |> Array.map (fun i -> trainIdx.[i])
        if valIdx.Length < 2 || testIdx.Length < 2 || fitIdx.Length < 2 then
            invalidArg "x" (sprintf "only %d rows: the split leaves %d for fitting, %d for validation and %d for testing; each needs at least 2." n fitIdx.Length valIdx.Length testIdx.Length)
        use xAll = Data.toTensor x
        use yAll = Data.toTensor y
        let fit (all: Tensor) =
            use part = Data.rows fitIdx all
            Data.fitStandardizer part
        let sx, sy = fit xAll, fit yAll
        let prepare (s: Data.Standardizer) (idx: int[]) (all: Tensor) =
            use part = Data.rows idx all
            use st = Data.standardize s part
            st.``to``(r.Device)
        use xFit = prepare sx fitIdx xAll
        use yFit = prepare sy fitIdx yAll
        use xVal = prepare sx valIdx xAll
        use yVal = prepare sy valIdx yAll
        use xTest = prepare sx testIdx xAll
        use yTest = prepare sy testIdx yAll
        torch.random.manual_seed (int64 r.Seed) |> ignore
        let model, objective, phase, modelSettings =
            match kind with
            | Bound(critic, mk, extra) ->
                let embed = Estimation.extraInt options "embed" DefaultEmbed
                Checks.requirePositiveInt "embed" embed
                let m: torch.nn.Module<Tensor, Tensor, Tensor> =
                    if critic = "concat" then new ConcatCritic(dx, dy, r.Hidden, r.Layers)
                    else new SeparableCritic(dx, dy, r.Hidden, r.Layers, embed)
                let sets = [ "critic", box critic ] @ (if critic = "separable" then [ "embed", box embed ] else []) @ extra
                m, mk (), "critic", sets
            | Doe(family, xScale) ->
                let scale = if xScale then "x" else "shared"
                let m = new DoeModel(dx, dy, r.Hidden, r.Layers, family, xScale)
                m.``to``(r.Device) |> ignore
                m.InitFrom(xFit, yFit)
                let fam = match family with GaussianFamily -> "gaussian" | LogisticFamily -> "logistic"
                (m :> torch.nn.Module<Tensor, Tensor, Tensor>), doeObjective, "entropy models", [ "family", box fam; "scale", box scale; "autoregressive", box "linear in y_<k"; "init", box "linear-Gaussian moment fit of the fit rows" ]
        use model = model
        model.``to``(r.Device) |> ignore
        let stats = train r phase model objective xFit yFit xVal yVal progress
        let values = batchValues model objective.Value r.BatchSize xTest yTest
        let k = values.Length
        let mean = Array.average values
        if not (Double.IsFinite mean) then
            raise (InvalidOperationException(sprintf "%s: the estimate is not a finite number (%g): training diverged; try a smaller learning rate, fewer steps or another estimator." name mean))
        let se =
            if k < 2 then Double.NaN
            else
                let var = (values |> Array.sumBy (fun v -> (v - mean) * (v - mean))) / float (k - 1)
                sqrt (var / float k)
        watch.Stop()
        let settings =
            [ "estimator", box name
              "seed", box r.Seed
              "device", box r.DeviceName
              "profile", box r.Profile
              "steps", box r.Steps
              "steps_run", box stats.Steps
              "best_step", box stats.KeptStep
              "best_validation_score", box (-stats.ValidationLoss)
              "final_training_loss", box stats.SmoothedLoss
              "batch_size", box r.BatchSize
              "learning_rate", box r.LearningRate
              "optimizer", box "adam"
              "test_fraction", box r.TestFraction
              "validation_fraction", box r.ValidationFraction
              "eval_every", box r.EvalEvery
              "patience", box r.Patience
              "hidden", box r.Hidden
              "layers", box r.Layers
              "activation", box "relu" ]
            @ modelSettings
            @ [ "rows_fit", box fitIdx.Length
                "rows_validation", box valIdx.Length
                "rows_test", box testIdx.Length
                "test_batches", box k
                "test_batch_size", box (min r.BatchSize testIdx.Length)
                "std_error", box "sd of per-test-batch estimates / sqrt(#batches)" ]
        Estimation.result name mean se watch.Elapsed.TotalSeconds [||] (Estimation.settings settings)

    type private NeuralEstimator(name: string, options: EstimatorOptions) =
        interface IMiEstimator with
            member _.Name = name
            member _.Estimate(x, y, progress) = run name options x y progress

    /// The estimator called `name` (one of `names`) with these options. Unknown names and bad
    /// estimator-specific options (Extra: critic, hidden, layers, embed, tau, ema, patience,
    /// eval-every, validation-fraction) raise ArgumentException here, not at Estimate.
    let create (name: string) (options: EstimatorOptions) : IMiEstimator =
        let key = if isNull name then "" else name.Trim().ToLowerInvariant()
        Estimation.requireKnownOptions key [ "critic"; "hidden"; "layers"; "embed"; "tau"; "ema"; "scale"; "patience"; "eval-every"; "validation-fraction" ] options
        kindOf key options |> ignore
        resolve DefaultHidden options |> ignore
        NeuralEstimator(key, options) :> IMiEstimator
