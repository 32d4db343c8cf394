module Mmg.Core.Tests.TasksTests

open System
open FsCheck.Xunit
open FsCheck
open FsCheck.FSharp
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

let f64 = torch.ScalarType.Float64

let tensorOf (m: float[,]) = Gaussian.ofArray2D m

/// Mean ± standard error of per-row values (as a float64 tensor).
let summarizeArray (values: float[]) =
    use t = torch.tensor(values, dtype = f64)
    Mmse.summarize t

let column (j: int) (m: float[,]) = Array.init (Array2D.length1 m) (fun i -> m.[i, j])

let pearson (a: float[]) (b: float[]) =
    let ma, mb = Array.average a, Array.average b
    let cov = Array.fold2 (fun s x y -> s + (x - ma) * (y - mb)) 0.0 a b
    let va = Array.sumBy (fun x -> (x - ma) ** 2.0) a
    let vb = Array.sumBy (fun y -> (y - mb) ** 2.0) b
    cov / sqrt (va * vb)

let hconcat (x: float[,]) (y: float[,]) =
    let n, dx, dy = Array2D.length1 x, Array2D.length2 x, Array2D.length2 y
    Array2D.init n (dx + dy) (fun r c -> if c < dx then x.[r, c] else y.[r, c - dx])

// ---------------------------------------------------------------- the list

[<Fact>]
let ``there are exactly 40 tasks with unique ids in bmi's order`` () =
    let ids = Tasks.all |> List.map (fun t -> t.Id)
    Assert.Equal(40, ids.Length)
    Assert.Equal(40, (List.distinct ids).Length)
    Assert.Equal("1v1-normal-0.75", ids.Head)
    Assert.Equal("swissroll_x-normal_cdf-1v1-normal-0.75", ids.[9])
    Assert.Equal("multinormal-dense-2-2-0.5", ids.[10])
    Assert.Equal("student-identity-2-2-1", ids.[19])
    Assert.Equal("normal_cdf-multinormal-sparse-3-3-2-2.0", ids.[25])
    Assert.Equal("asinh-student-identity-5-5-2", List.last ids)

[<Theory>]
[<InlineData("1v1-normal-0.75", 1, 1)>]
[<InlineData("normal_cdf-1v1-normal-0.75", 1, 1)>]
[<InlineData("1v1-additive-0.1", 1, 1)>]
[<InlineData("1v1-additive-0.75", 1, 1)>]
[<InlineData("1v1-bimodal-0.75", 1, 1)>]
[<InlineData("wiggly-1v1-normal-0.75", 1, 1)>]
[<InlineData("half_cube-1v1-normal-0.75", 1, 1)>]
[<InlineData("student-identity-1-1-1", 1, 1)>]
[<InlineData("asinh-student-identity-1-1-1", 1, 1)>]
[<InlineData("swissroll_x-normal_cdf-1v1-normal-0.75", 2, 1)>]
[<InlineData("multinormal-dense-50-50-0.5", 50, 50)>]
[<InlineData("multinormal-sparse-3-3-2-2.0", 3, 3)>]
[<InlineData("multinormal-sparse-25-25-2-2.0", 25, 25)>]
[<InlineData("student-identity-5-5-3", 5, 5)>]
[<InlineData("half_cube-multinormal-sparse-5-5-2-2.0", 5, 5)>]
[<InlineData("spiral-multinormal-sparse-3-3-2-2.0", 3, 3)>]
[<InlineData("spiral-normal_cdf-multinormal-sparse-25-25-2-2.0", 25, 25)>]
[<InlineData("asinh-student-identity-3-3-2", 3, 3)>]
let ``known ids are present with bmi's dimensions`` (id: string, dx: int, dy: int) =
    let t = Tasks.find id
    Assert.Equal(id, t.Id)
    Assert.Equal(dx, t.DimX)
    Assert.Equal(dy, t.DimY)

