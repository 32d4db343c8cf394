/// Conditional MI I(X;Y|Z) for Gaussians: the closed form, and the laws through the MMSE-gap
/// estimator with the oracle denoisers conditioned on z (issue 14).
module Mmg.Core.Tests.ConditionalGaussianTests

open System
open FsCheck.Xunit
open FsCheck
open FsCheck.FSharp
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

let f64 = torch.ScalarType.Float64

/// A jointly Gaussian (X, Y, Z) with dimX, dimY in 1..3 and dimZ in 0..3 (0: no conditioning).
type CmiCase =
    { DimX: int
      DimY: int
      DimZ: int
      Cov: float[,]
      Seed: int }
    override this.ToString() = sprintf "CmiCase(dimX=%d, dimY=%d, dimZ=%d, seed=%d)" this.DimX this.DimY this.DimZ this.Seed

let cmiCaseGen : Gen<CmiCase> =
    gen {
        let! dx = Gen.choose (1, 3)
        let! dy = Gen.choose (1, 3)
        let! dz = Gen.choose (0, 3)
        let! seed = Gen.choose (0, Int32.MaxValue - 1)
        return { DimX = dx; DimY = dy; DimZ = dz; Cov = randomCovariance (Random seed) (dx + dy + dz); Seed = seed }
    }

type CmiArbs =
    static member CmiCase() : Arbitrary<CmiCase> = Arb.fromGen cmiCaseGen

/// The support [−16, 16] covers the gap of every generated case (eigenvalues in [0.25, 2.5]
/// before the maps, Generators); as in MmseTests.
let wide = LogSnr.logistic 0.0 2.0 8.0

let indices (c: CmiCase) =
    [| 0 .. c.DimX - 1 |], [| c.DimX .. c.DimX + c.DimY - 1 |], [| c.DimX + c.DimY .. c.DimX + c.DimY + c.DimZ - 1 |]

/// The oracle CMI estimate on n fresh samples drawn with `seed` (2 repeats per row).
let cmiEstimate (dimX: int) (dimY: int) (cov: torch.Tensor) (seed: int) (n: int) =
    use g = generator seed
    let x, y, z = ConditionalGaussian.sample g n dimX dimY cov
    use x = x
    use y = y
    use z = z
    ConditionalMmse.estimate (ConditionalGaussian.oracle dimX dimY cov) wide g 2 2048 x y z

/// The oracle MI estimate I(X; rest) of a covariance with X first.
let miEstimate (dimX: int) (cov: torch.Tensor) (seed: int) (n: int) =
    use g = generator seed
    let x, y = Gaussian.sample g n dimX cov
    use x = x
    use y = y
    Mmse.estimate (Gaussian.oracle dimX cov) wide g 2 2048 x y

[<Fact>]
let ``collider: X, Y independent and Z = X + Y + N(0, 1) give I(X;Y|Z) = -1/2 log(3/4) and I(X;Y) = 0`` () =
    // given Z: var(X|Z) = 1 − 1/3, cov(X,Y|Z) = −1/3, so the partial correlation is −1/2
    use cov = Gaussian.ofArray2D (array2D [ [ 1.0; 0.0; 1.0 ]; [ 0.0; 1.0; 1.0 ]; [ 1.0; 1.0; 3.0 ] ])
    Assert.Equal(-0.5 * log 0.75, ConditionalGaussian.conditionalMutualInformation 1 1 cov, 12)
    use xy = ConditionalGaussian.select [| 0; 1 |] cov
    Assert.Equal(0.0, Gaussian.mutualInformation 1 xy, 12)

[<Property(Arbitrary = [| typeof<CmiArbs> |], MaxTest = 40, Replay = "(2026112930,1)")>]
let ``Z empty: the closed form reduces to the MI formula`` (c: CmiCase) =
    let xs, ys, _ = indices c
    use cov = Gaussian.ofArray2D c.Cov
    use xy = ConditionalGaussian.select (Array.append xs ys) cov
    let cmi = ConditionalGaussian.conditionalMutualInformation c.DimX c.DimY xy
    let mi = Gaussian.mutualInformation c.DimX xy
    abs (cmi - mi) <= 1e-10 |@ sprintf "CMI with no Z %.12f vs MI %.12f" cmi mi

