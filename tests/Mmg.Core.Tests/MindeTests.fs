module Mmg.Core.Tests.MindeTests

open System
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

// ------------------------------------------------------------ the maths, with oracle denoisers

/// ½∫ [mmse_ε,x + mmse_ε,y − mmse_ε,xy] da from the closed-form ε-MMSE curves.
let private jointGapIntegral (dimX: int) (cov: Tensor) (lo: float) (hi: float) =
    let sxx, sxy, syy = Gaussian.blocks dimX cov
    use sxx = sxx
    use syy = syy
    sxy.Dispose()
    Mmse.integrateGap (fun a ->
        use ux = Gaussian.mmseEpsOf sxx a
        use uy = Gaussian.mmseEpsOf syy a
        use uxy = Gaussian.mmseEpsOf cov a
        use s = ux + uy
        s - uxy) lo hi 4001

[<Fact>]
let ``the joint MMSE gap integrates to the closed-form MI (quadrature, no Monte Carlo)`` () =
    for seed, dx, dy in [ (1, 1, 1); (2, 2, 1); (3, 2, 3) ] do
        use cov = Gaussian.ofArray2D (randomCovariance (Random seed) (dx + dy))
        let truth = Gaussian.mutualInformation dx cov
        let q = jointGapIntegral dx cov -30.0 30.0
        Assert.True(abs (q - truth) < 1e-4, sprintf "dims %d+%d: quadrature %.6f vs closed form %.6f" dx dy q truth)
        // the range minde uses loses almost nothing for these well-conditioned covariances
        let lo, hi = LogSnr.range Minde.density
        let qm = jointGapIntegral dx cov lo hi
        Assert.True(abs (qm - truth) < 2e-3, sprintf "dims %d+%d: on [%g, %g] %.6f vs %.6f" dx dy lo hi qm truth)

[<Fact>]
let ``minde-j integrands with oracle denoisers match the closed-form MI within 4 standard errors`` () =
    oneThread (fun () ->
        // random covariances (low MI) and hand-made ones with 0.41, 0.41 and 1.96 nats
        let cases =
            [ for seed, dx, dy in [ (4, 1, 1); (5, 2, 1); (6, 2, 3) ] -> seed, dx, randomCovariance (Random seed) (dx + dy) ]
            @ [ 14, 1, Array2D.init 2 2 (fun i j -> if i = j then 1.0 else 0.75)
                15, 3, Array2D.init 6 6 (fun i j -> if i = j then 1.0 else 0.5)
                16, 1, Array2D.init 2 2 (fun i j -> if i = j then 1.0 else 0.99) ]
        for seed, dx, c in cases do
            let dy = Array2D.length1 c - dx
            use cov = Gaussian.ofArray2D c
            let truth = Gaussian.mutualInformation dx cov
            use g = generator seed
            let x, y = Gaussian.sample g 4000 dx cov
            use x = x
            use y = y
            let oracle = Minde.gaussianOracle dx cov
            use ge = generator (seed + 100)
            let est = Minde.jointEstimate oracle Minde.density ge 4 1000 x y
            eprintfn "ORACLE minde-j %d+%d: truth %.4f orth %.4f ± %.4f diff %.4f ± %.4f" dx dy truth est.Orthogonal.Mean est.Orthogonal.StdError est.Difference.Mean est.Difference.StdError
            for name, e in [ "orthogonal", est.Orthogonal; "difference", est.Difference ] do
                Assert.True(abs (e.Mean - truth) <= 4.0 * e.StdError,
                            sprintf "%s, dims %d+%d: %.5f ± %.5f vs truth %.5f" name dx dy e.Mean e.StdError truth)
            // the orthogonal form is the lower-variance one with exact denoisers
            Assert.True(est.Orthogonal.StdError < est.Difference.StdError))