/// Published figures (Czyż et al. 2023 / bmi) to 3–4 decimals; the library computes them from formulas.
[<Theory>]
[<InlineData("1v1-normal-0.75", 0.4133)>]
[<InlineData("normal_cdf-1v1-normal-0.75", 0.4133)>]
[<InlineData("1v1-bimodal-0.75", 0.4133)>]
[<InlineData("swissroll_x-normal_cdf-1v1-normal-0.75", 0.4133)>]
[<InlineData("multinormal-dense-5-5-0.5", 0.5928)>]
[<InlineData("student-identity-1-1-1", 0.2242)>]
[<InlineData("asinh-student-identity-1-1-1", 0.2242)>]
[<InlineData("1v1-additive-0.1", 1.7094)>]
[<InlineData("1v1-additive-0.75", 0.3333)>]
[<InlineData("multinormal-sparse-25-25-2-2.0", 1.0217)>]
[<InlineData("spiral-normal_cdf-multinormal-sparse-5-5-2-2.0", 1.0217)>]
let ``ground truths match bmi's published values`` (id: string, published: float) =
    let t = Tasks.find id
    Assert.True(abs (t.TrueMI - published) < 6e-4, sprintf "%s: computed %.6f, published %.4f" id t.TrueMI published)

[<Fact>]
let ``transformed tasks inherit their base's ground truth exactly`` () =
    let truth id = (Tasks.find id).TrueMI
    for t in Tasks.all do
        let baseId =
            [ "normal_cdf-"; "half_cube-"; "spiral-"; "asinh-"; "wiggly-"; "swissroll_x-" ]
            |> List.fold (fun (s: string) p -> if s.StartsWith p then s.Substring p.Length else s) t.Id
        let baseId = if baseId.StartsWith "normal_cdf-" then baseId.Substring "normal_cdf-".Length else baseId
        if baseId <> t.Id then Assert.Equal(truth baseId, t.TrueMI, 15)

[<Fact>]
let ``dense truths follow the equicorrelated closed form and grow with dimension`` () =
    // For all correlations c, the eigenvalues are 1 + (d−1)c (once) and 1 − c; so
    // I = ½[2 log(1 + (k−1)c) + 2(k−1) log(1 − c) − log(1 + (2k−1)c) − (2k−1) log(1 − c)] for k × k.
    let closed (k: int) (c: float) =
        let k = float k
        0.5 * (2.0 * log (1.0 + (k - 1.0) * c) + 2.0 * (k - 1.0) * log (1.0 - c) - log (1.0 + (2.0 * k - 1.0) * c) - (2.0 * k - 1.0) * log (1.0 - c))
    let values =
        [ for k in [ 2; 3; 5; 25; 50 ] ->
            let t = Tasks.find (sprintf "multinormal-dense-%d-%d-0.5" k k)
            Assert.Equal(closed k 0.5, t.TrueMI, 9)
            t.TrueMI ]
    Assert.True(values |> List.pairwise |> List.forall (fun (a, b) -> b > a), sprintf "%A" values)

[<Fact>]
let ``find reports unknown ids with the closest known ones and tryFind is None`` () =
    Assert.True((Tasks.tryFind "1v1-normal-0.7").IsNone)
    Assert.True((Tasks.tryFind " 1v1-normal-0.75 ").IsSome)
    let ex = Assert.Throws<ArgumentException>(fun () -> Tasks.find "1v1-normal-0.7" |> ignore)
    Assert.Contains("'1v1-normal-0.7'", ex.Message)
    Assert.Contains("1v1-normal-0.75", ex.Message)
    let ex2 = Assert.Throws<ArgumentException>(fun () -> Tasks.find "multinormal-sparse-4-4-2-2.0" |> ignore)
    Assert.Contains("multinormal-sparse-", ex2.Message)

[<Fact>]
let ``bad arguments raise ArgumentException naming the value`` () =
    let t = Tasks.find "1v1-normal-0.75"
    let e1 = Assert.Throws<ArgumentException>(fun () -> t.Sample 0 1 |> ignore)
    Assert.Contains("got 0", e1.Message)
    let e2 = Assert.Throws<ArgumentException>(fun () -> Tasks.additiveNoise -0.5 |> ignore)
    Assert.Contains("-0.5", e2.Message)
    let e3 = Assert.Throws<ArgumentException>(fun () -> Tasks.highMi "cube" 2.0 |> ignore)
    Assert.Contains("'cube'", e3.Message)
    let e4 = Assert.Throws<ArgumentException>(fun () -> Tasks.spiral 1.0 (Tasks.find "1v1-normal-0.75") |> ignore)
    Assert.Contains("1v1-normal-0.75", e4.Message)
    Assert.Throws<ArgumentException>(fun () -> Special.lgamma -1.0 |> ignore) |> ignore

