/// The one place where test inputs are generated.
module Mmg.Core.Tests.Generators

open System
open FsCheck
open FsCheck.FSharp
open TorchSharp
open global.Xunit

// No two tests of this assembly run at once (xunit 2's CollectionBehavior(DisableTestParallelization = true)).
[<assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)>]
do ()

/// A jointly Gaussian (X, Y) case: dims 1..6 each, a well-conditioned covariance, a seed for
/// the Monte Carlo parts.
type GaussianCase =
    { DimX: int
      DimY: int
      Cov: float[,]
      Seed: int }
    override this.ToString() = sprintf "GaussianCase(dimX=%d, dimY=%d, seed=%d)" this.DimX this.DimY this.Seed

/// A d×d covariance Q·diag(λ)·Qᵀ with Q a random orthogonal matrix (Gram–Schmidt on a Gaussian
/// matrix) and eigenvalues λ uniform in [0.25, 2.5]. So the condition number is at most 10,
/// every Cholesky/solve is well-conditioned, all conditional variances are ≥ 0.25, and the MMSE
/// gap lives within a ∈ [−8, 8].
let randomCovariance (rng: Random) (d: int) : float[,] =
    let gauss () =
        let u1, u2 = 1.0 - rng.NextDouble(), rng.NextDouble()
        Math.Sqrt(-2.0 * Math.Log u1) * Math.Cos(2.0 * Math.PI * u2)
    let q = Array.init d (fun _ -> Array.init d (fun _ -> gauss ()))
    for i in 0 .. d - 1 do
        for j in 0 .. i - 1 do
            let dot = Array.fold2 (fun s a b -> s + a * b) 0.0 q.[i] q.[j]
            q.[i] <- Array.map2 (fun a b -> a - dot * b) q.[i] q.[j]
        let norm = Math.Sqrt(Array.sumBy (fun a -> a * a) q.[i])
        q.[i] <- Array.map (fun a -> a / norm) q.[i]
    let lambda = Array.init d (fun _ -> 0.25 + 2.25 * rng.NextDouble())
    Array2D.init d d (fun r c -> Seq.sum (seq { for k in 0 .. d - 1 -> q.[k].[r] * lambda.[k] * q.[k].[c] }))

/// A random dx×dy matrix with N(0,1) entries.
let randomMatrix (rng: Random) (rows: int) (cols: int) : float[,] =
    Array2D.init rows cols (fun _ _ ->
        let u1, u2 = 1.0 - rng.NextDouble(), rng.NextDouble()
        Math.Sqrt(-2.0 * Math.Log u1) * Math.Cos(2.0 * Math.PI * u2))

let caseGen : Gen<GaussianCase> =
    gen {
        let! dx = Gen.choose (1, 6)
        let! dy = Gen.choose (1, 6)
        let! seed = Gen.choose (0, Int32.MaxValue - 1)
        let cov = randomCovariance (Random seed) (dx + dy)
        return { DimX = dx; DimY = dy; Cov = cov; Seed = seed }
    }

/// Log-SNR densities with loc in [−5, 5], scale in [0.5, 4], clip in [0.5, 6]; uniform ranges
/// of width 1..30; defensive mixtures of a logistic (clip up to 10) with a share in [0.05, 0.5].
let densityGen : Gen<Mmg.Core.LogSnrDensity> =
    let f lo hi = Gen.choose (0, 1000000) |> Gen.map (fun k -> lo + (hi - lo) * float k / 1e6)
    Gen.oneof
        [ gen {
            let! m = f -5.0 5.0
            let! s = f 0.5 4.0
            let! c = f 0.5 6.0
            return Mmg.Core.Logistic(m, s, c) }
          gen {
            let! lo = f -20.0 5.0
            let! w = f 1.0 30.0
            return Mmg.Core.Uniform(lo, lo + w) }
          gen {
            let! m = f -5.0 5.0
            let! s = f 0.5 4.0
            let! c = f 0.5 10.0
            let! share = f 0.05 0.5
            return Mmg.Core.Defensive(Mmg.Core.Logistic(m, s, c), share) } ]

type Arbs =
    static member GaussianCase() : Arbitrary<GaussianCase> = Arb.fromGen caseGen
    static member Density() : Arbitrary<Mmg.Core.LogSnrDensity> = Arb.fromGen densityGen

/// The case's covariance as a float64 tensor.
let covTensor (c: GaussianCase) = Mmg.Core.Gaussian.ofArray2D c.Cov

/// A seeded torch generator.
let generator (seed: int) = new torch.Generator(uint64 seed)

/// Labels a property with the numbers behind it (FsCheck 3 has Prop.label but no operator).
let (|@) (p: 'T) (message: string) = Prop.label message p

/// A float64 vector [n] filled with v.
let constant (n: int) (v: float) =
    use o = torch.ones([| int64 n |], dtype = torch.ScalarType.Float64)
    o * v

/// |estimate − truth| ≤ k·se, with a message that shows the numbers.
let withinStdErrors (k: float) (truth: float) (est: Mmg.Core.McEstimate) =
    let ok = abs (est.Mean - truth) <= k * est.StdError
    ok |@ sprintf "estimate %.5f ± %.5f (n=%d), truth %.5f, |diff| = %.2f SE" est.Mean est.StdError est.Count truth (abs (est.Mean - truth) / est.StdError)

/// n samples of a zero-mean Gaussian with covariance cov, split into x [n; dimX] and y, with the
/// exact I(X;Y).
let gaussianData (seed: int) (n: int) (dimX: int) (cov: float[,]) =
    use c = Mmg.Core.Gaussian.ofArray2D cov
    use g = generator seed
    let x, y = Mmg.Core.Gaussian.sample g n dimX c
    use x = x
    use y = y
    Mmg.Core.Data.toArray2D x, Mmg.Core.Data.toArray2D y, Mmg.Core.Gaussian.mutualInformation dimX c

/// Runs f with torch on one intra-op thread, then restores the thread count. On the shared 2-core
/// test machine two OpenMP threads per step were measured 10–20× slower than one (they spin while
/// waiting; same results), and these tests train only tiny models. No two tests run at once
/// (the assembly attribute above), so this is safe.
let oneThread (f: unit -> 'T) : 'T =
    let before = torch.get_num_threads ()
    torch.set_num_threads 1
    try f () finally torch.set_num_threads before