[<Fact>]
let ``minde-c's integral (uniform q on [-10, 14]) with the oracle denoiser matches the closed form`` () =
    oneThread (fun () ->
        use cov = Gaussian.ofArray2D (Array2D.init 4 4 (fun i j -> if i = j then 1.0 else 0.6))
        let truth = Gaussian.mutualInformation 2 cov
        use g = generator 21
        let x, y = Gaussian.sample g 4000 2 cov
        use x = x
        use y = y
        use ge = generator 22
        let est = Mmse.estimate (Gaussian.oracle 2 cov) Minde.density ge 4 1000 x y
        eprintfn "ORACLE minde-c 2+2: truth %.4f orth %.4f ± %.4f diff %.4f ± %.4f" truth est.Orthogonal.Mean est.Orthogonal.StdError est.Difference.Mean est.Difference.StdError
        Assert.True(abs (est.Orthogonal.Mean - truth) <= 4.0 * est.Orthogonal.StdError,
                    sprintf "%.5f ± %.5f vs truth %.5f" est.Orthogonal.Mean est.Orthogonal.StdError truth))

[<Fact>]
let ``minde-j orthogonal integrand is non-negative and zero for independent parts`` () =
    oneThread (fun () ->
        // independent X and Y: the joint oracle equals the stacked marginals, so the integrand is 0
        use cov = Gaussian.ofArray2D (Array2D.init 3 3 (fun i j -> if i = j then 1.0 + float i else if i < 2 && j < 2 then 0.4 else 0.0))
        use g = generator 7
        let x, y = Gaussian.sample g 500 2 cov
        use x = x
        use y = y
        use ge = generator 8
        let _, o = Minde.jointIntegrands (Minde.gaussianOracle 2 cov) Minde.density ge x y
        use o = o
        Assert.True(o.abs().max().item<float> () < 1e-9, "independent parts must give a zero orthogonal integrand")
        use dep = Gaussian.ofArray2D (Array2D.init 3 3 (fun i j -> if i = j then 1.0 else 0.5))
        use ge2 = generator 9
        let _, o2 = Minde.jointIntegrands (Minde.gaussianOracle 2 dep) Minde.density ge2 x y
        use o2 = o2
        Assert.True(o2.min().item<float> () >= 0.0)
        Assert.True(o2.max().item<float> () > 0.0))

// ------------------------------------------------------------ trained estimators

let private bivariate = Array2D.init 2 2 (fun i j -> if i = j then 1.0 else 0.75)

let private options (seed: int) (steps: int) =
    { EstimatorOptions.Default with Seed = seed; Steps = steps; Profile = "quick" }

let private optionsWith (seed: int) (steps: int) (extra: (string * string) list) =
    let d = Collections.Generic.Dictionary<string, string>()
    for k, v in extra do d.[k] <- v
    { options seed steps with Extra = d }

/// Accuracy runs: 2000 rows (1600 train, 400 test), the quick profile (batch 128) with
/// Steps + AdaptSteps = 1500 + 750 = 2250 steps and 10 (a, ε) draws per test row, one thread,
/// ≈ 10 s per run.
let private accuracySteps = 1500

/// Tolerance 0.12 nats against 0.4133, and why. The per-run StdError is 0.02–0.03, and the 400
/// test rows alone carry a plug-in MI of 0.40–0.43 (seeds 11–13). On top of that, the orthogonal
/// form of a briefly trained network comes out low: at this budget we measured −0.04…−0.13 for
/// minde-c, −0.02…−0.08 for minde-j over seeds 11–13, and −0.07…−0.09 for MMG's own
/// mmg-orthogonal on the same data (docs/estimators-neural.md), so this is the shared denoiser's
/// short-training bias, not a MINDE defect; twice the steps did not shrink it. At the fixed
/// seed 11 minde-c gave −0.07 and minde-j −0.02. A broken estimator (one that ignores y gives 0;
/// mixing up the parts' log-SNRs or the weights 1/q moves the answer by far more) fails.
let private tolerance = 0.12

let estimatorNames : obj[] seq = Minde.names |> Seq.map (fun n -> [| box n |])

[<Theory>]
[<MemberData(nameof estimatorNames)>]
let ``minde recovers the MI of a bivariate normal with rho 0.75 (0.4133 nats)`` (name: string) =
    let x, y, truth = gaussianData 11 2000 1 bivariate
    let r = oneThread (fun () -> (Registry.create name (optionsWith 11 accuracySteps [ "repeats", "10" ])).Estimate(x, y, null))
    let diff = r.Variants |> Array.find (fun v -> v.Name = name + "-difference")
    eprintfn "ACCURACY %s: orthogonal %.4f ± %.4f, difference %.4f ± %.4f, truth %.4f, diff %+.4f, %.1fs"
        name r.Estimate r.StdError diff.Estimate diff.StdError truth (r.Estimate - truth) r.Seconds
    Assert.Equal(name, r.Estimator)
    Assert.True(Double.IsFinite r.Estimate && Double.IsFinite r.StdError && r.StdError > 0.0)
    Assert.True(abs (r.Estimate - truth) <= tolerance,
                sprintf "%s: %.4f ± %.4f vs truth %.4f (|diff| %.4f > %.2f)" name r.Estimate r.StdError truth (abs (r.Estimate - truth)) tolerance)

