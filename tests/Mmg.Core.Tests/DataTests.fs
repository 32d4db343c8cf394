/// The data preparation of the core (Data): the normal-scores maps that can precede the
/// standardisation (option `normal-scores`), checked as maps and through the estimator.
module Mmg.Core.Tests.DataTests

open System
open System.IO
open FsCheck
open FsCheck.FSharp
open FsCheck.Xunit
open TorchSharp
open global.Xunit
open Mmg.Core

/// A column with heavy tails (a Cauchy-like ratio), ties (some values rounded) and a spread set
/// by `scale`, `n` rows, seeded.
let private column (seed: int) (n: int) (scale: float) =
    let rng = Random seed
    Array.init n (fun i ->
        let v = scale * tan (Math.PI * (rng.NextDouble() - 0.5))
        if i % 7 = 0 then Math.Round(v, 1) else v)

type ColumnCase = { Seed: int; Rows: int; Knots: int; Scale: float }

type ColumnArbs =
    static member Case() =
        gen {
            let! seed = Gen.choose (1, 100000)
            let! rows = Gen.choose (2, 400)
            let! knots = Gen.choose (2, 300)
            let! e = Gen.choose (-6, 6)
            return { Seed = seed; Rows = rows; Knots = knots; Scale = 10.0 ** float e }
        }
        |> Arb.fromGen

[<Property(Arbitrary = [| typeof<ColumnArbs> |], MaxTest = 60, Replay = "(2026113001,1)")>]
let ``a normal-scores map is finite and strictly increasing on training values, between them and far beyond them`` (c: ColumnCase) =
    let v = column c.Seed c.Rows c.Scale
    let m = Data.fitMarginalScores c.Knots v
    let distinct = v |> Array.distinct |> Array.sort
    // probes: the training values, midpoints between neighbours, and points far outside
    let probes =
        Array.concat
            [ distinct
              distinct |> Array.pairwise |> Array.map (fun (a, b) -> 0.5 * (a + b))
              [| distinct.[0] - 1e6 * c.Scale; distinct.[0] - c.Scale; distinct.[distinct.Length - 1] + c.Scale; distinct.[distinct.Length - 1] + 1e6 * c.Scale |] ]
        |> Array.distinct
        |> Array.sort
    let z = probes |> Array.map (Data.marginalScore m)
    if distinct.Length < 2 then
        // one distinct value: no map (the identity)
        Assert.Empty(m.Knots)
        Assert.Equal<float[]>(probes, z)
    else
        Assert.True(Array.forall Double.IsFinite z, "a score is not finite")
        for (p, a), (q, b) in Array.pairwise (Array.zip probes z) do
            Assert.True(b > a, sprintf "not increasing: %g → %g, %g → %g" p a q b)
        // far outliers stay moderate: at most the end score + log(1 + slope · distance)
        Assert.True(abs z.[0] < 60.0 && abs z.[z.Length - 1] < 60.0, sprintf "far outliers map to %g and %g" z.[0] z.[z.Length - 1])

[<Fact>]
let ``with a knot at every distinct value the training scores do not depend on any increasing warp of the column`` () =
    // The scores are Φ⁻¹ of mid-ranks, and an increasing map keeps the ranks: so exp, a cube and
    // an affine map of the column give bit-for-bit the same training scores.
    let v = column 3 500 1.0
    let scores (w: float -> float) =
        let c = v |> Array.map w
        let m = Data.fitMarginalScores 1000 c
        c |> Array.map (Data.marginalScore m)
    let plain = scores id
    Assert.Equal<float[]>(plain, scores (fun t -> Math.Exp(t / 20.0)))
    Assert.Equal<float[]>(plain, scores (fun t -> t * t * t + t))
    Assert.Equal<float[]>(plain, scores (fun t -> 3.0 * t - 7.0))
    // and they are standard normal scores: mean 0 (ties aside) and sd near 1, where the raw
    // Cauchy column's sd is dominated by its largest values
    let mean = Array.average plain
    let sd = sqrt (Array.averageBy (fun s -> (s - mean) ** 2.0) plain)
    Assert.True(abs mean < 0.01, sprintf "mean of the scores %g" mean)
    Assert.True(sd > 0.97 && sd < 1.01, sprintf "sd of the scores %g" sd)