// ---------------------------------------------------------------- special functions

[<Fact>]
let ``lgamma and digamma match known values`` () =
    let eulerGamma = 0.57721566490153286
    Assert.Equal(0.5 * log Math.PI, Special.lgamma 0.5, 13)
    Assert.Equal(log (sqrt Math.PI / 2.0), Special.lgamma 1.5, 13)
    Assert.Equal(0.0, Special.lgamma 1.0, 13)
    Assert.Equal(log 24.0, Special.lgamma 5.0, 13)
    Assert.Equal(log 3628800.0, Special.lgamma 11.0, 12)
    Assert.Equal(-eulerGamma, Special.digamma 1.0, 13)
    Assert.Equal(-eulerGamma - 2.0 * log 2.0, Special.digamma 0.5, 13)
    Assert.Equal(1.0 - eulerGamma + 0.5, Special.digamma 3.0, 13)
    Assert.Equal(log 100.0 - 1.0 / 200.0 - 1.0 / 120000.0, Special.digamma 100.0, 9)

[<Property(MaxTest = 200, Replay = "(20261201,1)")>]
let ``lgamma and digamma satisfy the recurrences and digamma is lgamma's derivative`` (k: uint16) =
    let x = 0.05 + float k / 1000.0 // (0.05, 65.6]
    let rec1 = Special.lgamma (x + 1.0) - Special.lgamma x - log x
    let rec2 = Special.digamma (x + 1.0) - Special.digamma x - 1.0 / x
    let h = 1e-5 * max 1.0 x
    let fd = (Special.lgamma (x + h) - Special.lgamma (x - h)) / (2.0 * h)
    let scale = max 1.0 (abs (Special.lgamma x))
    (abs rec1 < 1e-12 * scale && abs rec2 < 1e-12 * max 1.0 (1.0 / x) && abs (fd - Special.digamma x) < 1e-6 * max 1.0 (abs (Special.digamma x)))
    |@ sprintf "x=%g: recurrence residuals %g, %g; finite difference %g vs digamma %g" x rec1 rec2 fd (Special.digamma x)

[<Fact>]
let ``erfc and the normal CDF match known values`` () =
    let rel (expected: float) (actual: float) = abs (actual - expected) / abs expected
    let cases = [ 0.0, 1.0; 0.5, 0.4795001221869535; 1.0, 0.15729920705028513; 2.0, 0.004677734981047266; 2.5, 4.069520174449590e-04; 3.0, 2.209049699858544e-05; 5.0, 1.5374597944280349e-12; 10.0, 2.088487583762545e-45 ]
    for x, e in cases do
        Assert.True(rel e (Special.erfc x) < 1e-12, sprintf "erfc(%g) = %.17g, expected %.17g" x (Special.erfc x) e)
        Assert.True(abs (Special.erfc -x - (2.0 - e)) < 1e-15, sprintf "erfc(-%g)" x)
    Assert.Equal(0.9750021048517795, Special.normalCdf 1.96, 14)
    Assert.True(rel 9.865876450376946e-10 (Special.normalSurvival 6.0) < 1e-12)

// ---------------------------------------------------------------- independent routes to the truths

/// Pointwise log p(x,y) − log p(x) − log p(y) of a zero-mean Gaussian with covariance cov.
let gaussianLogRatio (dimX: int) (cov: float[,]) (x: float[,]) (y: float[,]) : float[] =
    let logDensity (s: float[,]) (v: float[,]) =
        use st = tensorOf s
        use vt = tensorOf v
        use inv = torch.linalg.inv st
        use q = (vt.matmul inv * vt).sum(1L)
        let d = float (Array2D.length2 v)
        let ld = Gaussian.logDet st
        use lp = q * -0.5 - 0.5 * ld - 0.5 * d * log (2.0 * Math.PI)
        lp.data<float>().ToArray()
    let d = Array2D.length1 cov
    let sxx = Array2D.init dimX dimX (fun i j -> cov.[i, j])
    let syy = Array2D.init (d - dimX) (d - dimX) (fun i j -> cov.[dimX + i, dimX + j])
    let lxy = logDensity cov (hconcat x y)
    let lx = logDensity sxx x
    let ly = logDensity syy y
    Array.init lxy.Length (fun i -> lxy.[i] - lx.[i] - ly.[i])

