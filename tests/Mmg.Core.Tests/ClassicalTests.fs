module Mmg.Core.Tests.ClassicalTests

open System
open System.Collections.Generic
open FsCheck.Xunit
open FsCheck
open FsCheck.FSharp
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

let f64 = torch.ScalarType.Float64

/// Options with the given Extra entries.
let options (extra: (string * string) list) =
    let d = Dictionary<string, string>()
    for k, v in extra do d.[k] <- v
    { EstimatorOptions.Default with Extra = d }

let ksgWith extra = Classical.ksg (options extra)
let cca = Classical.cca EstimatorOptions.Default

let estimate (e: IMiEstimator) (x: float[,]) (y: float[,]) = e.Estimate(x, y, null)

/// Expects an ArgumentException whose message contains every fragment.
let throwsNaming (f: unit -> obj) (fragments: string list) =
    let ex = Assert.ThrowsAny<ArgumentException>(fun () -> f () |> ignore)
    for s in fragments do
        Assert.True(ex.Message.Contains(s: string), sprintf "message '%s' should mention '%s'" ex.Message s)

let gauss (rng: Random) =
    let u1, u2 = 1.0 - rng.NextDouble(), rng.NextDouble()
    Math.Sqrt(-2.0 * Math.Log u1) * Math.Cos(2.0 * Math.PI * u2)

/// n rows of a jointly Gaussian (X, Y) with the case's covariance (torch sampler, seeded).
let sampleCase (n: int) (dimX: int) (cov: torch.Tensor) (seed: int) =
    use g = generator seed
    let x, y = Gaussian.sample g n dimX cov
    use x = x
    use y = y
    Data.toArray2D x, Data.toArray2D y

/// A small random case for the neighbour-search checks: n in 5..120, dims 1..3, k below n.
/// Half the cases are rounded to a coarse grid so that exact ties in distances are common
/// (the hard part of a neighbour count); rows 0 and 1 are pinned to 0 and 1 in every column so
/// no column is constant.
type SmallCase =
    { X: float[,]
      Y: float[,]
      K: int
      Seed: int
      Gridded: bool }
    override this.ToString() =
        sprintf "SmallCase(n=%d, dx=%d, dy=%d, k=%d, seed=%d, gridded=%b)" (Array2D.length1 this.X) (Array2D.length2 this.X) (Array2D.length2 this.Y) this.K this.Seed this.Gridded

let smallCaseGen : Gen<SmallCase> =
    gen {
        let! n = Gen.choose (5, 120)
        let! dx = Gen.choose (1, 3)
        let! dy = Gen.choose (1, 3)
        let! k = Gen.choose (1, min 8 (n - 1))
        let! seed = Gen.choose (0, Int32.MaxValue - 1)
        let! gridded = Gen.elements [ false; true ]
        let rng = Random seed
        let cell (i: int) =
            if i = 0 then 0.0
            elif i = 1 then 1.0
            else
                let v = gauss rng
                if gridded then Math.Round(v * 2.0) / 2.0 else v
        let x = Array2D.init n dx (fun i _ -> cell i)
        let y = Array2D.init n dy (fun i j -> if i > 1 then 0.6 * x.[i, j % dx] + 0.8 * cell i else cell i)
        return { X = x; Y = y; K = k; Seed = seed; Gridded = gridded }
    }

type ClassicalArbs =
    static member SmallCase() : Arbitrary<SmallCase> = Arb.fromGen smallCaseGen
    static member GaussianCase() : Arbitrary<GaussianCase> = Arb.fromGen caseGen

/// KSG-1 counts by an O(N²) scan of every pair, on row-major coordinates xs (n×dx), ys (n×dy).
let bruteForceFlat (k: int) (n: int) (xs: float[]) (dx: int) (ys: float[]) (dy: int) =
    let dist (a: float[]) (d: int) i j =
        let mutable m = 0.0
        for c in 0 .. d - 1 do
            m <- max m (abs (a.[i * d + c] - a.[j * d + c]))
        m
    let eps = Array.zeroCreate<float> n
    let cx = Array.zeroCreate<int> n
    let cy = Array.zeroCreate<int> n
    for i in 0 .. n - 1 do
        let joint = [| for j in 0 .. n - 1 do if j <> i then yield max (dist xs dx i j) (dist ys dy i j) |]
        Array.sortInPlace joint
        let e = joint.[k - 1]
        eps.[i] <- e
        for j in 0 .. n - 1 do
            if j <> i then
                if dist xs dx i j < e then cx.[i] <- cx.[i] + 1
                if dist ys dy i j < e then cy.[i] <- cy.[i] + 1
    eps, cx, cy