[<Fact>]
let ``the standardiser applies the maps before the mean and std, on new rows too`` () =
    let x = Array2D.init 2000 2 (fun i j -> let c = column (11 + j) 2000 (if j = 0 then 1.0 else 1e4) in c.[i])
    use t = Data.toTensor x
    let s = Data.fitStandardizerWith 64 t
    Assert.Equal(2, s.Marginals.Length)
    use st = Data.standardize s t
    let a = Data.toArray2D st
    for j in 0 .. 1 do
        let col = Array.init 2000 (fun i -> a.[i, j])
        let mean = Array.average col
        let sd = sqrt (Array.averageBy (fun v -> (v - mean) ** 2.0) col)
        // the standardisation is fit on these rows: mean 0 and sd 1 to float32 precision
        Assert.True(abs mean < 1e-5 && abs (sd - 1.0) < 1e-3, sprintf "column %d: mean %g sd %g" j mean sd)
        // the bulk is spread out (a raw standardised Cauchy column has most values near 0)
        let inner = col |> Array.filter (fun v -> abs v < 0.5) |> Array.length
        Assert.True(inner < 900, sprintf "column %d: %d of 2000 values within ±0.5" j inner)
    // a row the standardiser never saw goes through the same maps
    use fresh = Data.toTensor (array2D [ [ 1e9; -1e9 ] ])
    use fs = Data.standardize s fresh
    let f = Data.toArray2D fs
    Assert.True(Double.IsFinite f.[0, 0] && Double.IsFinite f.[0, 1] && f.[0, 0] > 3.0 && f.[0, 1] < -3.0, sprintf "fresh row → %g, %g" f.[0, 0] f.[0, 1])
    Assert.Throws<ArgumentException>(fun () -> Data.fitMarginalScores 1 [| 1.0; 2.0 |] |> ignore) |> ignore

[<Fact; Trait("Category", "Long")>]
let ``through the estimator: warping X and Y by increasing maps leaves the normal-scores estimate where the Gaussian's is`` () =
    // A 0.413-nat Gaussian pair, and the same rows with X → X³ + X and Y → exp(2Y): the MI is the
    // same. With normal-scores maps (a knot per distinct value) the training rows reach the network
    // identically, and the held-out rows through maps of the same ranks, so the two estimates
    // must agree closely — 0.03 nats allows the held-out rows' interpolation between neighbouring
    // knots (measured: 0.4216 and 0.4216) — and lie within 0.08 of the truth 0.4133 (quick
    // profile, 300 + 150 steps on 1 600 training rows). Without the maps the same budget reads
    // 0.6385 on the warped pair (0.4228 on the Gaussian one): asserted off by more than 0.1, so
    // the data do need the maps.
    let x, y, truth = MmgEstimatorTests.gaussianSamples 4 2000 MmgEstimatorTests.bivariate 1
    let wx = Array2D.map (fun v -> v * v * v + v) x
    let wy = Array2D.map (fun v -> Math.Exp(2.0 * v)) y
    let run (extra: (string * string) list) a b =
        let o = { MmgEstimatorTests.options 7 300 with Extra = readOnlyDict (("validation", "0") :: extra) }
        (MmgEstimator("mmg-debiased", o) :> IMiEstimator).Estimate(a, b, null).Estimate
    let ns = [ "normal-scores", "4000" ]
    let plain, warped = run ns x y, run ns wx wy
    Assert.True(abs (plain - warped) < 0.03, sprintf "normal scores: %.4f on the Gaussian pair, %.4f warped" plain warped)
    Assert.True(abs (warped - truth) < 0.08, sprintf "normal scores on the warped pair: %.4f, truth %.4f" warped truth)
    let raw = run [ "normal-scores", "off" ] wx wy
    Assert.True(abs (raw - truth) > 0.1, sprintf "without the maps the warped pair reads %.4f (truth %.4f)" raw truth)

/// 8 000 seeded draws from one of the marginals `auto` must tell apart.
let private marginal (kind: string) (seed: int) =
    let rng = Random seed
    let normal () = MathNet.Numerics.Distributions.Normal.Sample(rng, 0.0, 1.0)
    Array.init 8000 (fun _ ->
        match kind with
        | "gaussian" -> 3.0 * normal () + 1.0
        | "uniform" -> rng.NextDouble()
        | "bimodal" -> normal () + (if rng.NextDouble() < 0.5 then -3.0 else 3.0)
        | "student2" -> MathNet.Numerics.Distributions.StudentT.Sample(rng, 0.0, 1.0, 2.0)
        | "student3" -> MathNet.Numerics.Distributions.StudentT.Sample(rng, 0.0, 1.0, 3.0)
        | "half-cube" -> let v = normal () in v * sqrt (abs v)
        | "cauchy" -> tan (Math.PI * (rng.NextDouble() - 0.5))
        | "exponential" -> -log (1.0 - rng.NextDouble())
        | "lognormal" -> exp (normal ())
        | k -> failwithf "unknown marginal %s" k)