/// The covariances written out from bmi's published parametrisation, independently of Tasks.
let publishedCovariance (id: string) =
    match id with
    | "1v1-normal-0.75" -> 1, array2D [ [ 1.0; 0.75 ]; [ 0.75; 1.0 ] ]
    | "multinormal-dense-3-3-0.5" -> 3, Array2D.init 6 6 (fun i j -> if i = j then 1.0 else 0.5)
    | "multinormal-sparse-3-3-2-2.0" ->
        // corr(X_i, Y_i) = λ²/(1 + λ²) = 0.8 for i = 0, 1; all else independent
        3, Array2D.init 6 6 (fun i j -> if i = j then 1.0 elif (i < 2 && j = i + 3) || (j < 2 && i = j + 3) then 0.8 else 0.0)
    | other -> failwithf "no covariance written for %s" other

[<Theory>]
[<InlineData("1v1-normal-0.75", 11)>]
[<InlineData("multinormal-dense-3-3-0.5", 12)>]
[<InlineData("multinormal-sparse-3-3-2-2.0", 13)>]
let ``Gaussian truth agrees with a Monte Carlo of the log-density ratio on the task's own samples`` (id: string, seed: int) =
    let t = Tasks.find id
    let dimX, cov = publishedCovariance id
    let x, y = t.Sample 20000 seed
    let est = summarizeArray (gaussianLogRatio dimX cov x y)
    Assert.True(abs (est.Mean - t.TrueMI) <= 4.0 * est.StdError, sprintf "%s: MC %.5f ± %.5f, truth %.5f" id est.Mean est.StdError t.TrueMI)

/// log density of a k-dimensional Student-t with identity dispersion and ν degrees of freedom.
let studentLogDensity (nu: float) (row: float[]) =
    let k = float row.Length
    let r2 = Array.sumBy (fun v -> v * v) row
    Special.lgamma ((nu + k) / 2.0) - Special.lgamma (nu / 2.0) - 0.5 * k * log (nu * Math.PI) - 0.5 * (nu + k) * log (1.0 + r2 / nu)

[<Theory>]
[<InlineData("student-identity-1-1-1", 1.0, 21)>]
[<InlineData("student-identity-2-2-2", 2.0, 22)>]
[<InlineData("student-identity-3-3-3", 3.0, 23)>]
[<InlineData("student-identity-5-5-2", 2.0, 24)>]
let ``Student-t truth agrees with a Monte Carlo of its log-density ratio`` (id: string, nu: float, seed: int) =
    let t = Tasks.find id
    let x, y = t.Sample 20000 seed
    let rows (m: float[,]) i = Array.init (Array2D.length2 m) (fun j -> m.[i, j])
    let values =
        Array.init (Array2D.length1 x) (fun i ->
            let xi, yi = rows x i, rows y i
            studentLogDensity nu (Array.append xi yi) - studentLogDensity nu xi - studentLogDensity nu yi)
    let est = summarizeArray values
    Assert.True(t.TrueMI > 0.0)
    Assert.True(abs (est.Mean - t.TrueMI) <= 4.0 * est.StdError, sprintf "%s: MC %.5f ± %.5f, truth %.5f" id est.Mean est.StdError t.TrueMI)

[<Theory>]
[<InlineData(0.1, 31)>]
[<InlineData(0.75, 32)>]
let ``additive-noise truth agrees with a Monte Carlo of log p(y|x) − log p(y) and samples stay in range`` (eps: float, seed: int) =
    let t = Tasks.additiveNoise eps
    let x, y = t.Sample 20000 seed
    // p(y) = |[y − ε, y + ε] ∩ [0, 1]| / 2ε; p(y|x) = 1/2ε
    let values =
        Array.init (Array2D.length1 x) (fun i ->
            let v = y.[i, 0]
            let py = (min 1.0 (v + eps) - max 0.0 (v - eps)) / (2.0 * eps)
            -log (2.0 * eps) - log py)
    let est = summarizeArray values
    Assert.True(abs (est.Mean - t.TrueMI) <= 4.0 * est.StdError, sprintf "eps %g: MC %.5f ± %.5f, truth %.5f" eps est.Mean est.StdError t.TrueMI)
    for i in 0 .. Array2D.length1 x - 1 do
        Assert.True(x.[i, 0] >= 0.0 && x.[i, 0] < 1.0 && abs (y.[i, 0] - x.[i, 0]) <= eps)

