module Mmg.Core.Tests.CriticsTests

open System
open System.Collections.Generic
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

let private f32 = torch.ScalarType.Float32

/// A [b; b] float32 score matrix from rows.
let private scoreMatrix (rows: float[][]) =
    let b = rows.Length
    use t = torch.tensor(rows |> Array.concat |> Array.map float32, dtype = f32)
    t.reshape(int64 b, int64 b)

let private value (f: Tensor -> Tensor) (scores: Tensor) =
    use v = f scores
    float (v.item<float32> ())

let private close (tol: float) (expected: float) (actual: float) =
    Assert.True(abs (expected - actual) <= tol, sprintf "expected %.6f, got %.6f (tolerance %g)" expected actual tol)

// ------------------------------------------------------------ the bounds on hand-made matrices

// The 2×2 matrix [[1, 0], [2, 3]]: joint pairs (1, 3), off-diagonal pairs (0, 2).
let private m22 = [| [| 1.0; 0.0 |]; [| 2.0; 3.0 |] |]

[<Fact>]
let ``DV of a 2x2 matrix: mean diagonal minus log mean exp of the off-diagonal`` () =
    use s = scoreMatrix m22
    // (1 + 3)/2 − log((e^0 + e^2)/2)
    close 1e-5 (2.0 - log ((1.0 + exp 2.0) / 2.0)) (value Critics.Bounds.dv s)

[<Fact>]
let ``InfoNCE of a 2x2 matrix: row-wise softmax of the diagonal plus log b`` () =
    use s = scoreMatrix m22
    let row0 = 1.0 - log (exp 1.0 + exp 0.0)
    let row1 = 3.0 - log (exp 2.0 + exp 3.0)
    close 1e-5 ((row0 + row1) / 2.0 + log 2.0) (value Critics.Bounds.infoNce s)

[<Fact>]
let ``NWJ of a 2x2 matrix: mean diagonal minus mean of e^(f-1) off the diagonal`` () =
    use s = scoreMatrix m22
    close 1e-5 (2.0 - (exp -1.0 + exp 1.0) / 2.0) (value Critics.Bounds.nwj s)

[<Fact>]
let ``SMILE clips only the partition term`` () =
    use s = scoreMatrix m22
    // tau = 1: off-diagonal (0, 2) → (0, 1); the diagonal 3 stays 3.
    close 1e-5 (2.0 - log ((1.0 + exp 1.0) / 2.0)) (value (Critics.Bounds.smile 1.0) s)
    // a tau above every score changes nothing: SMILE = DV.
    close 1e-5 (value Critics.Bounds.dv s) (value (Critics.Bounds.smile 10.0) s)

[<Fact>]
let ``JS objective and MINE surrogate of a 2x2 matrix`` () =
    use s = scoreMatrix m22
    let sp v = log (1.0 + exp v)
    close 1e-5 (-(sp -1.0 + sp -3.0) / 2.0 - (sp 0.0 + sp 2.0) / 2.0) (value Critics.Bounds.jsObjective s)
    close 1e-5 (2.0 - ((1.0 + exp 2.0) / 2.0) / 4.0) (value (Critics.Bounds.mineSurrogate 4.0) s)

[<Fact>]
let ``MINE's moving average in log space matches the direct one and stays finite on heavy tails`` () =
    // moderate values: the same as (1 − α)·ma + α·current
    let direct = (1.0 - 0.01) * 4.0 + 0.01 * exp 2.0
    close 1e-12 (log direct) (Critics.Bounds.mineMovingLogAverage 0.01 (log 4.0) 2.0)
    close 1e-12 3.0 (Critics.Bounds.mineMovingLogAverage 0.01 Double.NaN 3.0)
    close 1e-12 5.0 (Critics.Bounds.mineMovingLogAverage 1.0 2.0 5.0)
    // heavy tails: e^800 overflows a double (the old average became ∞ and the surrogate NaN)
    Assert.True(Double.IsInfinity(exp 800.0))
    let l = Critics.Bounds.mineMovingLogAverage 0.01 (log 4.0) 800.0
    Assert.True(Double.IsFinite l)
    close 1e-9 (800.0 + log 0.01) l
    // the surrogate with log ma equals the one with ma, and stays finite where ma would not
    use s = scoreMatrix m22
    close 1e-5 (value (Critics.Bounds.mineSurrogate 4.0) s) (value (Critics.Bounds.mineSurrogateLog (log 4.0)) s)
    use big = scoreMatrix [| [| 800.0; 790.0 |]; [| 795.0; 805.0 |] |]
    Assert.True(Double.IsFinite(value (Critics.Bounds.mineSurrogateLog 790.0) big))
    Assert.Throws<ArgumentException>(fun () -> Critics.Bounds.mineMovingLogAverage 0.01 0.0 nan |> ignore) |> ignore