/// KSG-1 counts by an O(N²) scan on the standardised coordinates (what neighbourCounts sees).
let bruteForceCounts (k: int) (x: float[,]) (y: float[,]) =
    let n, dx, dy = Array2D.length1 x, Array2D.length2 x, Array2D.length2 y
    bruteForceFlat k n (Classical.standardizeColumns x) dx (Classical.standardizeColumns y) dy

// ---------------------------------------------------------------------------------------------
// digamma: one implementation in the core (Special.digamma), tested in TasksTests.

// ---------------------------------------------------------------------------------------------
// KSG: neighbour search against brute force

[<Property(Arbitrary = [| typeof<ClassicalArbs> |], MaxTest = 150, Replay = "(2026113002,1)")>]
let ``KSG k-d tree counts equal a brute-force O(N^2) scan, ties included`` (c: SmallCase) =
    let counts = Classical.neighbourCounts c.K c.X c.Y
    let eps, cx, cy = bruteForceCounts c.K c.X c.Y
    let firstBad =
        Array.init eps.Length id
        |> Array.tryFind (fun i -> eps.[i] <> counts.Epsilon.[i] || cx.[i] <> counts.CountX.[i] || cy.[i] <> counts.CountY.[i])
    match firstBad with
    | None -> true |@ "all equal"
    | Some i ->
        false
        |@ sprintf "row %d: tree (eps=%.17g, nx=%d, ny=%d) vs brute (eps=%.17g, nx=%d, ny=%d)" i counts.Epsilon.[i] counts.CountX.[i] counts.CountY.[i] eps.[i] cx.[i] cy.[i]

[<Property(Arbitrary = [| typeof<ClassicalArbs> |], MaxTest = 100, Replay = "(2026113003,1)")>]
let ``KSG estimate equals the formula on brute-force counts of the prepared data to 1e-12`` (c: SmallCase) =
    // Same prepared coordinates (robust scaling, seeded jitter; gridded cases are discrete in
    // every column now and then, hence allow-discrete), same counts and the same ψ summed in the
    // same order; 1e-12 leaves room only for round-off.
    let d = Classical.prepareKsg 0 true false c.X c.Y
    let _, cx, cy = bruteForceFlat c.K d.N d.X d.Dx d.Y d.Dy
    let n = cx.Length
    let terms =
        Array.init n (fun i ->
            Classical.digamma (float c.K) + Classical.digamma (float n)
            - Classical.digamma (float (cx.[i] + 1)) - Classical.digamma (float (cy.[i] + 1)))
    let brute = Array.average terms
    let r = estimate (ksgWith [ "k", string c.K; "allow-discrete", "true"; "drop-duplicates", "false" ]) c.X c.Y
    abs (r.Estimate - brute) <= 1e-12 |@ sprintf "ksg %.17g vs brute force %.17g" r.Estimate brute

[<Fact>]
let ``the k-d tree and a brute-force scan agree on 2000 continuous rows`` () =
    // A larger case than the property's, so the tree is many levels deep and pruning matters.
    let rng = Random 7
    let n = 2000
    let x = Array2D.init n 2 (fun _ _ -> gauss rng)
    let y = Array2D.init n 1 (fun i _ -> x.[i, 0] - 0.5 * x.[i, 1] + 0.3 * gauss rng)
    let counts = Classical.neighbourCounts 4 x y
    let eps, cx, cy = bruteForceCounts 4 x y
    Assert.Equal<float[]>(eps, counts.Epsilon)
    Assert.Equal<int[]>(cx, counts.CountX)
    Assert.Equal<int[]>(cy, counts.CountY)

// ---------------------------------------------------------------------------------------------
// KSG and CCA against the analytic MI

let truthBivariate = -0.5 * Math.Log(1.0 - 0.75 * 0.75)