// ---------------------------------------------------------------- samplers

[<Fact>]
let ``every sampler is deterministic per seed, differs across seeds and has the declared shape`` () =
    for t in Tasks.all do
        let x1, y1 = t.Sample 64 7
        let x2, y2 = t.Sample 64 7
        let x3, _ = t.Sample 64 8
        Assert.Equal(64, Array2D.length1 x1)
        Assert.Equal(64, Array2D.length1 y1)
        Assert.Equal(t.DimX, Array2D.length2 x1)
        Assert.Equal(t.DimY, Array2D.length2 y1)
        Assert.True((x1 = x2 && y1 = y2), sprintf "%s is not deterministic for seed 7" t.Id)
        Assert.False((x1 = x3), sprintf "%s gives the same x for seeds 7 and 8" t.Id)
        for v in Seq.append (Seq.cast<float> x1) (Seq.cast<float> y1) do
            Assert.False(Double.IsNaN v || Double.IsInfinity v, sprintf "%s produced %g" t.Id v)

[<Fact>]
let ``Gaussian sample correlations match the parametrisation within 4 standard errors`` () =
    let n = 20000
    let check (id: string) (i: int) (j: int) (rho: float) =
        let t = Tasks.find id
        let x, y = t.Sample n 41
        let xy = hconcat x y
        let r = pearson (column i xy) (column j xy)
        let se = (1.0 - rho * rho) / sqrt (float n)
        Assert.True(abs (r - rho) <= 4.0 * se, sprintf "%s corr(%d,%d) = %.4f, expected %.4f ± %.4f" id i j r rho se)
    check "1v1-normal-0.75" 0 1 0.75
    check "multinormal-dense-5-5-0.5" 0 7 0.5
    check "multinormal-dense-5-5-0.5" 1 2 0.5
    check "multinormal-sparse-3-3-2-2.0" 0 3 0.8
    check "multinormal-sparse-3-3-2-2.0" 1 4 0.8
    check "multinormal-sparse-3-3-2-2.0" 2 5 0.0
    check "multinormal-sparse-3-3-2-2.0" 0 4 0.0

[<Fact>]
let ``marginal moments of the uniform and bimodal tasks match within 4 standard errors`` () =
    let n = 20000
    let within (label: string) (values: float[]) (mean: float) (sd: float) =
        let m = Array.average values
        let se = sd / sqrt (float n)
        Assert.True(abs (m - mean) <= 4.0 * se, sprintf "%s: mean %.4f, expected %.4f ± %.4f" label m mean se)
    let ux, uy = (Tasks.find "normal_cdf-1v1-normal-0.75").Sample n 51
    Assert.True(Seq.forall (fun v -> v > 0.0 && v < 1.0) (Seq.append (Seq.cast<float> ux) (Seq.cast<float> uy)))
    within "uniform X" (column 0 ux) 0.5 (sqrt (1.0 / 12.0))
    within "uniform Y" (column 0 uy) 0.5 (sqrt (1.0 / 12.0))
    let bx, by = (Tasks.find "1v1-bimodal-0.75").Sample n 52
    // 0.3 N(0,1) + 0.7 N(5,1): mean 3.5, variance 1 + 0.21·25; 0.5 N(−1,1) + 0.5 N(3,1): mean 1, variance 1 + 0.25·16
    within "bimodal X" (column 0 bx) 3.5 (sqrt (1.0 + 0.21 * 25.0))
    within "bimodal Y" (column 0 by) 1.0 (sqrt (1.0 + 0.25 * 16.0))
    // one mode holds 30% of X: the fraction below 2.5 (the antimode) is ≈ 0.3·Φ(2.5) + 0.7·Φ(−2.5)
    let below = column 0 bx |> Array.filter (fun v -> v < 2.5) |> Array.length |> float
    let p = 0.3 * Special.normalCdf 2.5 + 0.7 * Special.normalCdf -2.5
    let se = sqrt (p * (1.0 - p) / float n)
    Assert.True(abs (below / float n - p) <= 4.0 * se, sprintf "fraction below 2.5: %.4f, expected %.4f" (below / float n) p)