[<Property(Arbitrary = [| typeof<CmiArbs> |], MaxTest = 6, Replay = "(2026112931,1)")>]
let ``Z empty: the oracle CMI estimate repeats the MI estimate number for number`` (c: CmiCase) =
    let xs, ys, _ = indices c
    use cov0 = Gaussian.ofArray2D c.Cov
    use cov = ConditionalGaussian.select (Array.append xs ys) cov0
    let a = cmiEstimate c.DimX c.DimY cov c.Seed 500
    let b = miEstimate c.DimX cov c.Seed 500
    (a = b) |@ sprintf "CMI path %A vs MI path %A" a b

[<Property(Arbitrary = [| typeof<CmiArbs> |], MaxTest = 8, Replay = "(2026112932,1)")>]
let ``oracle CMI estimates in both forms are within 4 standard errors of the closed form`` (c: CmiCase) =
    // Each estimate is a mean over 3000 independent rows: 4 s.e. leaves a false-alarm chance of
    // about 6e-5 per form and case.
    use cov = Gaussian.ofArray2D c.Cov
    let truth = ConditionalGaussian.conditionalMutualInformation c.DimX c.DimY cov
    let est = cmiEstimate c.DimX c.DimY cov c.Seed 3000
    withinStdErrors 4.0 truth est.Difference .&. withinStdErrors 4.0 truth est.Orthogonal

[<Property(Arbitrary = [| typeof<CmiArbs> |], MaxTest = 8, Replay = "(2026112933,1)")>]
let ``chain rule through the estimator: I(X;(Y,Z)) = I(X;Z) + I(X;Y|Z)`` (c: CmiCase) =
    // Three estimates from independent draws (seeds differ): the discrepancy has s.e.
    // sqrt(se1² + se2² + se3²); 4 of those leave a false alarm chance of about 6e-5 per form.
    let xs, _, zs = indices c
    use cov = Gaussian.ofArray2D c.Cov
    let whole = miEstimate c.DimX cov c.Seed 3000
    let xz =
        if c.DimZ = 0 then None
        else
            use s = ConditionalGaussian.select (Array.append xs zs) cov
            Some(miEstimate c.DimX s (c.Seed + 1) 3000)
    let cond = cmiEstimate c.DimX c.DimY cov (c.Seed + 2) 3000
    let check (pick: GapEstimate -> McEstimate) (form: string) =
        let w, cc = pick whole, pick cond
        let m, s = match xz with Some e -> (pick e).Mean, (pick e).StdError | None -> 0.0, 0.0
        let gap = w.Mean - m - cc.Mean
        let se = sqrt (w.StdError ** 2.0 + s ** 2.0 + cc.StdError ** 2.0)
        abs gap <= 4.0 * se |@ sprintf "%s: I(X;YZ) %.4f vs I(X;Z) %.4f + I(X;Y|Z) %.4f, gap %.4f, se %.4f" form w.Mean m cc.Mean gap se
    check (fun e -> e.Difference) "difference" .&. check (fun e -> e.Orthogonal) "orthogonal"

[<Property(Arbitrary = [| typeof<CmiArbs> |], MaxTest = 8, Replay = "(2026112934,1)")>]
let ``non-negativity: the difference-form oracle CMI estimate is not below 0 by more than 4 standard errors`` (c: CmiCase) =
    use cov = Gaussian.ofArray2D c.Cov
    let est = cmiEstimate c.DimX c.DimY cov c.Seed 2000
    est.Difference.Mean >= -4.0 * est.Difference.StdError |@ sprintf "difference form %.5f ± %.5f" est.Difference.Mean est.Difference.StdError

