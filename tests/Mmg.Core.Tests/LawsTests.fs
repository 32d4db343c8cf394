/// The MI laws checked through the estimator (issue 10, part 5): data processing, invariance under
/// invertible linear maps of X or of Y, and additivity over independent pairs, each through
/// `Mmse.estimate` with the Gaussian oracle denoisers, with the paper's default q and with a q
/// fitted to the MMSE gap the way the adaptive estimator fits it, up to a high-MI generator.
///
/// Tolerances. With oracle denoisers the estimate is an unbiased Monte Carlo estimate of the gap
/// integral over q's support, T(q) = ½∫_lo^hi gap(a) da, which falls short of the MI by the
/// truncation loss L(q) = I − T(q) ≥ 0; both are computed here by quadrature of the closed-form
/// gap. Every comparison of two estimates allows 4 combined standard errors (each reported by
/// the estimator itself, the two estimates use independent draws: a 1-in-16 000 miss per
/// comparison) plus the difference of their truncation losses. The losses themselves are checked
/// to be small (< 0.02 nats for the default q on the generated cases, < 1% of the MI for the
/// fitted q), so the laws cannot hide behind them.
module Mmg.Core.Tests.LawsTests

open System
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

let f64 = torch.ScalarType.Float64

let rows = 4000
let repeats = 2

/// Both forms of the oracle estimate for (dimX, cov) on fresh samples (seeded).
let oracleEstimate (q: LogSnrDensity) (dimX: int) (cov: torch.Tensor) (seed: int) =
    use g = generator seed
    let x, y = Gaussian.sample g rows dimX cov
    use x = x
    use y = y
    Mmse.estimate (Gaussian.oracle dimX cov) q g repeats 2048 x y

/// The truncation loss L(q) = I − ½∫_lo^hi gap(a) da (quadrature of the closed-form gap).
let truncationLoss (q: LogSnrDensity) (dimX: int) (cov: torch.Tensor) =
    let lo, hi = LogSnr.range q
    let mi = Gaussian.mutualInformation dimX cov
    mi - Mmse.integrateGap (Gaussian.gapEps dimX cov) lo hi 40001

/// The q the adaptive estimator would fit (MmgEstimator.AdaptDensity, with the oracle in place of
/// the preliminary network): orthogonal-gap curve of 2000 rows on 121 points of the current
/// range, the range widened by 10 at an end where the gap is still above 10% of its peak (up to
/// 4 times), then LogSnr.fitToGap with minimum scale 0.5 and clip 4.
let fittedQ (dimX: int) (cov: torch.Tensor) (seed: int) =
    use g = generator seed
    let x, y = Gaussian.sample g 2000 dimX cov
    use x = x
    use y = y
    let den = Gaussian.oracle dimX cov
    let rec fit (lo: float) (hi: float) (tries: int) =
        let grid = Array.init 121 (fun i -> lo + (hi - lo) * float i / 120.0)
        let grid, _, _, _, og = Mmse.curves den g grid x y
        let peak = Array.max og
        let top = peak > 0.0 && og.[og.Length - 1] > 0.1 * peak
        let bottom = peak > 0.0 && og.[0] > 0.1 * peak
        if (top || bottom) && tries > 0 then fit (if bottom then lo - 10.0 else lo) (if top then hi + 10.0 else hi) (tries - 1)
        else LogSnr.fitToGap grid og 0.5 4.0 LogSnr.paperDefault
    let lo, hi = LogSnr.range LogSnr.paperDefault
    fit lo hi 4

/// Which q a law runs with.
type QChoice =
    | PaperDefault
    | Fitted
    override this.ToString() = match this with PaperDefault -> "paper default q" | Fitted -> "fitted q"

let qFor (choice: QChoice) dimX cov seed =
    match choice with
    | PaperDefault -> LogSnr.paperDefault
    | Fitted -> fittedQ dimX cov seed

/// The largest truncation loss we accept for a q: 0.02 nats for the default q on the generated
/// (moderate-MI) cases, 1% of the MI for a fitted q.
let lossBound (choice: QChoice) (mi: float) =
    match choice with
    | PaperDefault -> 0.02
    | Fitted -> 0.01 * max mi 1.0

/// One estimate with everything a comparison needs: (form, estimate) pairs, the truncation loss,
/// the MI, and a check that the loss is within its bound.
type Measured =
    { Difference: McEstimate
      Orthogonal: McEstimate
      Loss: float
      Mi: float
      Label: string }

let measure (choice: QChoice) (label: string) (dimX: int) (cov: torch.Tensor) (seed: int) =
    let q = qFor choice dimX cov seed
    let e = oracleEstimate q dimX cov (seed + 7)
    { Difference = e.Difference; Orthogonal = e.Orthogonal; Loss = truncationLoss q dimX cov
      Mi = Gaussian.mutualInformation dimX cov; Label = sprintf "%s (%O %A)" label choice q }