[<Fact>]
let ``auto picks light, bounded, skewed and Cauchy-like columns and leaves Gaussian and moderately heavy symmetric ones`` () =
    // Five seeds of 8 000 rows each (the default profile's training rows at 10 000): every seed
    // must decide the same way. The thresholds sit between the families with room: Tail < 0.9
    // (uniform 0.58, a two-component mixture ≈ 0.7, Gaussian 1 ± 0.04), Squeeze > 15 (Cauchy ≥ 20,
    // Student-t 2 d.f. ≤ 10 on these sizes), |Skew| > 0.2 (exponential 0.47, log-normal 0.57,
    // symmetric columns ≈ 0 ± 0.02).
    for kind, expected in [ "gaussian", false; "student2", false; "student3", false; "half-cube", false
                            "uniform", true; "bimodal", true; "cauchy", true; "exponential", true; "lognormal", true ] do
        for seed in 1 .. 5 do
            let c = marginal kind seed
            let s = Data.columnShape c
            Assert.True((Data.needsNormalScores c = expected), sprintf "%s seed %d: Tail %.3f Squeeze %.2f Skew %.3f, expected mapped = %b" kind seed s.Tail s.Squeeze s.Skew expected)
    // the shapes are scale- and location-free
    let g, g2 = marginal "uniform" 1, marginal "uniform" 1 |> Array.map (fun v -> 1000.0 * v - 7.0)
    let a, b = Data.columnShape g, Data.columnShape g2
    Assert.True(abs (a.Tail - b.Tail) < 1e-9 && abs (a.Squeeze - b.Squeeze) < 1e-9 && abs (a.Skew - b.Skew) < 1e-9, sprintf "%A vs %A" a b)
    Assert.True(abs (a.Tail - 0.58) < 0.03, sprintf "uniform Tail %.3f (theory 0.98 / 0.5 / 3.449 = 0.568)" a.Tail)
    // on few rows a Gaussian column's shape is noisy (Tail ± 1.5/√n): 200 seeded Gaussian columns
    // of 200–1 000 rows are all left alone, while uniform columns of 400 rows and exponential
    // ones of 200 are still mapped (the bounds are then 0.70 against the uniform's 0.57, and
    // 0.30 against the exponential's 0.47; at 200 rows the Tail bound, 0.58, no longer clears
    // a uniform column)
    let rng = Random 11
    for i in 1 .. 200 do
        let n = 200 + 4 * i
        let c = Array.init n (fun _ -> MathNet.Numerics.Distributions.Normal.Sample(rng, 0.0, 1.0))
        Assert.False(Data.needsNormalScores c, sprintf "Gaussian column of %d rows: %A" n (Data.columnShape c))
    for seed in 1 .. 20 do
        Assert.True(Data.needsNormalScores (Array.sub (marginal "uniform" seed) 0 400), sprintf "uniform, 400 rows, seed %d" seed)
        Assert.True(Data.needsNormalScores (Array.sub (marginal "exponential" seed) 0 200), sprintf "exponential, 200 rows, seed %d" seed)
    // a constant column (IQR 0) is left alone
    Assert.False(Data.needsNormalScores (Array.create 100 2.5))

[<Fact; Trait("Category", "Long")>]
let ``through the estimator: auto leaves Gaussian columns bit for bit as they were and maps only the columns it picks`` () =
    let x, y, truth = MmgEstimatorTests.gaussianSamples 4 2000 MmgEstimatorTests.bivariate 1
    let run (choice: string) a b =
        let o = { MmgEstimatorTests.options 7 300 with Extra = readOnlyDict [ "validation", "0"; "normal-scores", choice ] }
        (MmgEstimator("mmg-debiased", o) :> IMiEstimator).Estimate(a, b, null)
    // Gaussian columns: no map is fit, so the run is the unmapped one exactly
    let auto, off = run "auto" x y, run "off" x y
    Assert.Equal(off.Estimate, auto.Estimate)
    Assert.Equal("x: none; y: none", auto.Settings.["normal_scores_columns"])
    // X through the normal CDF (uniform marginal): x is mapped, y is not; the MI is unchanged,
    // so the estimate stays within 0.08 of the truth (the quick budget's accuracy on this pair)
    let ux = Array2D.map Special.normalCdf x
    let o = { MmgEstimatorTests.options 7 300 with Extra = readOnlyDict [ "validation", "0"; "normal-scores", "auto" ] }
    let r, model = MmgEstimator("mmg-debiased", o).EstimateWithModel(ux, y, null, false)
    use model = model
    Assert.Equal("x: 1; y: none", r.Settings.["normal_scores_columns"])
    Assert.Equal("auto", r.Settings.["normal_scores"])
    Assert.True(abs (r.Estimate - truth) < 0.08, sprintf "auto on Φ(X), Y: %.4f, truth %.4f" r.Estimate truth)
    // a model with a map on x only (empty knots on y) saves and loads to the same evaluation
    let dir = Directory.CreateTempSubdirectory("mmg-auto-").FullName
    try
        model.Save(Path.Combine(dir, "m"))
        use loaded = MmgModel.Load(Path.Combine(dir, "m"), torch.CPU)
        let fx, fy, _ = MmgEstimatorTests.gaussianSamples 2 300 MmgEstimatorTests.bivariate 1
        let fux = Array2D.map Special.normalCdf fx
        let a, b = model.Evaluate(fux, fy, 2, 3, "", 8), loaded.Evaluate(fux, fy, 2, 3, "", 8)
        Assert.Equal(a.MmgDebiased.Mean, b.MmgDebiased.Mean)
        Assert.Equal(a.MmgOrthogonalAdaptive.Mean, b.MmgOrthogonalAdaptive.Mean)
    finally Directory.Delete(dir, true)