// ---------------------------------------------------------------- transforms are injective

/// Sorted by input, a strictly increasing map gives strictly increasing outputs: injective on the sample.
let strictlyIncreasingOnSample (label: string) (f: float -> float) (inputs: float[]) =
    let xs = inputs |> Array.distinct |> Array.sort
    let ys = xs |> Array.map f
    for k in 1 .. ys.Length - 1 do
        Assert.True(ys.[k] > ys.[k - 1], sprintf "%s is not increasing between %.17g and %.17g (images %.17g, %.17g)" label xs.[k - 1] xs.[k] ys.[k - 1] ys.[k])

[<Fact>]
let ``coordinate-wise transforms are strictly increasing, hence injective, on task samples`` () =
    let z, w = (Tasks.find "1v1-normal-0.75").Sample 20000 61
    let zs = Array.append (column 0 z) (column 0 w)
    strictlyIncreasingOnSample "half-cube" Transforms.halfCube zs
    strictlyIncreasingOnSample "wiggly X" Transforms.wigglyX zs
    strictlyIncreasingOnSample "wiggly Y" Transforms.wigglyY zs
    strictlyIncreasingOnSample "asinh" Transforms.asinh zs
    strictlyIncreasingOnSample "normal CDF" Special.normalCdf zs
    strictlyIncreasingOnSample "bimodal X quantile" (Transforms.mixtureQuantileOfNormal Transforms.bimodalMixtureX) zs
    strictlyIncreasingOnSample "bimodal Y quantile" (Transforms.mixtureQuantileOfNormal Transforms.bimodalMixtureY) zs
    for v in zs do
        Assert.Equal(v, Transforms.halfCubeInverse (Transforms.halfCube v), 12)

[<Fact>]
let ``the bimodal quantile inverts the mixture CDF in both tails`` () =
    for z in [ -6.0; -3.3; -1.0; -0.2; 0.0; 0.4; 1.7; 3.0; 6.0 ] do
        for m in [ Transforms.bimodalMixtureX; Transforms.bimodalMixtureY ] do
            let q = Transforms.mixtureQuantileOfNormal m z
            let lhs, rhs =
                if z <= 0.0 then Transforms.mixtureCdf m q, Special.normalCdf z
                else Transforms.mixtureSurvival m q, Special.normalSurvival z
            Assert.True(abs (lhs - rhs) <= 1e-12 * rhs, sprintf "z=%g: F(q)=%.17g vs Φ(z)=%.17g" z lhs rhs)

[<Fact>]
let ``the spiral tasks are the spiral of their base samples and invert exactly`` () =
    for d in [ 3; 5; 25 ] do
        let b = Tasks.find (sprintf "multinormal-sparse-%d-%d-2-2.0" d d)
        let s = Tasks.find (sprintf "spiral-multinormal-sparse-%d-%d-2-2.0" d d)
        let bx, by = b.Sample 2000 71
        let sx, sy = s.Sample 2000 71
        let speedX, speedY = 1.0 / float d, 1.0 / float d
        for r in 0 .. 1999 do
            let rowOf (m: float[,]) = Array.init d (fun c -> m.[r, c])
            let bxr, byr, sxr, syr = rowOf bx, rowOf by, rowOf sx, rowOf sy
            Assert.Equal<float[]>(Transforms.spiral speedX 0 1 bxr, sxr)
            Assert.Equal<float[]>(Transforms.spiral speedY 1 2 byr, syr)
            let back = Transforms.spiralInverse speedX 0 1 sxr
            for c in 0 .. d - 1 do
                Assert.True(abs (back.[c] - bxr.[c]) < 1e-12, sprintf "d=%d row %d: inverse differs at %d" d r c)
            let backY = Transforms.spiralInverse speedY 1 2 syr
            for c in 0 .. d - 1 do
                Assert.True(abs (backY.[c] - byr.[c]) < 1e-12)
        // the spiral actually moves points: not the identity
        Assert.False((bx = sx))