[<Fact>]
let ``KSG on a bivariate normal with rho 0.75 at n 10000 is within 0.03 nats of 0.4133`` () =
    // Over 40 seeds at n = 10000 (k = 5) the estimates had mean 0.4164 (bias +0.003) and sd 0.0087,
    // so 0.03 is the bias plus more than 3 sd.
    let x, y = Classical.bivariateNormal 0.75 10000 20261130
    let r = estimate (ksgWith []) x y
    Assert.True(abs (r.Estimate - truthBivariate) <= 0.03, sprintf "ksg %.4f ± %.4f vs truth %.4f" r.Estimate r.StdError truthBivariate)
    // the approximate StdError is of the right size (measured sd 0.0087 at this n)
    Assert.InRange(r.StdError, 0.004, 0.02)

/// The joint 6×6 covariance of a 3×3 dense Gaussian: unit variances, all correlations 0.5.
let dense3x3 () =
    Gaussian.ofArray2D (Array2D.init 6 6 (fun i j -> if i = j then 1.0 else 0.5))

[<Fact>]
let ``KSG on a dense 3x3 Gaussian at n 5000 is within 0.05 nats of the closed form`` () =
    // In 6 joint dimensions KSG is biased low; over 5 seeds at n = 5000 (k = 5) the mean error was
    // −0.011 with sd ≈ 0.012, so 0.05 covers the bias plus 3 sd.
    use cov = dense3x3 ()
    let truth = Gaussian.mutualInformation 3 cov
    let x, y = sampleCase 5000 3 cov 20261131
    let r = estimate (ksgWith []) x y
    Assert.True(abs (r.Estimate - truth) <= 0.05, sprintf "ksg %.4f ± %.4f vs truth %.4f" r.Estimate r.StdError truth)

[<Fact>]
let ``CCA on a dense 3x3 Gaussian at n 5000 is within 4 standard errors of the closed form`` () =
    use cov = dense3x3 ()
    let truth = Gaussian.mutualInformation 3 cov
    let x, y = sampleCase 5000 3 cov 20261132
    let r = estimate cca x y
    Assert.True(abs (r.Estimate - truth) <= 4.0 * r.StdError, sprintf "cca %.4f ± %.4f vs truth %.4f" r.Estimate r.StdError truth)

[<Property(Arbitrary = [| typeof<ClassicalArbs> |], MaxTest = 8, Replay = "(2026113004,1)")>]
let ``CCA on 20000 Gaussian rows is within 4 standard errors of the closed-form MI`` (c: GaussianCase) =
    // The delta-method SE includes the null term dx·dy/(2n²), which also covers the plug-in bias
    // ≈ dx·dy/(2n) at these sizes.
    use cov = covTensor c
    let truth = Gaussian.mutualInformation c.DimX cov
    let x, y = sampleCase 20000 c.DimX cov c.Seed
    let r = estimate cca x y
    abs (r.Estimate - truth) <= 4.0 * r.StdError
    |@ sprintf "cca %.5f ± %.5f vs truth %.5f (%.2f SE)" r.Estimate r.StdError truth (abs (r.Estimate - truth) / r.StdError)

/// Rows whose sample covariance (n − 1 denominator) is exactly cov: centred Gaussian noise,
/// whitened by its own sample Cholesky factor and coloured by cov's.
let exactCovarianceSample (n: int) (dimX: int) (cov: torch.Tensor) (seed: int) =
    use g = generator seed
    let d = cov.shape.[0]
    use e = torch.randn([| int64 n; d |], dtype = f64, generator = g)
    use m = e.mean([| 0L |], keepdim = true)
    use ec = e - m
    use s = ec.t().matmul(ec) / float (n - 1)
    use ls = torch.linalg.cholesky s
    use lt = torch.linalg.cholesky (cov.``to`` f64)
    use lsi = torch.linalg.inv ls
    use a = lt.matmul lsi
    use z = ec.matmul (a.t ())
    let zz = Data.toArray2D z
    let dx = dimX
    Array2D.init n dx (fun i j -> zz.[i, j]), Array2D.init n (int d - dx) (fun i j -> zz.[i, dx + j])

[<Property(Arbitrary = [| typeof<ClassicalArbs> |], MaxTest = 40, Replay = "(2026113005,1)")>]
let ``CCA equals the closed form when the sample covariance is exactly the population one`` (c: GaussianCase) =
    // Condition numbers ≤ 10 (Generators): the only error left is double round-off, so 1e-9.
    use cov = covTensor c
    let truth = Gaussian.mutualInformation c.DimX cov
    let x, y = exactCovarianceSample (c.DimX + c.DimY + 30) c.DimX cov c.Seed
    let r = estimate cca x y
    abs (r.Estimate - truth) <= 1e-9 * max 1.0 truth |@ sprintf "cca %.15f vs closed form %.15f" r.Estimate truth

