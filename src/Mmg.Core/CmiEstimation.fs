namespace Mmg.Core

open System
open System.Threading.Tasks

/// The interface of conditional-MI estimators: I(X;Y|Z) in nats from x [n; dx], y [n; dy] and
/// z [n; dz]. dz = 0 (an n×0 array) means no conditioning, and every implementation then
/// estimates I(X;Y). Implementations validate with CmiData.validate and throw ArgumentException.
type ICmiEstimator =
    abstract Name: string
    abstract Estimate: x: float[,] * y: float[,] * z: float[,] * progress: Action<TrainingProgress> -> EstimatorResult

/// Validation of (x, y, z) samples.
module CmiData =
    /// Data.validate for (x, y), then z: the same row count, finite values and no constant column,
    /// reported as Z0, Z1, … . z may have no columns (but not be null).
    let validate (minRows: int) (x: float[,]) (y: float[,]) (z: float[,]) =
        Data.validate minRows x y
        if isNull z then nullArg "z"
        let n, nz, dz = Array2D.length1 x, Array2D.length1 z, Array2D.length2 z
        if dz > 0 && nz <> n then invalidArg "z" (sprintf "x has %d rows but z has %d; every sample needs an x, a y and a z." n nz)
        if dz = 0 && nz <> n && nz <> 0 then invalidArg "z" (sprintf "x has %d rows but z has %d; every sample needs an x, a y and a z." n nz)
        for j in 0 .. dz - 1 do
            for i in 0 .. n - 1 do
                let v = z.[i, j]
                if Double.IsNaN v || Double.IsInfinity v then
                    invalidArg "z" (sprintf "Z%d has the non-finite value %g in row %d; remove or impute it." j v i)
            let first = z.[0, j]
            let mutable constant = true
            let mutable i = 1
            while constant && i < n do
                if z.[i, j] <> first then constant <- false
                i <- i + 1
            if constant then
                invalidArg "z" (sprintf "column Z%d is constant (every value is %g); it carries no information, drop it." j first)

    /// An n×0 array: "no conditioning".
    let empty (n: int) : float[,] = Array2D.zeroCreate n 0

/// Local permutations of y among rows with nearby z (Runge 2018): the null distribution of a
/// conditional-independence statistic keeps the dependence of y on z and breaks any dependence
/// on x given z. Shared by the KSG-CMI test (ConditionalKsg) and the MMG-CMI test (CmiModel).
module LocalPermutation =
    /// Indices of the kPerm nearest rows to each row in z (max-norm, the row itself included,
    /// ties broken by row index), row-major [n; kPerm]. Brute force, O(n²·dz), rows in parallel.
    let nearestInZ (kPerm: int) (zs: float[]) (dz: int) (n: int) : int[] =
        if kPerm < 1 || kPerm > n then invalidArg "kPerm" (sprintf "kPerm must lie in 1..%d, got %d." n kPerm)
        let out = Array.zeroCreate<int> (n * kPerm)
        Parallel.For(0, n, fun i ->
            let bd = Array.create kPerm Double.PositiveInfinity
            let bi = Array.create kPerm -1
            for j in 0 .. n - 1 do
                let mutable dmax = 0.0
                for c in 0 .. dz - 1 do
                    let g = abs (zs.[i * dz + c] - zs.[j * dz + c])
                    if g > dmax then dmax <- g
                if dmax < bd.[kPerm - 1] then
                    let mutable p = kPerm - 1
                    while p > 0 && bd.[p - 1] > dmax do
                        bd.[p] <- bd.[p - 1]
                        bi.[p] <- bi.[p - 1]
                        p <- p - 1
                    bd.[p] <- dmax
                    bi.[p] <- j
            Array.blit bi 0 out (i * kPerm) kPerm)
        |> ignore
        out

    /// One local permutation (Runge 2018, Algorithm 1): rows in random order each take a random
    /// one of their kPerm z-neighbours not yet taken (any of them if all are taken). Returns
    /// perm with y_perm.[i] = y.[perm.[i]].
    let draw (rng: Random) (neighbours: int[]) (kPerm: int) (n: int) : int[] =
        let perm = Array.zeroCreate<int> n
        let used = Array.zeroCreate<bool> n
        let order = Array.init n id
        rng.Shuffle order
        let cand = Array.zeroCreate<int> kPerm
        for i in order do
            Array.blit neighbours (i * kPerm) cand 0 kPerm
            rng.Shuffle cand
            let mutable j = -1
            let mutable m = 0
            while j < 0 && m < kPerm do
                if not used.[cand.[m]] then j <- cand.[m]
                m <- m + 1
            if j < 0 then j <- cand.[0]
            used.[j] <- true
            perm.[i] <- j
        perm