[<Fact>]
let ``the swiss roll is injective: the radius determines u`` () =
    let t = Tasks.find "swissroll_x-normal_cdf-1v1-normal-0.75"
    let u = Tasks.find "normal_cdf-1v1-normal-0.75"
    let x, y = t.Sample 5000 81
    let ux, uy = u.Sample 5000 81
    Assert.True((y = uy), "Y must be the untransformed uniform")
    for r in 0 .. 4999 do
        let radius = sqrt (x.[r, 0] ** 2.0 + x.[r, 1] ** 2.0)
        // t = 21·radius = 1.5π(1 + 2u)
        let back = (21.0 * radius / (1.5 * Math.PI) - 1.0) / 2.0
        Assert.True(abs (back - ux.[r, 0]) < 1e-12, sprintf "row %d: recovered u %.15f, actual %.15f" r back ux.[r, 0])

// ---------------------------------------------------------------- high-MI family

[<Fact>]
let ``strengthForMi inverts the sparse MI and highMi tasks have that MI`` () =
    Assert.Equal(2.0, Tasks.strengthForMi (-log 0.36), 12)
    for mi in [ 0.05; 0.5; 1.0; 2.0; 4.0; 6.0; 8.0; 10.0 ] do
        let s = Tasks.strengthForMi mi
        Assert.Equal(mi, Tasks.sparseMiOfStrength s, 10)
        for tr in [ "none"; "half_cube"; "spiral" ] do
            let t = Tasks.highMi tr s
            Assert.Equal(3, t.DimX)
            Assert.Equal(3, t.DimY)
            Assert.True(abs (t.TrueMI - mi) < 1e-7 * max 1.0 mi, sprintf "%s: truth %.10f, wanted %.10f" t.Id t.TrueMI mi)
    Assert.Equal("multinormal-sparse-3-3-2-2.0", (Tasks.highMi "none" 2.0).Id)
    Assert.Equal("half_cube-multinormal-sparse-3-3-2-5.0", (Tasks.highMi "half_cube" 5.0).Id)
    Assert.Equal("spiral-multinormal-sparse-3-3-2-2.0", (Tasks.highMi "spiral" 2.0).Id)

[<Fact>]
let ``a high-MI task's samples carry the strong pair correlation`` () =
    let s = Tasks.strengthForMi 6.0
    let rho = s * s / (1.0 + s * s)
    let x, y = (Tasks.highMi "none" s).Sample 20000 91
    let r = pearson (column 0 x) (column 0 y)
    let se = (1.0 - rho * rho) / sqrt 20000.0
    Assert.True(abs (r - rho) <= 4.0 * se, sprintf "corr %.6f, expected %.6f ± %.6f" r rho se)

[<Fact>]
let ``Task ground truths without libtorch equal the Gaussian oracle's`` () =
    for dimX, dimY, offDiag in [ 1, 1, 0.75; 2, 3, 0.5; 5, 5, 0.3; 25, 25, 0.5 ] do
        let cov = Tasks.denseCovariance dimX dimY offDiag
        use t = tensorOf cov
        let oracle = Gaussian.mutualInformation dimX t
        Assert.True(abs (Tasks.gaussianMI dimX cov - oracle) < 1e-10, sprintf "%dx%d: %g vs %g" dimX dimY (Tasks.gaussianMI dimX cov) oracle)

[<Fact>]
let ``Samplers refuse more values than the limit before allocating`` () =
    let t = Tasks.find "multinormal-dense-25-25-0.5"
    let e = Assert.Throws<ArgumentException>(fun () -> t.Sample 2_000_001 0 |> ignore)
    Assert.Contains("2000000 samples", e.Message)
    let e1 = Assert.Throws<ArgumentException>(fun () -> (Tasks.find "1v1-normal-0.75").Sample 0 0 |> ignore)
    Assert.Contains("at least 1", e1.Message)
    let h = Tasks.highMi "spiral" 1.0
    Assert.Throws<ArgumentException>(fun () -> h.Sample 20_000_000 0 |> ignore) |> ignore
