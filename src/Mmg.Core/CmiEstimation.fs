namespace Mmg.Core

open System

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
