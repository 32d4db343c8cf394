namespace Mmg.Core

open TorchSharp

/// A noise predictor for conditional MI: ε̂(x_a, a, z[, y]). x_a [n; dx] is the noisy x at
/// log-SNR a [n]; z [n; dz] is the conditioning variable, always seen (dz may be 0); y is
/// Some [n; dy] for ε̂(x_a, a, y, z) or None for ε̂(x_a, a, z). Returns [n; dx].
/// (Here z names the conditioning variable Z; the noisy x is x_a, not z as in Denoiser.)
type ConditionalDenoiser = Tensor -> Tensor -> Tensor -> Tensor option -> Tensor

/// Closed forms for a jointly Gaussian (X, Y, Z) whose covariance lists the dimX coordinates of
/// X first, then the dimY of Y, then the rest (Z, possibly none): exact I(X;Y|Z) and the exact
/// optimal denoisers given z and given (y, z). Float64 tensors, as in Gaussian.
module ConditionalGaussian =
    let private f64 = torch.ScalarType.Float64

    let private indexTensor (idx: int[]) = torch.tensor (idx |> Array.map int64)

    /// The covariance of the coordinates `idx` (in that order).
    let select (idx: int[]) (cov: Tensor) : Tensor =
        use i = indexTensor idx
        use rows = cov.``to``(f64).index_select (0L, i)
        rows.index_select (1L, i)

    /// Checks the covariance and the split dimX ≥ 1, dimY ≥ 1, dimZ = d − dimX − dimY ≥ 0.
    let validate (dimX: int) (dimY: int) (cov: Tensor) =
        Checks.requireRank "covariance" 2 cov
        let d = int cov.shape.[0]
        if dimX < 1 || dimY < 1 || dimX + dimY > d then
            invalidArg "dimY" (sprintf "need dimX ≥ 1, dimY ≥ 1 and dimX + dimY ≤ %d (the covariance is %dx%d), got dimX = %d, dimY = %d." d d d dimX dimY)
        // Gaussian.validate checks square, finite, symmetric, positive definite
        Gaussian.validate dimX cov

    /// The dimension of Z.
    let dimZ (dimX: int) (dimY: int) (cov: Tensor) = int cov.shape.[0] - dimX - dimY

    let private ranges dimX dimY (cov: Tensor) =
        let d = int cov.shape.[0]
        [| 0 .. dimX - 1 |], [| dimX .. dimX + dimY - 1 |], [| dimX + dimY .. d - 1 |]

    /// log det of the covariance of `idx`; 0 for no coordinates.
    let private logDetOf (idx: int[]) (cov: Tensor) =
        if idx.Length = 0 then 0.0
        else
            use s = select idx cov
            Gaussian.logDet s

    /// Exact I(X;Y|Z) in nats: ½ log(det Σ_XZ · det Σ_YZ / (det Σ_Z · det Σ_XYZ)). With no Z
    /// coordinates this is Gaussian.mutualInformation.
    let conditionalMutualInformation (dimX: int) (dimY: int) (cov: Tensor) : float =
        validate dimX dimY cov
        let xs, ys, zs = ranges dimX dimY cov
        0.5 * (logDetOf (Array.append xs zs) cov + logDetOf (Array.append ys zs) cov - logDetOf zs cov - logDetOf (Array.concat [ xs; ys; zs ]) cov)

    /// The oracle ε-predictors of X given (x_a, z) and given (x_a, y, z): the Gaussian oracle of
    /// (X, Z) with Z as its "y", and that of (X, [Y, Z]). With no Z, ε̂(x_a, a, z) is the
    /// unconditional E[ε | x_a].
    let oracle (dimX: int) (dimY: int) (cov: Tensor) : ConditionalDenoiser =
        validate dimX dimY cov
        let xs, ys, zs = ranges dimX dimY cov
        let dz = zs.Length
        let givenZ =
            if dz = 0 then
                use s = select (Array.append xs ys) cov
                Gaussian.oracle dimX s
            else
                use s = select (Array.append xs zs) cov
                Gaussian.oracle dimX s
        let givenYZ = Gaussian.oracle dimX cov
        fun xa a z y ->
            Checks.requireRank "z" 2 z
            if int z.shape.[1] <> dz then
                invalidArg "z" (sprintf "z has shape %s but the oracle's Z has %d coordinates." (Checks.shapeText z) dz)
            Checks.requireSameRows "x_a" xa "z" z
            match y with
            | None -> if dz = 0 then givenZ xa a None else givenZ xa a (Some z)
            | Some y ->
                if dz = 0 then givenYZ xa a (Some y)
                else
                    use yz = torch.cat ([| y.``to`` f64; z.``to`` f64 |], 1L)
                    givenYZ xa a (Some yz)

    /// n samples of the zero-mean Gaussian with covariance cov as (x, y, z) (z is [n; 0] when
    /// there is no Z).
    let sample (generator: torch.Generator) (n: int) (dimX: int) (dimY: int) (cov: Tensor) : Tensor * Tensor * Tensor =
        validate dimX dimY cov
        let x, yz = Gaussian.sample generator n dimX cov
        use yz = yz
        let dz = yz.shape.[1] - int64 dimY
        x, yz.narrow(1L, 0L, int64 dimY).contiguous (), yz.narrow(1L, int64 dimY, dz).contiguous ()

    /// Covariance of (A X, B Y, C Z) for square invertible (or any) matrices A [dx; dx],
    /// B [dy; dy], C [dz; dz] (C ignored when there is no Z).
    let mapBlocks (a: Tensor) (b: Tensor) (c: Tensor) (dimX: int) (dimY: int) (cov: Tensor) : Tensor =
        validate dimX dimY cov
        let dz = dimZ dimX dimY cov
        let parts = if dz = 0 then [| a.``to`` f64; b.``to`` f64 |] else [| a.``to`` f64; b.``to`` f64; c.``to`` f64 |]
        use t = torch.block_diag parts
        if t.shape.[0] <> cov.shape.[0] || t.shape.[1] <> cov.shape.[1] then
            invalidArg "a" (sprintf "the block maps make a %s matrix but the covariance is %s." (Checks.shapeText t) (Checks.shapeText cov))
        use tc = t.matmul (cov.``to`` f64)
        tc.matmul (t.t ())

