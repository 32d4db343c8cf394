namespace Mmg.Core

open System
open TorchSharp

/// A Monte Carlo mean with its standard error.
type McEstimate =
    { Mean: float
      StdError: float
      /// Number of independent terms averaged (test rows).
      Count: int }

/// Both forms of the MMSE-gap MI estimate from the same draws.
type GapEstimate =
    { Difference: McEstimate
      Orthogonal: McEstimate }

/// The MMSE-gap integrands, their importance-weighted integral, and quadrature of MMSE curves.
/// Everything is in nats: I(X;Y) = ½ ∫ da [mmse_ε,x(a) − mmse_ε,x|y(a)].
module Mmse =
    let private rowSquaredNorm (t: Tensor) : Tensor =
        use sq = t * t
        sq.sum 1L

    /// Difference-form integrand per row: ½ (‖ε − ε̂‖² − ‖ε − ε̂_y‖²) / q(a).
    /// Both terms must come from the same (a, ε, z) (common random numbers).
    let differenceIntegrand (q: LogSnrDensity) (a: Tensor) (eps: Tensor) (epsHat: Tensor) (epsHatY: Tensor) : Tensor =
        Checks.requireSameShape "eps" eps "epsHat" epsHat
        Checks.requireSameShape "eps" eps "epsHatY" epsHatY
        use du = Ops.sub eps epsHat
        use dc = Ops.sub eps epsHatY
        use eu = rowSquaredNorm du
        use ec = rowSquaredNorm dc
        use w = LogSnr.weights q a
        use gap = Ops.sub eu ec
        use g = gap * w.``to`` gap.dtype
        Ops.mulScalar g 0.5

    /// Orthogonal-form integrand per row: ½ ‖ε̂_y − ε̂‖² / q(a); ≥ 0 by construction.
    let orthogonalIntegrand (q: LogSnrDensity) (a: Tensor) (epsHat: Tensor) (epsHatY: Tensor) : Tensor =
        Checks.requireSameShape "epsHat" epsHat "epsHatY" epsHatY
        use d = Ops.sub epsHatY epsHat
        use n = rowSquaredNorm d
        use w = LogSnr.weights q a
        use g = n * w.``to`` n.dtype
        Ops.mulScalar g 0.5

    /// One draw per row of (a ~ q, ε ~ N(0, I)), the channel output z, and both integrands
    /// (difference, orthogonal) computed from the same draw. Returns ([n], [n]).
    let integrands (denoiser: Denoiser) (q: LogSnrDensity) (generator: torch.Generator) (x: Tensor) (y: Tensor) : Tensor * Tensor =
        Checks.requireRank "x" 2 x
        Checks.requireRank "y" 2 y
        Checks.requireSameRows "x" x "y" y
        let n = int x.shape.[0]
        use a = LogSnr.sample generator x.dtype n q
        // Drawn on the CPU (where the generator lives) and moved: libtorch rejects a CPU
        // generator for a CUDA tensor. On the CPU the move is a no-op, so draws are unchanged.
        use eps0 = torch.randn(x.shape, dtype = x.dtype, generator = generator)
        use eps = eps0.``to`` x.device
        use aD = a.``to`` x.device
        use z = Channel.noisy aD eps x
        use epsHat = denoiser z aD None
        use epsHatY = denoiser z aD (Some y)
        differenceIntegrand q aD eps epsHat epsHatY, orthogonalIntegrand q aD epsHat epsHatY

    /// The batching core of `pointwise`: per-row (difference, orthogonal) integrands from any function
    /// of a batch (xb, yb) that draws its own (a, ε), averaged over `repeats` calls and batched.
    let pointwiseOf (integrandsOf: Tensor -> Tensor -> Tensor * Tensor) (repeats: int) (batchSize: int) (x: Tensor) (y: Tensor) : Tensor * Tensor =
        Checks.requirePositiveInt "repeats" repeats
        Checks.requirePositiveInt "batchSize" batchSize
        Checks.requireRank "x" 2 x
        Checks.requireRank "y" 2 y
        Checks.requireSameRows "x" x "y" y
        let n = x.shape.[0]
        let diffs = ResizeArray<Tensor>()
        let orths = ResizeArray<Tensor>()
        try
            let mutable start = 0L
            while start < n do
                let len = min (int64 batchSize) (n - start)
                use scope = torch.NewDisposeScope()
                let xb = x.narrow (0L, start, len)
                let yb = y.narrow (0L, start, len)
                let mutable sd = torch.zeros([| len |], dtype = torch.ScalarType.Float64)
                let mutable so = torch.zeros([| len |], dtype = torch.ScalarType.Float64)
                for _ in 1 .. repeats do
                    let d, o = integrandsOf xb yb
                    sd <- sd + d.``to``(torch.ScalarType.Float64).cpu ()
                    so <- so + o.``to``(torch.ScalarType.Float64).cpu ()
                diffs.Add((sd / float repeats).MoveToOuterDisposeScope())
                orths.Add((so / float repeats).MoveToOuterDisposeScope())
                start <- start + len
            torch.cat (diffs, 0L), torch.cat (orths, 0L)
        finally
            for t in diffs do t.Dispose()
            for t in orths do t.Dispose()

    /// Pointwise MI (paper eq. 7): for each row (x_i, y_i), both integrands averaged over
    /// `repeats` independent draws of (a, ε). Rows are processed in batches of `batchSize`, each
    /// in its own dispose scope. Returns float64 CPU tensors ([n] difference, [n] orthogonal).
    let pointwise (denoiser: Denoiser) (q: LogSnrDensity) (generator: torch.Generator) (repeats: int) (batchSize: int) (x: Tensor) (y: Tensor) : Tensor * Tensor =
        LogSnr.validate q
        pointwiseOf (integrands denoiser q generator) repeats batchSize x y

    /// Mean and standard error (sample sd / √n) of independent per-row values.
    let summarize (values: Tensor) : McEstimate =
        Checks.requireRank "values" 1 values
        let n = int values.shape.[0]
        if n < 2 then invalidArg "values" (sprintf "a standard error needs at least 2 values, got shape %s." (Checks.shapeText values))
        use v = values.``to`` torch.ScalarType.Float64
        use m = v.mean ()
        use s = v.std ()
        { Mean = m.item<float> (); StdError = s.item<float> () / Math.Sqrt(float n); Count = n }

    /// The MI estimate in both forms: the mean over rows of the pointwise MI, with the standard
    /// error across rows (repeats are averaged within a row first, so their correlation is
    /// accounted for).
    let estimate (denoiser: Denoiser) (q: LogSnrDensity) (generator: torch.Generator) (repeats: int) (batchSize: int) (x: Tensor) (y: Tensor) : GapEstimate =
        let d, o = pointwise denoiser q generator repeats batchSize x y
        use d = d
        use o = o
        { Difference = summarize d; Orthogonal = summarize o }

    /// Above this many standard errors of the rows' mean (difference − orthogonal) the model is
    /// taken to be shrunk and the debiased form is rescaled (see `debiased`).
    [<Literal>]
    let ShrinkageSignificance = 2.0

    /// The largest rescaling `debiased` applies: 2 means the model recovered half of the gap.
    [<Literal>]
    let MaxShrinkageScale = 2.0

    /// The debiased form from per-row difference values d and orthogonal values o of one model on
    /// held-out rows (the same draws). With D = ε̂_y − ε̂ and R = ε − ε̂ (importance weights and ½
    /// left out), d = 2⟨R, D⟩ − ‖D‖², o = ‖D‖², and their mean b = ⟨R, D⟩.
    ///
    /// Two ways a learned conditional prediction ε̂_y misses the true one, with truth g:
    /// - an error δ independent of the rows: d ≈ g − E‖δ‖², o ≈ g + E‖δ‖², b ≈ g (b cancels it);
    /// - shrinkage towards ε̂ by a share s (an under-trained conditional path, as at high MI):
    ///   d ≈ (1 − s²)g, o ≈ (1 − s)²g, b ≈ (1 − s)g: every form is low, and d > o.
    /// Rescaling D by λ gives difference 2λb − λ²o, largest at λ* = b/o, where difference and
    /// orthogonal forms agree (the orthogonal identity holds for the rescaled model) and the value
    /// is b²/o. With both errors present, b ≤ g and b²/o ≤ g; so when the rows show
    /// d > o (mean of d − o at least `ShrinkageSignificance` standard errors above 0) and there is
    /// information to rescale (b at least as many standard errors above 0: on independent data o
    /// is tiny and b/o pure noise), the estimate is b²/o with λ capped at `MaxShrinkageScale` (its
    /// per-row values 2λb − λ²o carry the standard error, by the delta method); otherwise it is b.
    /// λ is fitted on the same rows, one parameter over hundreds of rows. Returns the estimate and
    /// λ (1 when not rescaled).
    let debiased (difference: Tensor) (orthogonal: Tensor) : McEstimate * float =
        Checks.requireRank "difference" 1 difference
        Checks.requireSameShape "difference" difference "orthogonal" orthogonal
        use d = difference.``to`` torch.ScalarType.Float64
        use o = orthogonal.``to`` torch.ScalarType.Float64
        use b = (d + o) * 0.5
        use gap = d - o
        let g = summarize gap
        let plain = summarize b
        let oMean = o.mean().item<float> ()
        let significant (e: McEstimate) = e.Mean > 0.0 && e.Mean >= ShrinkageSignificance * e.StdError
        if significant g && significant plain && oMean > 0.0 then
            let lambda = min (plain.Mean / oMean) MaxShrinkageScale
            use rows = b * (2.0 * lambda) - o * (lambda * lambda)
            summarize rows, lambda
        else plain, 1.0

    /// The interval for an estimate of one model that accounts, besides the Monte Carlo error
    /// (±`halfWidth`, e.g. 1.96 s.e.), for the model error that the model's two forms reveal:
    /// [min(e, d, o) − halfWidth, max(e, d, o) + halfWidth], with e the estimate and d, o the
    /// model's difference and orthogonal estimates on the same rows.
    ///
    /// Why the two forms bracket the truth g (see `debiased`): an error of the conditional
    /// prediction that is independent of the rows gives d ≈ g − E‖δ‖² and o ≈ g + E‖δ‖², so
    /// g lies between them; a shrunk model gives d, o and b all low, and then e = b²/o (the
    /// rescaled estimate) is the bracket's top. What both forms share (a log-SNR range that
    /// misses part of the gap, an error of the *unconditional* prediction, a seed's luck) is
    /// not in it.
    let formsInterval (estimate: float) (halfWidth: float) (difference: float) (orthogonal: float) : float * float =
        if Double.IsNaN halfWidth || halfWidth < 0.0 then
            invalidArg "halfWidth" (sprintf "halfWidth must be a non-negative number, got %g." halfWidth)
        let lo = List.min [ estimate; difference; orthogonal ]
        let hi = List.max [ estimate; difference; orthogonal ]
        lo - halfWidth, hi + halfWidth

    /// Trapezoid rule for values [m] on an increasing grid [m] (same length).
    let trapezoid (grid: Tensor) (values: Tensor) : float =
        Checks.requireRank "grid" 1 grid
        Checks.requireSameShape "grid" grid "values" values
        if grid.shape.[0] < 2L then invalidArg "grid" (sprintf "the trapezoid rule needs at least 2 points, got shape %s." (Checks.shapeText grid))
        use t = torch.trapezoid (values.``to`` torch.ScalarType.Float64, grid.``to`` torch.ScalarType.Float64)
        t.item<float> ()

    /// ½ ∫ gap(a) da over [lo, hi] by the trapezoid rule on `points` equally spaced log-SNRs:
    /// the MI implied by an ε-space MMSE gap curve.
    let integrateGap (gap: Tensor -> Tensor) (lo: float) (hi: float) (points: int) : float =
        if not (lo < hi) then invalidArg "hi" (sprintf "the integration range needs lo < hi, got [%g, %g]." lo hi)
        if points < 2 then invalidArg "points" (sprintf "need at least 2 points, got %d." points)
        use grid = torch.linspace(lo, hi, int64 points, dtype = torch.ScalarType.Float64)
        use g = gap grid
        0.5 * trapezoid grid g

    /// ε-space MMSE curves of a denoiser on a log-SNR grid, each point averaged over the rows of
    /// (x, y) with one ε draw per row (common to all three curves): E‖ε − ε̂‖², E‖ε − ε̂_y‖², their
    /// difference, and the orthogonal gap E‖ε̂_y − ε̂‖². Returns float arrays (grid, uncond, cond,
    /// gap, orthogonal gap).
    let curves (denoiser: Denoiser) (generator: torch.Generator) (grid: float[]) (x: Tensor) (y: Tensor) =
        Checks.requireRank "x" 2 x
        Checks.requireRank "y" 2 y
        Checks.requireSameRows "x" x "y" y
        if grid.Length < 2 then invalidArg "grid" (sprintf "a curve needs at least 2 grid points, got %d." grid.Length)
        let n = x.shape.[0]
        let u, c, o = Array.zeroCreate grid.Length, Array.zeroCreate grid.Length, Array.zeroCreate grid.Length
        grid
        |> Array.iteri (fun i a0 ->
            use scope = torch.NewDisposeScope()
            let eps = torch.randn(x.shape, dtype = x.dtype, generator = generator).``to`` x.device
            let a = (torch.ones([| n |], dtype = x.dtype) * a0).``to`` x.device
            let z = Channel.noisy a eps x
            let eu = denoiser z a None
            let ec = denoiser z a (Some y)
            u.[i] <- (eps - eu).square().sum(1L).mean().``to``(torch.ScalarType.Float64).item<float> ()
            c.[i] <- (eps - ec).square().sum(1L).mean().``to``(torch.ScalarType.Float64).item<float> ()
            o.[i] <- (ec - eu).square().sum(1L).mean().``to``(torch.ScalarType.Float64).item<float> ())
        grid, u, c, Array.map2 (-) u c, o