[<Fact>]
let ``InfoNCE of a perfectly diagonal score matrix is log b, and never more`` () =
    for b in [ 2; 16; 128 ] do
        let rows = Array.init b (fun i -> Array.init b (fun j -> if i = j then 40.0 else 0.0))
        use s = scoreMatrix rows
        let v = value Critics.Bounds.infoNce s
        close 1e-4 (log (float b)) v
        Assert.True(v <= log (float b) + 1e-5)

[<Fact>]
let ``every bound of a constant score matrix is zero except NWJ at -1/e`` () =
    use s = scoreMatrix (Array.init 8 (fun _ -> Array.create 8 0.7))
    close 1e-5 0.0 (value Critics.Bounds.dv s)
    close 1e-5 0.0 (value Critics.Bounds.infoNce s)
    close 1e-5 0.0 (value (Critics.Bounds.smile 5.0) s)
    // 0.7 − e^(0.7−1): NWJ's optimum over constant critics is f = 1, where it is 0.
    close 1e-5 (0.7 - exp (0.7 - 1.0)) (value Critics.Bounds.nwj s)

[<Fact>]
let ``a non-square score matrix raises ArgumentException naming its shape`` () =
    use s = torch.zeros(3L, 4L)
    let ex = Assert.Throws<ArgumentException>(fun () -> Critics.Bounds.dv s |> ignore)
    Assert.Contains("[3;4]", ex.Message)

[<Fact>]
let ``the bounds keep the autograd graph`` () =
    use raw = scoreMatrix m22
    use s = raw.detach().requires_grad_(true)
    use v = Critics.Bounds.infoNce s
    v.backward ()
    use g = s.grad
    Assert.NotNull g
    // d/ds_ii of InfoNCE = (1 − softmax_ii)/b > 0
    Assert.True(g.[0L, 0L].item<float32> () > 0.0f)

// ------------------------------------------------------------ estimators on Gaussian data

let private bivariate = Array2D.init 2 2 (fun i j -> if i = j then 1.0 else 0.75)
let private dense33 = Array2D.init 6 6 (fun i j -> if i = j then 1.0 else 0.5)

let private options (seed: int) (steps: int) (extra: (string * string) list) =
    let d = Dictionary<string, string>()
    for k, v in extra do d.[k] <- v
    { EstimatorOptions.Default with Seed = seed; Steps = steps; Profile = "quick"; Extra = d }

/// Sample size and step budget of the accuracy tests: 2000 rows (1190 fit, 210 validation,
/// 600 test = 4 test batches of 128) and at most 800 Adam steps (early stopping may end
/// sooner), ≈ 2–4 s per run on one thread.
let private n, steps = 2000, 800

/// Tolerances (nats) against the closed form 0.4133, and why. Measured diffs at these seeds
/// (bivariate / 3×3) are in docs/estimators-neural.md; the 600-row test sample alone moves the
/// answer by ≈ ±0.03 (per-run StdError 0.013–0.038), and with 1190 fit rows the critics stop
/// early (overfitting) and land 0.03–0.06 low on the 6-dimensional task (more steps, a wider
/// validation split or a narrower critic did not change that: 0.35–0.39 in every variant tried).
/// - InfoNCE: the lowest-variance bound; measured −0.009 / −0.033; 0.08.
/// - DV, MINE, SMILE: DV-type partition term (more variance), measured −0.01…−0.06; 0.1.
/// - NWJ: the highest variance of the family (e^f in the partition term); 0.12.
/// - DoE-Gaussian: its model family contains the truth (full-covariance Gaussians) and it starts
///   from the linear-Gaussian fit, so only estimation error on 600 test rows (SE ≈ 0.02–0.03)
///   remains; measured +0.004 / +0.003; 0.06 (≈ 2–3 SE).
/// - DoE-logistic: a misspecified family (logistic factors on Gaussian data); the two
///   cross-entropy errors largely cancel but need not; measured +0.006 / +0.004; 0.08.
let private tolerance =
    dict [ "infonce", 0.08; "dv", 0.1; "mine", 0.1; "smile", 0.1; "nwj", 0.12; "doe-gaussian", 0.06; "doe-logistic", 0.08 ]