let private small = lazy (let x, y, _ = gaussianData 5 600 1 bivariate in x, y)

[<Theory>]
[<MemberData(nameof estimatorNames)>]
let ``seeded runs repeat exactly and another seed differs`` (name: string) =
    let x, y = small.Force()
    let run seed = oneThread (fun () -> (Registry.create name (options seed 40)).Estimate(x, y, null))
    let a, b, c = run 3, run 3, run 4
    Assert.True((a.Estimate = b.Estimate), sprintf "%s: %.9f vs %.9f with the same seed" name a.Estimate b.Estimate)
    Assert.True((a.Variants.[1].Estimate = b.Variants.[1].Estimate))
    Assert.True((a.Estimate <> c.Estimate), sprintf "%s: seeds 3 and 4 both gave %.9f" name a.Estimate)

[<Theory>]
[<MemberData(nameof estimatorNames)>]
let ``results carry both variants, the budget and the settings used`` (name: string) =
    let x, y = small.Force()
    let r = oneThread (fun () -> (Registry.create name (options 1 40)).Estimate(x, y, null))
    Assert.Equal<string[]>([| name; name + "-difference" |], r.Variants |> Array.map (fun v -> v.Name))
    Assert.Equal(r.Estimate, r.Variants.[0].Estimate)
    // Steps 40 in the quick profile (600 + 300) scales the adaptive phase to 20: 60 steps in all
    Assert.Equal("60", r.Settings.["steps"])
    Assert.Equal("uniform(-10, 14)", r.Settings.["q"])
    for key in [ "profile"; "batch_size"; "learning_rate"; "width"; "ema_decay"; "repeats"; "test_fraction"; "seed"; "device"; "train_rows"; "test_rows"; "parameters" ] do
        Assert.True(r.Settings.ContainsKey key, sprintf "setting '%s' missing" key)
    Assert.Equal("480", r.Settings.["train_rows"])
    Assert.True(r.Seconds > 0.0)
    Assert.True(r.Curves.IsNone)

[<Theory>]
[<MemberData(nameof estimatorNames)>]
let ``bad input raises ArgumentException`` (name: string) =
    let x, y = small.Force()
    let est = Registry.create name (options 1 10)
    let withNaN = Array2D.copy x
    withNaN.[3, 0] <- nan
    Assert.ThrowsAny<ArgumentException>(fun () -> est.Estimate(withNaN, y, null) |> ignore) |> ignore
    Assert.ThrowsAny<ArgumentException>(fun () -> est.Estimate(x, y.[0 .. 299, *], null) |> ignore) |> ignore
    let constant = Array2D.create 600 1 2.0
    Assert.ThrowsAny<ArgumentException>(fun () -> est.Estimate(x, constant, null) |> ignore) |> ignore
    // fewer training rows than one batch
    Assert.ThrowsAny<ArgumentException>(fun () -> est.Estimate(x.[0 .. 99, *], y.[0 .. 99, *], null) |> ignore) |> ignore

[<Fact>]
let ``no tensor leaks: the live count after a run does not grow with the number of steps`` () =
    let x, y = small.Force()
    let live (name: string) (steps: int) =
        DisposeScopeManager.Statistics.Reset()
        oneThread (fun () -> (Registry.create name (options 2 steps)).Estimate(x, y, null)) |> ignore
        DisposeScopeManager.Statistics.ThreadTotalLiveCount
    for name in Minde.names do
        let short, long = live name 10, live name 80
        Assert.True((short = long), sprintf "%s: %d live tensors after 15 steps, %d after 120" name short long)
        Assert.True((long = 0L), sprintf "%s: %d tensors left alive after a run" name long)