/// −½ Σ log(1 − r_i²) with r_i² the eigenvalues of Sxx^{−1/2} Sxy Syy^{−1} Syx Sxx^{−1/2}
/// (torch, float64): an independent route to the canonical correlations.
let ccaByEigenvalues (x: float[,]) (y: float[,]) =
    use tx = Gaussian.ofArray2D x
    use ty = Gaussian.ofArray2D y
    use xy = torch.cat([| tx; ty |], 1L)
    use m = xy.mean([| 0L |], keepdim = true)
    use c = xy - m
    use s = c.t().matmul(c) / float (Array2D.length1 x - 1)
    let dx = int64 (Array2D.length2 x)
    let d = s.shape.[0]
    use sxx = s.narrow(0L, 0L, dx).narrow(1L, 0L, dx)
    use sxy = s.narrow(0L, 0L, dx).narrow(1L, dx, d - dx)
    use syy = s.narrow(0L, dx, d - dx).narrow(1L, dx, d - dx)
    let struct (ev, vec) = torch.linalg.eigh sxx
    use ev = ev
    use vec = vec
    use isq = ev.rsqrt ()
    use w = vec.matmul(torch.diag isq).matmul (vec.t ())
    use syyInvSyx = torch.linalg.solve (syy, sxy.t ())
    use inner = w.matmul(sxy).matmul(syyInvSyx).matmul (w)
    use sym = (inner + inner.t ()) / 2.0
    use r2 = torch.linalg.eigvalsh sym
    let r2 = r2.data<float>().ToArray()
    -0.5 * (r2 |> Array.sumBy (fun v -> Math.Log(1.0 - v))), r2

[<Property(Arbitrary = [| typeof<ClassicalArbs> |], MaxTest = 40, Replay = "(2026113006,1)")>]
let ``CCA equals minus half the sum of log(1 - r^2) over canonical correlations computed by eigenvalues`` (c: GaussianCase) =
    // Non-Gaussian data (cubes, exponentials) with a linear component: CCA is a function of the
    // sample covariance only, so both routes must agree to round-off (1e-9).
    let rng = Random c.Seed
    let n = 200
    let x = Array2D.init n c.DimX (fun _ _ -> let g = gauss rng in g * g * g + rng.NextDouble())
    let y = Array2D.init n c.DimY (fun i j -> 0.4 * x.[i, j % c.DimX] - Math.Log(1.0 - rng.NextDouble()))
    let expected, r2 = ccaByEigenvalues x y
    let r = estimate cca x y
    let sumR2 = float (Double.Parse(r.Settings.["sum_squared_canonical_correlations"], Globalization.CultureInfo.InvariantCulture))
    (abs (r.Estimate - expected) <= 1e-9 * max 1.0 expected |@ sprintf "cca %.15f vs eigenvalues %.15f" r.Estimate expected)
    .&. (abs (sumR2 - Array.sum r2) <= 1e-9 |@ sprintf "sum r^2 %.15f vs %.15f" sumR2 (Array.sum r2))

// ---------------------------------------------------------------------------------------------
// KSG on ties, discrete values and outliers (issue 10, part 4). Before the fix these gave 9.57,
// 0.748, 0.922 and −0.002.

let warningOf (r: EstimatorResult) =
    match r.Settings.TryGetValue "warning" with
    | true, w -> w
    | _ -> ""

[<Fact>]
let ``KSG refuses discrete data with a message that says why, and with allow-discrete gives about 0 on independent columns`` () =
    // x, y independent, 3 and 4 values, n = 5000: truth 0 (KSG without tie-breaking said 9.57).
    let rng = Random 101
    let n = 5000
    let x = Array2D.init n 1 (fun _ _ -> float (rng.Next 3))
    let y = Array2D.init n 1 (fun _ _ -> float (rng.Next 4))
    throwsNaming (fun () -> box (estimate (ksgWith []) x y)) [ "discrete"; "X0: 3"; "Y0: 4"; "allow-discrete" ]
    let r = estimate (ksgWith [ "allow-discrete", "true" ]) x y
    // With the seeded jitter KSG behaves like a plug-in estimate on the 12 cells; for a plug-in,
    // 2n·Î ~ χ²(6) under independence (mean 0.0006, sd 0.00035 nats here). 0.03 leaves room
    // for the bias of KSG's jitter geometry on top of that.
    Assert.True(abs r.Estimate <= 0.03, sprintf "ksg on discrete independent data %.4f" r.Estimate)
    Assert.Contains("zero", warningOf r)
    Assert.Contains("look discrete", warningOf r)