let private checkAccuracy (name: string) (dimX: int) (cov: float[,]) (seed: int) =
    let x, y, truth = gaussianData seed n dimX cov
    let est = Critics.create name (options seed steps [])
    let r = oneThread (fun () -> est.Estimate(x, y, null))
    let tol = tolerance.[name]
    let msg = sprintf "%s: estimate %.4f ± %.4f, truth %.4f, |diff| %.4f > %.2f (steps run %s, best %s, %.1fs)" name r.Estimate r.StdError truth (abs (r.Estimate - truth)) tol r.Settings.["steps_run"] r.Settings.["best_step"] r.Seconds
    eprintfn "ACCURACY %s dx=%d: estimate %.4f se %.4f truth %.4f diff %+.4f steps %s best %s secs %.2f" name dimX r.Estimate r.StdError truth (r.Estimate - truth) r.Settings.["steps_run"] r.Settings.["best_step"] r.Seconds
    Assert.True(Double.IsFinite r.Estimate && (Double.IsFinite r.StdError), msg)
    Assert.True(abs (r.Estimate - truth) <= tol, msg)
    Assert.Equal(name, r.Estimator)

let estimatorNames : obj[] seq = Critics.names |> Seq.map (fun n -> [| box n |])

[<Theory>]
[<MemberData(nameof estimatorNames)>]
let ``each estimator recovers the MI of a bivariate normal with rho 0.75 (0.4133 nats)`` (name: string) =
    checkAccuracy name 1 bivariate 11

[<Theory>]
[<MemberData(nameof estimatorNames)>]
let ``each estimator recovers the MI of a 3x3 dense Gaussian (all correlations 0.5)`` (name: string) =
    checkAccuracy name 3 dense33 12

[<Fact>]
let ``the 3x3 dense Gaussian has the closed-form MI 1/2 log(8/3.5)`` () =
    // Σ = ½I + ½J (6×6): det Σ = 3.5·0.5⁵, det Σ_xx = det Σ_yy = 2·0.5², so
    // I = ½(log 0.5 + log 0.5 − log(3.5/32)) = ½ log(8/3.5) — the same as ρ = 0.75 in 1-D.
    use c = Gaussian.ofArray2D dense33
    close 1e-9 (0.5 * log (8.0 / 3.5)) (Gaussian.mutualInformation 3 c)

// ------------------------------------------------------------ invariants

let private small = lazy (let x, y, _ = gaussianData 5 600 1 bivariate in x, y)

[<Fact>]
let ``seeded runs repeat exactly and another seed differs`` () =
    let x, y = small.Force()
    for name in [ "mine"; "smile"; "doe-gaussian" ] do
        let run seed = oneThread (fun () -> (Critics.create name (options seed 60 [])).Estimate(x, y, null).Estimate)
        let a, b, c = run 3, run 3, run 4
        Assert.True((a = b), sprintf "%s: %.9f vs %.9f with the same seed" name a b)
        Assert.True((a <> c), sprintf "%s: seeds 3 and 4 both gave %.9f" name a)

[<Fact>]
let ``results carry settings, timing and no MMG extras`` () =
    let x, y = small.Force()
    let r = oneThread (fun () -> (Critics.create "smile" (options 1 30 [ "tau", "2.5" ])).Estimate(x, y, null))
    for key in [ "seed"; "device"; "steps"; "steps_run"; "batch_size"; "learning_rate"; "critic"; "hidden"; "layers"; "embed"; "tau"; "test_fraction"; "test_batches" ] do
        Assert.True(r.Settings.ContainsKey key, sprintf "setting '%s' missing" key)
    Assert.Equal("2.5", r.Settings.["tau"])
    Assert.Equal("30", r.Settings.["steps"])
    Assert.True(r.Seconds > 0.0)
    Assert.Empty(r.Variants)
    Assert.True(r.Curves.IsNone)
    Assert.Empty(r.Pointwise)

[<Fact>]
let ``progress is reported for every phase up to the last step`` () =
    let x, y = small.Force()
    let seen = ResizeArray<TrainingProgress>()
    let opts = options 1 40 [ "patience", "1000" ]
    oneThread (fun () -> (Critics.create "infonce" opts).Estimate(x, y, Action<_>(seen.Add))) |> ignore
    Assert.NotEmpty seen
    Assert.All(seen, fun p -> Assert.Equal("critic", p.Phase))
    Assert.Equal(40, (Seq.last seen).Step)
    Assert.True(seen |> Seq.forall (fun p -> Double.IsFinite p.Loss))