let lossOk (choice: QChoice) (m: Measured) =
    m.Loss <= lossBound choice m.Mi |@ sprintf "%s: truncation loss %.4f exceeds %.4f (MI %.3f)" m.Label m.Loss (lossBound choice m.Mi) m.Mi

/// sum of (sign, measured) estimates must equal 0 up to 4 combined SEs plus the truncation losses,
/// in both forms. Used for invariance (a − b) and additivity (joint − one − two).
let balances (terms: (float * Measured) list) =
    let check (form: string) (pick: Measured -> McEstimate) =
        let total = terms |> List.sumBy (fun (s, m) -> s * (pick m).Mean)
        let lossTotal = terms |> List.sumBy (fun (s, m) -> s * m.Loss)
        let se = Math.Sqrt(terms |> List.sumBy (fun (_, m) -> (pick m).StdError ** 2.0))
        // the estimates target MI − loss, so Σ s·est ≈ Σ s·MI − Σ s·loss = −Σ s·loss
        abs (total + lossTotal) <= 4.0 * se
        |@ sprintf "%s form: Σ ±estimate = %.5f, expected %.5f from truncation, 4 SE = %.5f; %s" form total (-lossTotal) (4.0 * se)
            (String.Join("; ", terms |> List.map (fun (s, m) -> sprintf "%+g·[%s: %.5f ± %.5f, MI %.5f, loss %.5f]" s m.Label (pick m).Mean (pick m).StdError m.Mi m.Loss)))
    check "difference" (fun m -> m.Difference) .&. check "orthogonal" (fun m -> m.Orthogonal)

/// A well-conditioned invertible d×d map, not symmetric in general: a random covariance
/// (eigenvalues in [0.25, 2.5]) times a random orthogonal matrix, so its singular values lie in
/// [0.25, 2.5].
let invertibleMap (rng: Random) (d: int) =
    use a = Gaussian.ofArray2D (randomCovariance rng d)
    use r = Gaussian.ofArray2D (randomMatrix rng d d)
    let struct (qm, rm) = torch.linalg.qr r
    use qm = qm
    use rm = rm
    a.matmul qm

let qChoices = [ PaperDefault; Fitted ]

// ------------------------------------------------------------------------------------------------
// Moderate MI: the generated cases (dims 1–6, eigenvalues in [0.25, 2.5])

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 5, Replay = "(2026120101,1)")>]
let ``invariance through the estimator: MX and MY give the estimate of X and Y`` (c: GaussianCase) =
    let rng = Random(c.Seed + 11)
    use cov = covTensor c
    use mx = invertibleMap rng c.DimX
    use my = invertibleMap rng c.DimY
    use cx = Gaussian.mapX mx c.DimX cov
    use zero = torch.zeros([| int64 c.DimY; int64 c.DimY |], dtype = f64)
    use cy = Gaussian.mapY my zero c.DimX cov
    qChoices
    |> List.map (fun choice ->
        let m0 = measure choice "(X,Y)" c.DimX cov c.Seed
        let m1 = measure choice "(MX,Y)" c.DimX cx (c.Seed + 1)
        let m2 = measure choice "(X,MY)" c.DimX cy (c.Seed + 2)
        balances [ 1.0, m1; -1.0, m0 ] .&. balances [ 1.0, m2; -1.0, m0 ]
        .&. lossOk choice m0 .&. lossOk choice m1 .&. lossOk choice m2)
    |> List.reduce (.&.)

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 5, Replay = "(2026120102,1)")>]
let ``data processing through the estimator: I(X; AY + noise) is at most I(X; Y)`` (c: GaussianCase) (k: PositiveInt) =
    let rng = Random(c.Seed + 12)
    let rowsA = 1 + k.Get % 4
    use a = Gaussian.ofArray2D (randomMatrix rng rowsA c.DimY)
    use noise = torch.eye(int64 rowsA, dtype = f64) * (0.1 + rng.NextDouble())
    use cov = covTensor c
    use processed = Gaussian.mapY a noise c.DimX cov
    qChoices
    |> List.map (fun choice ->
        let before = measure choice "(X,Y)" c.DimX cov c.Seed
        let after = measure choice "(X,AY+N)" c.DimX processed (c.Seed + 1)
        let ok (form: string) (pick: Measured -> McEstimate) =
            let se = Math.Sqrt((pick before).StdError ** 2.0 + (pick after).StdError ** 2.0)
            // after − before ≤ 0 for the MI; the estimates target MI − loss
            (pick after).Mean - (pick before).Mean <= 4.0 * se + before.Loss - after.Loss
            |@ sprintf "%s form, %O: after %.5f ± %.5f (MI %.5f) vs before %.5f ± %.5f (MI %.5f)" form choice (pick after).Mean (pick after).StdError after.Mi (pick before).Mean (pick before).StdError before.Mi
        ok "difference" (fun m -> m.Difference) .&. ok "orthogonal" (fun m -> m.Orthogonal)
        .&. lossOk choice before .&. lossOk choice after)
    |> List.reduce (.&.)

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 5, Replay = "(2026120103,1)"); Trait("Category", "Long")>]
let ``additivity through the estimator: independent pairs add their estimates`` (c1: GaussianCase) (c2: GaussianCase) =
    use a = covTensor c1
    use b = covTensor c2
    let dimX, joint = Gaussian.independentPair c1.DimX a c2.DimX b
    use joint = joint
    qChoices
    |> List.map (fun choice ->
        let m1 = measure choice "pair 1" c1.DimX a c1.Seed
        let m2 = measure choice "pair 2" c2.DimX b c2.Seed
        let mj = measure choice "both" dimX joint (c1.Seed + c2.Seed)
        balances [ 1.0, mj; -1.0, m1; -1.0, m2 ] .&. lossOk choice m1 .&. lossOk choice m2 .&. lossOk choice mj)
    |> List.reduce (.&.)