[<Fact>]
let ``KSG on data with every row duplicated drops the copies and gives the estimate of the original rows`` () =
    let x, y = Classical.bivariateNormal 0.75 5000 21
    let n = Array2D.length1 x
    let twice (m: float[,]) = Array2D.init (2 * n) 1 (fun i _ -> m.[i % n, 0])
    let once = estimate (ksgWith []) x y
    let doubled = estimate (ksgWith []) (twice x) (twice y)
    // The first copies, in input order, are exactly the original rows: same prepared data, same
    // jitter, so the same number (before: 0.748 against 0.413).
    Assert.Equal(once.Estimate, doubled.Estimate)
    Assert.Equal("5000", doubled.Settings.["duplicates_dropped"])
    Assert.Contains("5000 exact duplicate rows", warningOf doubled)
    // and that number is a good one: within 0.05 of the truth (sd over samples 0.014 at n = 5000)
    Assert.True(abs (doubled.Estimate - truthBivariate) <= 0.05, sprintf "%.4f vs %.4f" doubled.Estimate truthBivariate)
    // with drop-duplicates=false the copies stay and inflate the estimate, as documented
    let kept = estimate (ksgWith [ "drop-duplicates", "false" ]) (twice x) (twice y)
    Assert.True(kept.Estimate > truthBivariate + 0.2, sprintf "kept duplicates: %.4f" kept.Estimate)

[<Fact>]
let ``KSG on values rounded to 0.1 stays near the truth and warns about zero distances`` () =
    // n = 5000, rho = 0.75 rounded to one decimal: about 12 rows share each central grid cell, so
    // most k-th-neighbour distances are 0 before tie-breaking (before the fix: 0.922). The MI of
    // the rounded values is a little below 0.4133; 0.05 covers that, KSG's bias and 3 sd (0.014).
    let x, y = Classical.bivariateNormal 0.75 5000 22
    let round (m: float[,]) = Array2D.map (fun (v: float) -> Math.Round(v, 1)) m
    let r = estimate (ksgWith []) (round x) (round y)
    Assert.True(abs (r.Estimate - truthBivariate) <= 0.05, sprintf "rounded: %.4f vs %.4f" r.Estimate truthBivariate)
    let share = Double.Parse(r.Settings.["zero_distance_share"], Globalization.CultureInfo.InvariantCulture)
    Assert.True(share > 0.5, sprintf "zero-distance share %.3f" share)
    Assert.Contains("k-th-neighbour distance of zero", warningOf r)
    // continuous data: no ties, no warning
    let clean = estimate (ksgWith []) x y
    Assert.Equal("0", clean.Settings.["zero_distance_share"])
    Assert.False(clean.Settings.ContainsKey "warning")

[<Fact>]
let ``one outlier of 1e4 among 300 rows moves the KSG estimate by little`` () =
    // Robust scaling (median, IQR) keeps the 299 ordinary rows at their usual spread; standard
    // deviation scaling squashed them into 1/577 of the axis (before the fix: 0.39 → −0.002).
    // One row's term changes by at most a few nats out of 300 rows, and its neighbours' counts by
    // one: 0.05 bounds that.
    let x, y = Classical.bivariateNormal 0.75 300 23
    let clean = estimate (ksgWith []) x y
    let dirty = Array2D.copy x
    dirty.[17, 0] <- 1e4
    let r = estimate (ksgWith []) dirty y
    Assert.True(abs (r.Estimate - clean.Estimate) <= 0.05, sprintf "outlier %.4f vs clean %.4f" r.Estimate clean.Estimate)
    Assert.Contains("IQR", r.Settings.["scaling"])

