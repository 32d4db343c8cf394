namespace Mmg.Core

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.Threading.Tasks

/// Neighbour counts behind one Frenzel–Pompe estimate, by row: Epsilon.[i] is the max-norm
/// distance from row i to its k-th nearest other row in the joint (x, y, z) space; CountXZ,
/// CountYZ and CountZ are the numbers of other rows strictly closer than Epsilon.[i] in (x, z),
/// (y, z) and z. With no z, CountZ is n − 1 (every other row).
type CmiNeighbourCounts =
    { K: int
      Epsilon: float[]
      CountXZ: int[]
      CountYZ: int[]
      CountZ: int[] }

/// The result of a conditional-independence test of H0: I(X;Y|Z) = 0.
type CiTestResult =
    { /// The statistic on the data (the CMI estimate, nats).
      Statistic: float
      /// (1 + #{permuted statistics ≥ observed}) / (1 + permutations).
      PValue: float
      Permutations: int
      /// The permuted statistics, in the order drawn.
      Null: float[] }

/// The conditional KSG estimator of Frenzel and Pompe (2007) on the exact max-norm k-d tree, the
/// Gaussian partial-covariance baseline, and the local-permutation conditional-independence test
/// of Runge (2018). Plain double arrays, no tensors.
module ConditionalKsg =
    /// Rows of several row-major blocks side by side.
    let private concat (n: int) (blocks: (float[] * int) list) =
        let d = blocks |> List.sumBy snd
        let out = Array.zeroCreate<float> (n * d)
        for i in 0 .. n - 1 do
            let mutable off = 0
            for b, w in blocks do
                Array.blit b (i * w) out (i * d + off) w
                off <- off + w
        out

    /// Counts on prepared (standardised, row-major) data.
    let countsFlat (n: int) (xs: float[]) (dx: int) (ys: float[]) (dy: int) (zs: float[]) (dz: int) (k: int) : CmiNeighbourCounts =
        if k < 1 || k >= n then
            invalidArg "k" (sprintf "k = %d must be at least 1 and less than the number of rows n = %d." k n)
        let d = dx + dy + dz
        let joint = concat n [ xs, dx; ys, dy; zs, dz ]
        let xz = concat n [ xs, dx; zs, dz ]
        let yz = concat n [ ys, dy; zs, dz ]
        let tj = MaxNormKdTree(joint, d)
        let txz = MaxNormKdTree(xz, dx + dz)
        let tyz = MaxNormKdTree(yz, dy + dz)
        let tz = if dz > 0 then Some(MaxNormKdTree(zs, dz)) else None
        let eps = Array.zeroCreate<float> n
        let cxz = Array.zeroCreate<int> n
        let cyz = Array.zeroCreate<int> n
        let cz = Array.zeroCreate<int> n
        let chunk = max 64 (n / (8 * max 1 Environment.ProcessorCount))
        Parallel.ForEach(
            Partitioner.Create(0, n, chunk),
            fun (lo: int, hi: int) ->
                let best = Array.zeroCreate<float> k
                for i in lo .. hi - 1 do
                    tj.Nearest(joint, i * d, i, best, k) |> ignore
                    let e = best.[k - 1]
                    eps.[i] <- e
                    // CountWithin includes row i itself whenever e > 0 (its distance 0 < e)
                    let self = if e > 0.0 then 1 else 0
                    cxz.[i] <- txz.CountWithin(xz, i * (dx + dz), e) - self
                    cyz.[i] <- tyz.CountWithin(yz, i * (dy + dz), e) - self
                    cz.[i] <-
                        match tz with
                        | Some t -> t.CountWithin(zs, i * dz, e) - self
                        | None -> n - 1
        )
        |> ignore
        { K = k; Epsilon = eps; CountXZ = cxz; CountYZ = cyz; CountZ = cz }

    /// Frenzel–Pompe neighbour counts of (x, y, z) after per-column standardisation.
    let neighbourCounts (k: int) (x: float[,]) (y: float[,]) (z: float[,]) : CmiNeighbourCounts =
        CmiData.validate 2 x y z
        let n = Array2D.length1 x
        countsFlat n (Classical.standardizeColumns x) (Array2D.length2 x) (Classical.standardizeColumns y) (Array2D.length2 y)
            (Classical.standardizeColumns z) (Array2D.length2 z) k

    /// Per-row terms ψ(k) − ψ(n_xz + 1) − ψ(n_yz + 1) + ψ(n_z + 1); their mean is the estimate.
    /// With no z (n_z = n − 1) these are exactly the KSG-1 terms.
    let terms (c: CmiNeighbourCounts) : float[] =
        let n = c.Epsilon.Length
        let psi = Array.init (n + 1) (fun m -> if m = 0 then nan else Special.digamma (float m))
        let pk = Special.digamma (float c.K)
        // (ψ(k) + ψ(n_z + 1)) first: with no z this is KSG-1's ψ(k) + ψ(N), in the same order
        Array.init n (fun i -> pk + psi.[c.CountZ.[i] + 1] - psi.[c.CountXZ.[i] + 1] - psi.[c.CountYZ.[i] + 1])

    let private mean (v: float[]) = Array.average v


    /// The Frenzel–Pompe estimate of I(X;Y|Z) with k neighbours (standardised columns).
    let estimate (k: int) (x: float[,]) (y: float[,]) (z: float[,]) : float =
        mean (terms (neighbourCounts k x y z))

    /// The local-permutation test of H0: I(X;Y|Z) = 0 with the Frenzel–Pompe statistic: y is
    /// permuted only among rows with nearby z (kPerm nearest in z), which keeps the dependence of
    /// y on z and breaks any dependence on x given z. With no z this is the ordinary permutation
    /// test. Deterministic in the seed.
    let localPermutationTest (k: int) (kPerm: int) (permutations: int) (seed: int) (x: float[,]) (y: float[,]) (z: float[,]) : CiTestResult =
        CmiData.validate 2 x y z
        Checks.requirePositiveInt "permutations" permutations
        let n = Array2D.length1 x
        let dx, dy, dz = Array2D.length2 x, Array2D.length2 y, Array2D.length2 z
        let xs, ys, zs = Classical.standardizeColumns x, Classical.standardizeColumns y, Classical.standardizeColumns z
        let stat = mean (terms (countsFlat n xs dx ys dy zs dz k))
        let rng = Random seed
        let neighbours = if dz > 0 then LocalPermutation.nearestInZ kPerm zs dz n else [||]
        let permuted = Array.zeroCreate<float> (n * dy)
        let nulls =
            Array.init permutations (fun _ ->
                let perm =
                    if dz > 0 then LocalPermutation.draw rng neighbours kPerm n
                    else
                        let p = Array.init n id
                        rng.Shuffle p
                        p
                for i in 0 .. n - 1 do
                    Array.blit ys (perm.[i] * dy) permuted (i * dy) dy
                mean (terms (countsFlat n xs dx permuted dy zs dz k)))
        let exceed = nulls |> Array.filter (fun v -> v >= stat) |> Array.length
        { Statistic = stat; PValue = float (1 + exceed) / float (1 + permutations); Permutations = permutations; Null = nulls }

    /// The Frenzel–Pompe estimator (option "k", default 5). StdError is the standard deviation of
    /// the per-row terms over √n (approximate: the terms share neighbours). Deterministic.
    type KsgCmiEstimator(options: EstimatorOptions) =
        do Estimation.requireKnownOptions "ksg-cmi" [ "k" ] options
        let k = Estimation.extraInt options "k" Classical.DefaultK
        do if k < 1 then invalidArg "k" (sprintf "option 'k' must be at least 1, got %d." k)

        interface ICmiEstimator with
            member _.Name = "ksg-cmi"

            member _.Estimate(x, y, z, _progress) =
                let watch = Stopwatch.StartNew()
                let c = neighbourCounts k x y z
                let m, se = Data.meanAndStdError (terms c)
                Estimation.result "ksg-cmi" m se watch.Elapsed.TotalSeconds [||] <|
                    Estimation.settings
                        [ "method", box "Frenzel-Pompe: psi(k) - <psi(n_xz+1) + psi(n_yz+1) - psi(n_z+1)>, max-norm, standardised columns, exact k-d trees"
                          "k", box k
                          "n", box (Array2D.length1 x)
                          "dim_x", box (Array2D.length2 x)
                          "dim_y", box (Array2D.length2 y)
                          "dim_z", box (Array2D.length2 z) ]

    /// The Gaussian plug-in ½ log(det R_xz det R_yz / (det R_z det R_xyz)) of the sample correlation
    /// matrix, and Σ r_i² (the squared partial canonical correlations) for its standard error.
    let gaussianCmi (x: float[,]) (y: float[,]) (z: float[,]) : float * float =
        let n = Array2D.length1 x
        let dx, dy, dz = Array2D.length2 x, Array2D.length2 y, Array2D.length2 z
        let d = dx + dy + dz
        let all = concat n [ Classical.standardizeColumns x, dx; Classical.standardizeColumns y, dy; Classical.standardizeColumns z, dz ]
        let r = Array2D.init d d (fun i j ->
            let mutable s = 0.0
            for row in 0 .. n - 1 do
                s <- s + all.[row * d + i] * all.[row * d + j]
            s / float (n - 1))
        use rt = Gaussian.ofArray2D r
        let cmi = ConditionalGaussian.conditionalMutualInformation dx dy rt
        // Σ r_i² = tr(S_xx|z⁻¹ S_xy|z S_yy|z⁻¹ S_yx|z) from the Schur complement given z
        let sumR2 =
            use s = if dz = 0 then rt.clone () else Gaussian.conditionalCovariance (dx + dy) rt
            let sxx, sxy, syy = Gaussian.blocks dx s
            use sxx = sxx
            use sxy = sxy
            use syy = syy
            use a = TorchSharp.torch.linalg.solve (sxx, sxy)
            use b = TorchSharp.torch.linalg.solve (syy, sxy.t ())
            use p = a.matmul b
            use tr = p.trace ()
            tr.item<float> ()
        cmi, sumR2

    /// The Gaussian/CCA baseline for CMI: the plug-in of gaussianCmi, exact for jointly Gaussian
    /// data and blind to non-linear dependence. StdError by the delta method with n − dz degrees
    /// of freedom, as the CCA estimator's.
    type GaussianCmiEstimator(options: EstimatorOptions) =
        do Estimation.requireKnownOptions "gaussian-cmi" [] options

        interface ICmiEstimator with
            member _.Name = "gaussian-cmi"

            member _.Estimate(x, y, z, _progress) =
                let watch = Stopwatch.StartNew()
                CmiData.validate 2 x y z
                let n = Array2D.length1 x
                let dx, dy, dz = Array2D.length2 x, Array2D.length2 y, Array2D.length2 z
                if n <= dx + dy + dz + 1 then
                    invalidArg "x" (sprintf "only %d rows for %d + %d + %d columns; the Gaussian CMI needs at least %d rows." n dx dy dz (dx + dy + dz + 2))
                let cmi, sumR2 = gaussianCmi x y z
                let m = float (n - dz)
                Estimation.result "gaussian-cmi" cmi (Math.Sqrt(sumR2 / m + float (dx * dy) / (2.0 * m * m))) watch.Elapsed.TotalSeconds [||] <|
                    Estimation.settings
                        [ "method", box "Gaussian plug-in: 1/2 log(det R_xz det R_yz / (det R_z det R_xyz)) of the sample correlation matrix"
                          "std_error", box "delta method: sqrt(sum r_i^2 / m + dx*dy / (2 m^2)), m = n - dz, r_i the partial canonical correlations"
                          "sum_squared_partial_canonical_correlations", box sumR2
                          "n", box n
                          "dim_x", box dx
                          "dim_y", box dy
                          "dim_z", box dz ]