// ------------------------------------------------------------------------------------------------
// High MI: a 1×1 pair with 8 nats, where the paper's q (support [−10, 14]) cuts the gap off

/// The bivariate normal with I = mi nats: ρ² = 1 − e^{−2·mi}.
let bivariateWithMi (mi: float) =
    let rho = Math.Sqrt(1.0 - Math.Exp(-2.0 * mi))
    Gaussian.ofArray2D (array2D [ [ 1.0; rho ]; [ rho; 1.0 ] ])

[<Fact>]
let ``at 8 nats the paper's q truncates the gap and the estimate falls short, the fitted q does not`` () =
    // The gap of a pair with I nats lives on about a ∈ [−5, 2I + 5] = [−5, 21]; the paper's q stops
    // at 14. The estimate with it is unbiased for the truncated integral and so 1.9 nats short;
    // the fitted q widens its support and recovers 8 nats within 4 SE + its (< 1%) loss.
    use cov = bivariateWithMi 8.0
    let def = measure PaperDefault "8 nats" 1 cov 81
    let fit = measure Fitted "8 nats" 1 cov 81
    Assert.InRange(def.Loss, 1.0, 3.0)
    Assert.True(abs (def.Difference.Mean - (8.0 - def.Loss)) <= 4.0 * def.Difference.StdError, sprintf "default q: %A, loss %.4f" def.Difference def.Loss)
    Assert.True(def.Difference.Mean < 8.0 - 0.5, sprintf "default q: %A should fall short of 8" def.Difference)
    Assert.True(fit.Loss <= 0.08, sprintf "fitted q %s loses %.4f" fit.Label fit.Loss)
    for e in [ fit.Difference; fit.Orthogonal ] do
        Assert.True(abs (e.Mean - 8.0) <= 4.0 * e.StdError + fit.Loss, sprintf "fitted q %s: %A vs 8" fit.Label e)

[<Property(MaxTest = 1, Replay = "(2026120104,1)")>]
let ``the laws hold through the estimator at high MI with the fitted q`` () =
    use high = bivariateWithMi 8.0
    use low = bivariateWithMi 0.5
    // invariance: x ↦ 3x and y ↦ −0.5y
    use three = Gaussian.ofArray2D (array2D [ [ 3.0 ] ])
    use half = Gaussian.ofArray2D (array2D [ [ -0.5 ] ])
    use zero = torch.zeros([| 1L; 1L |], dtype = f64)
    use cx = Gaussian.mapX three 1 high
    use cy = Gaussian.mapY half zero 1 high
    // data processing: y ↦ y + N(0, 0.01) (to about 2.3 nats)
    use one = Gaussian.ofArray2D (array2D [ [ 1.0 ] ])
    use small = Gaussian.ofArray2D (array2D [ [ 0.01 ] ])
    use noisy = Gaussian.mapY one small 1 high
    // additivity: 8 + 0.5 nats
    let dimX, joint = Gaussian.independentPair 1 high 1 low
    use joint = joint
    let m0 = measure Fitted "8 nats" 1 high 90
    let mx = measure Fitted "3x" 1 cx 91
    let my = measure Fitted "-y/2" 1 cy 92
    let mn = measure Fitted "y+noise" 1 noisy 93
    let ml = measure Fitted "0.5 nats" 1 low 94
    let mj = measure Fitted "8 + 0.5 nats" dimX joint 95
    balances [ 1.0, mx; -1.0, m0 ] .&. balances [ 1.0, my; -1.0, m0 ] .&. balances [ 1.0, mj; -1.0, m0; -1.0, ml ]
    .&. (mn.Difference.Mean < m0.Difference.Mean |@ sprintf "processing: %A vs %A" mn.Difference m0.Difference)
    .&. List.reduce (.&.) [ for m in [ m0; mx; my; mn; ml; mj ] -> lossOk Fitted m ]