[<Fact>]
let ``bad input raises ArgumentException naming the problem`` () =
    let x, y = small.Force()
    let est = Critics.create "infonce" (options 1 10 [])
    let xNan = Array2D.copy x
    xNan.[7, 0] <- nan
    Assert.Contains("non-finite", (Assert.Throws<ArgumentException>(fun () -> est.Estimate(xNan, y, null) |> ignore)).Message)
    let yShort = Array2D.init 10 1 (fun i _ -> float i)
    Assert.Contains("rows", (Assert.Throws<ArgumentException>(fun () -> est.Estimate(x, yShort, null) |> ignore)).Message)
    let xConst = Array2D.create 600 1 1.0
    Assert.Contains("constant", (Assert.Throws<ArgumentException>(fun () -> est.Estimate(xConst, y, null) |> ignore)).Message)
    let tiny = Array2D.init 5 1 (fun i _ -> float i)
    Assert.Contains("at least", (Assert.Throws<ArgumentException>(fun () -> est.Estimate(tiny, tiny, null) |> ignore)).Message)
    Assert.Contains("unknown neural estimator", (Assert.Throws<ArgumentException>(fun () -> Critics.create "mien" EstimatorOptions.Default |> ignore)).Message)
    Assert.Contains("tau", (Assert.Throws<ArgumentException>(fun () -> Critics.create "smile" (options 1 10 [ "tau", "-1" ]) |> ignore)).Message)
    Assert.Contains("scale", (Assert.Throws<ArgumentException>(fun () -> Critics.create "doe-logistic" (options 1 10 [ "scale", "wide" ]) |> ignore)).Message)
    Assert.Contains("critic", (Assert.Throws<ArgumentException>(fun () -> Critics.create "dv" (options 1 10 [ "critic", "bilinear" ]) |> ignore)).Message)
    Assert.Contains("profile", (Assert.Throws<ArgumentException>(fun () -> Critics.create "dv" { EstimatorOptions.Default with Profile = "fast" } |> ignore)).Message)

[<Fact>]
let ``no tensor leaks: the live count after a run does not grow with the number of steps`` () =
    let x, y = small.Force()
    let live (name: string) (steps: int) =
        DisposeScopeManager.Statistics.Reset()
        oneThread (fun () -> (Critics.create name (options 2 steps [ "patience", "1000"; "critic", "concat"; "hidden", "16" ])).Estimate(x, y, null)) |> ignore
        DisposeScopeManager.Statistics.ThreadTotalLiveCount
    for name in [ "mine"; "doe-logistic" ] do
        let short, long = live name 20, live name 200
        Assert.True((short = long), sprintf "%s: %d live tensors after 20 steps, %d after 200" name short long)
        Assert.True((long = 0L), sprintf "%s: %d tensors left alive after a run" name long)

[<Fact>]
let ``the concatenated critic also works`` () =
    let x, y, truth = gaussianData 21 1000 1 bivariate
    let r = oneThread (fun () -> (Critics.create "infonce" { options 21 300 [ "critic", "concat"; "hidden", "64" ] with BatchSize = 64 }).Estimate(x, y, null))
    eprintfn "ACCURACY infonce-concat: estimate %.4f se %.4f truth %.4f secs %.2f" r.Estimate r.StdError truth r.Seconds
    Assert.Equal("concat", r.Settings.["critic"])
    Assert.True(abs (r.Estimate - truth) <= 0.15, sprintf "estimate %.4f, truth %.4f" r.Estimate truth)

[<Fact>]
let ``at 3 nats InfoNCE stays below log b while DoE-Gaussian follows the truth`` () =
    // ρ² = 1 − e^{−6}, so I = −½ log(1 − ρ²) = 3 nats, above log 16 = 2.77.
    let rho = sqrt (1.0 - exp -6.0)
    let cov = Array2D.init 2 2 (fun i j -> if i = j then 1.0 else rho)
    let x, y, truth = gaussianData 31 2000 1 cov
    let nce = oneThread (fun () -> (Critics.create "infonce" { options 31 600 [] with BatchSize = 16 }).Estimate(x, y, null))
    let doe = oneThread (fun () -> (Critics.create "doe-gaussian" (options 31 600 [])).Estimate(x, y, null))
    eprintfn "HIGH-MI truth %.4f: infonce(b=16) %.4f, doe-gaussian %.4f ± %.4f" truth nce.Estimate doe.Estimate doe.StdError
    close 1e-9 3.0 truth
    Assert.True(nce.Estimate <= log 16.0 + 1e-6, sprintf "InfoNCE %.4f exceeds log 16 = %.4f" nce.Estimate (log 16.0))
    Assert.True(truth - nce.Estimate > 0.5, sprintf "InfoNCE %.4f should sit well below the truth 3" nce.Estimate)
    // DoE's model family contains the truth and it is not capped: tolerance 0.15 (measured +0.04).
    Assert.True(abs (doe.Estimate - truth) <= 0.15, sprintf "DoE-Gaussian %.4f vs truth %.4f" doe.Estimate truth)