/// A lower-triangular matrix with a positive diagonal (the Cholesky factor of a random
/// covariance): invertible, condition number ≤ √10.
let invertible (rng: Random) (d: int) = Gaussian.ofArray2D (Tasks.cholesky (randomCovariance rng d))

[<Property(Arbitrary = [| typeof<CmiArbs> |], MaxTest = 8, Replay = "(2026112935,1)")>]
let ``invariance: invertible maps of X, Y and Z leave the closed form and the oracle estimate at the original CMI`` (c: CmiCase) =
    let rng = Random(c.Seed + 17)
    use cov = Gaussian.ofArray2D c.Cov
    use a = invertible rng c.DimX
    use b = invertible rng c.DimY
    use cz = invertible rng (max 1 c.DimZ)
    use mapped = ConditionalGaussian.mapBlocks a b cz c.DimX c.DimY cov
    let truth = ConditionalGaussian.conditionalMutualInformation c.DimX c.DimY cov
    let closed = ConditionalGaussian.conditionalMutualInformation c.DimX c.DimY mapped
    let est = cmiEstimate c.DimX c.DimY mapped c.Seed 3000
    (abs (closed - truth) <= 1e-9 |@ sprintf "closed form %.12f after the maps vs %.12f before" closed truth)
    .&. withinStdErrors 4.0 truth est.Difference
    .&. withinStdErrors 4.0 truth est.Orthogonal

[<Property(Arbitrary = [| typeof<CmiArbs> |], MaxTest = 8, Replay = "(2026112936,1)")>]
let ``conditional independence: X = A Z + noise, Y = B Z + noise give CMI 0 in closed form and through the estimator`` (c: CmiCase) =
    // Given z the oracle's two predictions coincide up to round-off, so both integrands vanish
    // on every row: the estimates must be 0 to 1e-6 (not merely within their error).
    let rng = Random c.Seed
    let dz = max 1 c.DimZ
    let sz = randomCovariance rng dz
    let am, bm = randomMatrix rng c.DimX dz, randomMatrix rng c.DimY dz
    let nx, ny = randomCovariance rng c.DimX, randomCovariance rng c.DimY
    use szT = Gaussian.ofArray2D sz
    use aT = Gaussian.ofArray2D am
    use bT = Gaussian.ofArray2D bm
    use nxT = Gaussian.ofArray2D nx
    use nyT = Gaussian.ofArray2D ny
    use loading = torch.cat ([| aT; bT; torch.eye(int64 dz, dtype = f64) |], 0L)
    use common = loading.matmul(szT).matmul (loading.t ())
    use zeros = torch.zeros([| int64 dz; int64 dz |], dtype = f64)
    use noise = torch.block_diag (nxT, nyT, zeros)
    use cov = common + noise
    let closed = ConditionalGaussian.conditionalMutualInformation c.DimX c.DimY cov
    let est = cmiEstimate c.DimX c.DimY cov c.Seed 1000
    use xy = ConditionalGaussian.select [| 0 .. c.DimX + c.DimY - 1 |] cov
    let mi = Gaussian.mutualInformation c.DimX xy
    (abs closed <= 1e-9 |@ sprintf "closed form %g" closed)
    .&. (abs est.Difference.Mean <= 1e-6 |@ sprintf "difference form %g" est.Difference.Mean)
    .&. (abs est.Orthogonal.Mean <= 1e-6 |@ sprintf "orthogonal form %g" est.Orthogonal.Mean)
    .&. (mi > 1e-3 |@ sprintf "the confounded pair should have MI > 0, got %g" mi)

[<Fact>]
let ``the oracle rejects a z with the wrong number of columns`` () =
    use cov = Gaussian.ofArray2D (randomCovariance (Random 3) 5)
    let den = ConditionalGaussian.oracle 1 2 cov
    use xa = torch.zeros([| 4L; 1L |], dtype = f64)
    use a = torch.zeros([| 4L |], dtype = f64)
    use z = torch.zeros([| 4L; 3L |], dtype = f64)
    Assert.Throws<ArgumentException>(fun () -> den xa a z None |> ignore) |> ignore