[<Fact>]
let ``KSG tie-breaking is seeded: the same seed repeats exactly, another seed differs only on tied data`` () =
    let x, y = Classical.bivariateNormal 0.75 2000 24
    let round (m: float[,]) = Array2D.map (fun (v: float) -> Math.Round(v, 1)) m
    let seeded s = { EstimatorOptions.Default with Seed = s } |> Classical.ksg
    let a = estimate (seeded 1) (round x) (round y)
    let b = estimate (seeded 1) (round x) (round y)
    let c = estimate (seeded 2) (round x) (round y)
    Assert.Equal(a.Estimate, b.Estimate)
    Assert.NotEqual(a.Estimate, c.Estimate)
    // on continuous data the jitter (1e-10 of the scale) changes no count
    Assert.Equal((estimate (seeded 1) x y).Estimate, (estimate (seeded 2) x y).Estimate)

// ---------------------------------------------------------------------------------------------
// Invariants

/// Maps each column to a·v + b with a of random sign and magnitude in [1e-3, 1e3], b in [−100, 100].
let affine (rng: Random) (m: float[,]) =
    let cols = Array2D.length2 m
    let a = Array.init cols (fun _ -> (if rng.NextDouble() < 0.5 then -1.0 else 1.0) * Math.Pow(10.0, -3.0 + 6.0 * rng.NextDouble()))
    let b = Array.init cols (fun _ -> -100.0 + 200.0 * rng.NextDouble())
    Array2D.init (Array2D.length1 m) cols (fun i j -> a.[j] * m.[i, j] + b.[j])

[<Property(Arbitrary = [| typeof<ClassicalArbs> |], MaxTest = 25, Replay = "(2026113007,1)")>]
let ``CCA is invariant under per-column affine maps (to round-off)`` (c: GaussianCase) =
    use cov = covTensor c
    let x, y = sampleCase 500 c.DimX cov c.Seed
    let rng = Random(c.Seed + 1)
    let r0 = estimate cca x y
    let r1 = estimate cca (affine rng x) (affine rng y)
    abs (r0.Estimate - r1.Estimate) <= 1e-9 * max 1.0 r0.Estimate |@ sprintf "%.15f vs %.15f" r0.Estimate r1.Estimate

[<Property(Arbitrary = [| typeof<ClassicalArbs> |], MaxTest = 15, Replay = "(2026113008,1)")>]
let ``KSG is invariant under per-column affine maps up to rare round-off tie flips`` (c: GaussianCase) =
    // Standardisation undoes the map up to round-off; a neighbour count can then change only where
    // two distances agree to ~1e-15, which continuous data almost never produce. One changed
    // count moves the estimate by at most 1/n (ψ(m+1) − ψ(m) = 1/m ≤ 1, averaged over n rows);
    // we allow two such flips.
    use cov = covTensor c
    let n = 600
    let x, y = sampleCase n c.DimX cov c.Seed
    let rng = Random(c.Seed + 1)
    let r0 = estimate (ksgWith []) x y
    let r1 = estimate (ksgWith []) (affine rng x) (affine rng y)
    abs (r0.Estimate - r1.Estimate) <= 2.0 / float n |@ sprintf "%.15f vs %.15f" r0.Estimate r1.Estimate

[<Property(Arbitrary = [| typeof<ClassicalArbs> |], MaxTest = 15, Replay = "(2026113009,1)")>]
let ``both estimators give finite results and repeat exactly`` (c: GaussianCase) =
    use cov = covTensor c
    let x, y = sampleCase 500 c.DimX cov c.Seed
    let k1 = estimate (ksgWith [ "ks", "3,5" ]) x y
    let k2 = estimate (ksgWith [ "ks", "3,5" ]) x y
    let c1 = estimate cca x y
    let c2 = estimate cca x y
    let finite v = not (Double.IsNaN v || Double.IsInfinity v)
    ((finite k1.Estimate && finite k1.StdError && finite c1.Estimate && finite c1.StdError)
     |@ sprintf "ksg %g ± %g, cca %g ± %g" k1.Estimate k1.StdError c1.Estimate c1.StdError)
    .&. ((k1.Estimate = k2.Estimate && k1.StdError = k2.StdError) |@ "ksg repeats exactly")
    .&. ((c1.Estimate = c2.Estimate && c1.StdError = c2.StdError) |@ "cca repeats exactly")
    .&. (c1.Estimate >= 0.0 |@ "cca is non-negative")