/// The MMSE-gap integrals for conditional MI: I(X;Y|Z) = ½ ∫ da [mmse_ε(x | x_a, z) −
/// mmse_ε(x | x_a, y, z)]. Built on Mmse: the conditional denoiser is turned into a Denoiser
/// for the batch's z, so the draws, batching, both forms and the standard error are Mmse's own.
module ConditionalMmse =
    /// The Denoiser that conditions on this z (rows must match the x passed with it).
    let bind (denoiser: ConditionalDenoiser) (z: Tensor) : Denoiser = fun xa a y -> denoiser xa a z y

    /// Per-row (difference, orthogonal) integrands from one draw of (a, ε) per row (Mmse.integrands).
    let integrands (denoiser: ConditionalDenoiser) (q: LogSnrDensity) (generator: torch.Generator) (x: Tensor) (y: Tensor) (z: Tensor) : Tensor * Tensor =
        Checks.requireRank "z" 2 z
        Checks.requireSameRows "x" x "z" z
        Mmse.integrands (bind denoiser z) q generator x y

    /// Pointwise CMI per row (difference and orthogonal integrands averaged over `repeats` draws),
    /// batched as Mmse.pointwise. With dz = 0 and the same generator state it returns exactly what
    /// Mmse.pointwise returns for the denoiser fun x_a a y → denoiser x_a a z∅ y.
    let pointwise (denoiser: ConditionalDenoiser) (q: LogSnrDensity) (generator: torch.Generator) (repeats: int) (batchSize: int) (x: Tensor) (y: Tensor) (z: Tensor) : Tensor * Tensor =
        LogSnr.validate q
        Checks.requireRank "y" 2 y
        Checks.requireRank "z" 2 z
        Checks.requireSameRows "y" y "z" z
        let dy = y.shape.[1]
        use yz = torch.cat ([| y; z.``to`` y.dtype |], 1L)
        let integrandsOf (xb: Tensor) (yzb: Tensor) =
            use yb = yzb.narrow (1L, 0L, dy)
            use zb = yzb.narrow (1L, dy, yzb.shape.[1] - dy)
            integrands denoiser q generator xb yb zb
        Mmse.pointwiseOf integrandsOf repeats batchSize x yz

    /// The CMI estimate in both forms, with the standard error across rows (as Mmse.estimate).
    let estimate (denoiser: ConditionalDenoiser) (q: LogSnrDensity) (generator: torch.Generator) (repeats: int) (batchSize: int) (x: Tensor) (y: Tensor) (z: Tensor) : GapEstimate =
        let d, o = pointwise denoiser q generator repeats batchSize x y z
        use d = d
        use o = o
        { Difference = Mmse.summarize d; Orthogonal = Mmse.summarize o }

    /// MMSE curves given z and given (y, z) on a log-SNR grid (Mmse.curves).
    let curves (denoiser: ConditionalDenoiser) (generator: torch.Generator) (grid: float[]) (x: Tensor) (y: Tensor) (z: Tensor) =
        Mmse.curves (bind denoiser z) generator grid x y