[<Fact>]
let ``a KSG ensemble over ks is the mean of the single-k estimates, which are its variants`` () =
    let x, y = Classical.bivariateNormal 0.5 1500 11
    let ens = estimate (ksgWith [ "ks", "10, 3,5" ]) x y
    let singles = [| 3; 5; 10 |] |> Array.map (fun k -> (estimate (ksgWith [ "k", string k ]) x y).Estimate)
    Assert.Equal<string[]>([| "k=3"; "k=5"; "k=10" |], ens.Variants |> Array.map (fun v -> v.Name))
    Assert.Equal<float[]>(singles, ens.Variants |> Array.map (fun v -> v.Estimate))
    Assert.Equal(Array.average singles, ens.Estimate, 12)
    Assert.Equal("3,5,10", ens.Settings.["ks"])

[<Fact>]
let ``results carry the estimator name, every setting and no MMG-only parts`` () =
    let x, y = Classical.bivariateNormal 0.5 300 3
    let k = estimate (ksgWith [ "k", "7" ]) x y
    let c = estimate cca x y
    Assert.Equal("ksg", (ksgWith []).Name)
    Assert.Equal("cca", cca.Name)
    Assert.Equal("ksg", k.Estimator)
    Assert.Equal("cca", c.Estimator)
    Assert.Equal("7", k.Settings.["k"])
    for key in [ "n"; "dim_x"; "dim_y"; "norm"; "scaling"; "ties"; "seed"; "zero_distance_share"; "std_error"; "threads" ] do
        Assert.True(k.Settings.ContainsKey key, key)
    for key in [ "n"; "dim_x"; "dim_y"; "method"; "std_error"; "covariance" ] do
        Assert.True(c.Settings.ContainsKey key, key)
    Assert.Equal("300", c.Settings.["n"])
    for r in [ k; c ] do
        Assert.Empty r.Variants
        Assert.Empty r.Pointwise
        Assert.True(r.Curves.IsNone)
        Assert.True(r.Seconds >= 0.0)

[<Fact>]
let ``benchmarkKsg returns the estimate and a time`` () =
    let est, secs = Classical.benchmarkKsg 2000 5
    let x, y = Classical.bivariateNormal 0.75 2000 5
    Assert.Equal((estimate (ksgWith []) x y).Estimate, est)
    Assert.True(secs >= 0.0)

// ---------------------------------------------------------------------------------------------
// Bad input

[<Fact>]
let ``bad input raises ArgumentException naming the value`` () =
    let x, y = Classical.bivariateNormal 0.5 10 1
    let withNaN = Array2D.copy x
    withNaN.[3, 0] <- nan
    let constant = Array2D.init 10 2 (fun i j -> if j = 1 then 2.5 else x.[i, 0])
    let short = Array2D.init 9 1 (fun i _ -> y.[i, 0])
    for e in [ ksgWith []; cca ] do
        throwsNaming (fun () -> box (estimate e withNaN y)) [ "NaN"; "row 3"; "X0" ]
        throwsNaming (fun () -> box (estimate e x short)) [ "10"; "9" ]
        throwsNaming (fun () -> box (estimate e constant y)) [ "X1"; "constant"; "2.5" ]
    throwsNaming (fun () -> box (estimate (ksgWith [ "k", "10" ]) x y)) [ "k = 10"; "n = 10" ]
    throwsNaming (fun () -> box (estimate (ksgWith [ "ks", "3,12" ]) x y)) [ "k = 12"; "n = 10" ]
    throwsNaming (fun () -> box (ksgWith [ "k", "0" ])) [ "'k'"; "0" ]
    throwsNaming (fun () -> box (ksgWith [ "k", "2.5" ])) [ "'k'"; "2.5" ]
    throwsNaming (fun () -> box (ksgWith [ "ks", "3,x" ])) [ "'ks'"; "'x'" ]
    throwsNaming (fun () -> box (ksgWith [ "ks", "3"; "k", "4" ])) [ "'k'"; "'ks'" ]
    throwsNaming (fun () -> box (Classical.neighbourCounts 0 x y)) [ "k"; "0" ]
    // CCA: more columns than rows, and an exact linear dependence between y and x
    let wide = Array2D.init 4 3 (fun i j -> float ((i + 1) * (j + 2) % 5) + float i * 0.1)
    throwsNaming (fun () -> box (estimate cca wide (Array2D.init 4 2 (fun i j -> float (i * i + j))))) [ "4 rows"; "3 + 2" ]
    let linear = Array2D.init 10 1 (fun i _ -> 2.0 * x.[i, 0] + 1.0)
    throwsNaming (fun () -> box (estimate cca x linear)) [ "singular"; "linear" ]
