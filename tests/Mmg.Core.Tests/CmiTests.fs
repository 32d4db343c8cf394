/// Conditional MI (issue 14): the task family, the Frenzel–Pompe KSG estimator and its
/// local-permutation test, the Gaussian baseline, and MMG-CMI.
module Mmg.Core.Tests.CmiTests

open System
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

let task id = CmiTasks.find id

// ---------------- tasks ----------------

[<Fact>]
let ``the CMI family has at least 12 tasks with unique ids, every kind of case, and exact truths`` () =
    let all = CmiTasks.all
    Assert.True(List.length all >= 12, sprintf "%d tasks" (List.length all))
    Assert.Equal(List.length all, all |> List.map (fun t -> t.Id) |> List.distinct |> List.length)
    for t in all do
        Assert.False(Tasks.tryFind t.Id |> Option.isSome, sprintf "%s clashes with an MI task id" t.Id)
    // confounder and chain: CMI 0, MI > 0; collider: MI 0, CMI > 0
    for id in [ "cmi-confounder-1-1-1-1.0"; "cmi-confounder-3-3-3-0.5"; "cmi-chain-1-1-1" ] do
        let t = task id
        Assert.True(t.TrueCMI = 0.0 && t.TrueMI > 0.1, sprintf "%s: CMI %g, MI %g" id t.TrueCMI t.TrueMI)
    let c = task "cmi-collider-1-1-1-0.5"
    Assert.Equal(0.0, c.TrueMI, 12)
    Assert.Equal(-0.5 * log (1.0 - (1.0 / 1.25) ** 2.0), c.TrueCMI, 12)
    Assert.Equal(-1.5 * log (1.0 - (1.0 / 1.25) ** 2.0), (task "cmi-confounder-3-3-3-0.5").TrueMI, 12)
    Assert.Equal(0.5 * log 1.5, (task "cmi-chain-1-1-1").TrueMI, 12)
    // sparse: two pairs with correlation ½ given Z, whatever dim_z is
    for dz in [ 1; 5; 10 ] do
        Assert.Equal(-log 0.75, (task (sprintf "cmi-sparse-3-3-%d" dz)).TrueCMI, 10)
    for dz in [ 1; 5; 10 ] do
        let t = task (sprintf "cmi-dense-2-2-%d-0.5" dz)
        Assert.Equal(dz, t.DimZ)
        Assert.True(t.TrueCMI > 0.0 && t.TrueCMI < t.TrueMI, sprintf "%s: CMI %g, MI %g" t.Id t.TrueCMI t.TrueMI)

[<Fact>]
let ``a transformed task is the per-coordinate map of its base's samples, with the base's truth`` () =
    let pairs =
        [ "half_cube-cmi-confounder-1-1-1-1.0", "cmi-confounder-1-1-1-1.0", Transforms.halfCube
          "asinh-cmi-collider-1-1-1-0.5", "cmi-collider-1-1-1-0.5", Transforms.asinh
          "normal_cdf-cmi-dense-2-2-5-0.5", "cmi-dense-2-2-5-0.5", Special.normalCdf
          "half_cube-cmi-sparse-3-3-5", "cmi-sparse-3-3-5", Transforms.halfCube ]
    for tid, bid, f in pairs do
        let t, b = task tid, task bid
        Assert.Equal(b.TrueCMI, t.TrueCMI)
        let x, y, z = t.Sample 50 3
        let bx, by, bz = b.Sample 50 3
        Assert.Equal<float[,]>(Array2D.map f bx, x)
        Assert.Equal<float[,]>(Array2D.map f by, y)
        Assert.Equal<float[,]>(Array2D.map f bz, z)

[<Fact>]
let ``task samples have the task's shapes and repeat with the seed`` () =
    for t in CmiTasks.all do
        let x, y, z = t.Sample 20 7
        Assert.Equal((20, t.DimX), (Array2D.length1 x, Array2D.length2 x))
        Assert.Equal((20, t.DimY), (Array2D.length1 y, Array2D.length2 y))
        Assert.Equal((20, t.DimZ), (Array2D.length1 z, Array2D.length2 z))
        let x2, _, z2 = t.Sample 20 7
        Assert.Equal<float[,]>(x, x2)
        Assert.Equal<float[,]>(z, z2)

[<Fact>]
let ``the Gaussian baseline recovers the truth of every Gaussian task from 20000 samples`` () =
    // The plug-in is consistent for Gaussian data; at n = 20000 its standard error is ≤ 0.006
    // and its bias ≈ dx·dy/(2n) ≤ 1e-4. Tolerance: 4 standard errors + 0.002.
    for t in CmiTasks.all |> List.filter (fun t -> t.Family.StartsWith "cmi-" || List.contains t.Family [ "confounder"; "chain"; "collider" ]) do
        if not (t.Id.Contains "half_cube" || t.Id.Contains "asinh" || t.Id.Contains "normal_cdf") then
            let x, y, z = t.Sample 20000 1
            let r = (CmiRegistry.create "gaussian-cmi" EstimatorOptions.Default).Estimate(x, y, z, null)
            Assert.True(abs (r.Estimate - t.TrueCMI) <= 4.0 * r.StdError + 0.002, sprintf "%s: %.4f ± %.4f vs %.4f" t.Id r.Estimate r.StdError t.TrueCMI)

[<Fact>]
let ``with no Z the Gaussian baseline is the CCA estimate`` () =
    let x, y, _ = (task "cmi-dense-2-2-1-0.5").Sample 500 2
    let a = (CmiRegistry.create "gaussian-cmi" EstimatorOptions.Default).Estimate(x, y, CmiData.empty 500, null)
    let b = (Classical.cca EstimatorOptions.Default).Estimate(x, y, null)
    Assert.Equal(b.Estimate, a.Estimate, 10)

// ---------------- KSG-CMI ----------------

let randomData (seed: int) (n: int) (d: int) =
    let rng = Random seed
    Array2D.init n d (fun _ _ -> Math.Round(rng.NextDouble() * 4.0, 1)) // coarse grid: many ties

[<Fact>]
let ``Frenzel–Pompe counts equal a brute-force scan, ties included`` () =
    for seed in 1 .. 4 do
        let n, k = 80, 3
        let x, y, z = randomData seed n 2, randomData (seed + 10) n 1, randomData (seed + 20) n (1 + seed % 3)
        let c = ConditionalKsg.neighbourCounts k x y z
        let s (m: float[,]) = Classical.standardizeColumns m
        let xs, ys, zs = s x, s y, s z
        let dx, dy, dz = Array2D.length2 x, Array2D.length2 y, Array2D.length2 z
        let dist (a: float[]) (da: int) i j = Seq.max (seq { for c in 0 .. da - 1 -> abs (a.[i * da + c] - a.[j * da + c]) })
        for i in 0 .. n - 1 do
            let joint = [| for j in 0 .. n - 1 do if j <> i then yield max (dist xs dx i j) (max (dist ys dy i j) (dist zs dz i j)) |] |> Array.sort
            let e = joint.[k - 1]
            let count f = seq { for j in 0 .. n - 1 do if j <> i && f j < e then yield 1 } |> Seq.length
            Assert.Equal(e, c.Epsilon.[i])
            Assert.Equal(count (fun j -> max (dist xs dx i j) (dist zs dz i j)), c.CountXZ.[i])
            Assert.Equal(count (fun j -> max (dist ys dy i j) (dist zs dz i j)), c.CountYZ.[i])
            Assert.Equal(count (fun j -> dist zs dz i j), c.CountZ.[i])

[<Fact>]
let ``with no Z the Frenzel–Pompe terms are the KSG-1 terms exactly`` () =
    let x, y, _ = (task "cmi-dense-2-2-1-0.5").Sample 700 4
    let a = ConditionalKsg.terms (ConditionalKsg.neighbourCounts 5 x y (CmiData.empty 700))
    let b = Classical.ksgTerms (Classical.neighbourCounts 5 x y)
    Assert.Equal<float[]>(b, a)

[<Fact>]
let ``KSG-CMI is near the truth on the collider and near 0 on the confounder`` () =
    // n = 3000, k = 5. Frenzel–Pompe on 1×1|1 Gaussians has a bias of a few hundredths of a
    // nat and a sampling sd ≈ 0.015 here; tolerance 0.06 (≈ 4 sd).
    let est id =
        let t = task id
        let x, y, z = t.Sample 3000 5
        (CmiRegistry.create "ksg-cmi" EstimatorOptions.Default).Estimate(x, y, z, null).Estimate, t.TrueCMI
    let e1, t1 = est "cmi-collider-1-1-1-0.5"
    Assert.True(abs (e1 - t1) <= 0.06, sprintf "collider: %.4f vs %.4f" e1 t1)
    let e2, t2 = est "cmi-confounder-1-1-1-1.0"
    Assert.True(abs (e2 - t2) <= 0.06, sprintf "confounder: %.4f vs %.4f" e2 t2)

[<Fact>]
let ``local permutations only move y among the row's nearest neighbours in z`` () =
    let n, kPerm = 300, 5
    let z = Classical.standardizeColumns (randomData 3 n 2)
    let nb = LocalPermutation.nearestInZ kPerm z 2 n
    let perm = LocalPermutation.draw (Random 1) nb kPerm n
    for i in 0 .. n - 1 do
        Assert.Contains(perm.[i], nb.[i * kPerm .. i * kPerm + kPerm - 1])
        Assert.Contains(i, nb.[i * kPerm .. i * kPerm + kPerm - 1]) // a row is its own nearest neighbour
    // most rows get a distinct source row (the scheme avoids reuse while it can)
    Assert.True((Array.distinct perm).Length >= n * 8 / 10, sprintf "%d distinct of %d" (Array.distinct perm).Length n)

[<Fact>]
let ``the local-permutation test rejects on the collider and not on the chain`` () =
    // Seeds fixed. Collider: CMI 0.51 at n = 400 is far outside the permutation null (p is the
    // smallest possible, 1/(B+1)). Chain (CMI 0): the p-value for this seed is 0.61 (checked with `mmg citest`); a valid
    // test gives p > 0.05 in 95% of seeds, and this seed is fixed.
    let run id =
        let x, y, z = (task id).Sample 400 3
        ConditionalKsg.localPermutationTest 5 5 99 11 x y z
    let c = run "cmi-collider-1-1-1-0.5"
    Assert.Equal(0.01, c.PValue, 10)
    let h = run "cmi-chain-1-1-1"
    Assert.True(h.PValue > 0.05, sprintf "chain p = %.3f, statistic %.4f" h.PValue h.Statistic)

// ---------------- MMG-CMI ----------------

let quick seed steps = { EstimatorOptions.Default with Seed = seed; Profile = "quick"; Steps = steps }

[<Fact>]
let ``with no Z, MMG-CMI repeats MMG's numbers exactly (MMG without the y embedding, which MMG-CMI's network has not)`` () =
    let x, y, _ = (task "cmi-dense-2-2-1-0.5").Sample 500 6
    // 2×2 data: MMG's default would add the y embedding (Network.yEmbeddingFor) and drop GroupNorm
    // (Network.groupNormFor); MMG-CMI never has the embedding and keeps GroupNorm unless told.
    // Both normalisations, given to both, must give the same numbers.
    for norm, cmiExtra in [ "group", []; "none", [ "norm", "none" ] ] do
        let mmgOptions = { quick 3 120 with Extra = readOnlyDict [ "y-embedding", "0"; "norm", norm ] }
        let a = (MmgEstimator("mmg-orthogonal-adaptive", mmgOptions) :> IMiEstimator).Estimate(x, y, null)
        let b = (CmiEstimator("mmg-cmi-orthogonal-adaptive", { quick 3 120 with Extra = readOnlyDict cmiExtra }) :> ICmiEstimator).Estimate(x, y, CmiData.empty 500, null)
        Assert.Equal(norm, a.Settings.["norm"])
        Assert.Equal(norm, b.Settings.["norm"])
        for va, vb in Array.zip a.Variants b.Variants do
            Assert.Equal("mmg-cmi" + va.Name.Substring 3, vb.Name)
            Assert.Equal(va.Estimate, vb.Estimate)
            Assert.Equal(va.StdError, vb.StdError)
        Assert.Equal<float[]>(a.Curves.Value.OrthogonalGap, b.Curves.Value.OrthogonalGap)

[<Fact; Trait("Category", "Long")>]
let ``a short MMG-CMI run sees the collider's CMI, which a denoiser blind to z could not`` () =
    // Collider: I(X;Y) = 0 but I(X;Y|Z) = 0.511, so a pipeline that dropped z would report ≈ 0.
    // Budget 600 + 300 steps, batch 128, 1500 rows (≈ 17 s on a loaded 2-core machine).
    // Measured with the fixed-q orthogonal form, before the linear base (merge of main): 0.412 ±
    // 0.048 at exactly this setting, and 0.342 ± 0.027 at 800 steps on 2000 rows (seed 1 both);
    // with the linear base it still passes (not re-measured to the digit);
    // the orthogonal form is conservative when under-trained (as for MI). Asserted:
    // 0.2 ≤ estimate ≤ truth + 4 SE (0.2 is far above what a z-blind network gives).
    let t = task "cmi-collider-1-1-1-0.5"
    let x, y, z = t.Sample 1500 1
    let r = (CmiRegistry.create "mmg-cmi-orthogonal" (quick 1 600)).Estimate(x, y, z, null)
    Assert.True(r.Estimate >= 0.2 && r.Estimate <= t.TrueCMI + 4.0 * r.StdError, sprintf "orthogonal %.4f ± %.4f, truth %.4f" r.Estimate r.StdError t.TrueCMI)
    Assert.Equal(5, r.Variants.Length)
    Assert.True(r.Variants |> Array.forall (fun v -> Double.IsFinite v.Estimate), "a variant is not finite")

[<Fact; Trait("Category", "Long")>]
let ``MMG-CMI's local-permutation test: small p on the collider, not small on the confounder, no retraining`` () =
    // Seeds fixed; 1 000 rows, 600 quick steps, B = 49 (smallest p 1/50 = 0.02). Collider
    // (CMI 0.51): the held-out difference statistic is far outside the local-permutation null.
    // Confounder (X ⊥ Y | Z while I(X;Y) > 0): a global permutation would reject (it breaks the
    // dependence through z); the local one must not. Measured for these seeds: collider p = 0.02,
    // confounder p = 0.46; a valid test gives p > 0.05 in 95% of seeds, and these are fixed.
    let run id =
        let t = task id
        let x, y, z = t.Sample 1000 1
        let options = { quick 1 600 with Extra = readOnlyDict [ "permutations", "49" ] }
        (CmiEstimator("mmg-cmi-orthogonal-adaptive", options) :> ICmiEstimator).Estimate(x, y, z, null)
    let c = run "cmi-collider-1-1-1-0.5"
    Assert.Equal(0.02, c.IndependencePValue, 10)
    Assert.Equal("49", c.Settings.["permutations"])
    Assert.Equal("5", c.Settings.["k_perm"])
    let h = run "cmi-confounder-1-1-1-1.0"
    Assert.True(h.IndependencePValue > 0.05, sprintf "confounder p = %.3f" h.IndependencePValue)
    // without the option there is no test
    let x, y, z = (task "cmi-chain-1-1-1").Sample 600 2
    Assert.True(Double.IsNaN((CmiEstimator("mmg-cmi", quick 2 60) :> ICmiEstimator).Estimate(x, y, z, null).IndependencePValue))
    // and a bad neighbourhood is refused by name
    let bad = { quick 2 60 with Extra = readOnlyDict [ "permutations", "9"; "k-perm", "0" ] }
    let ex = Assert.Throws<ArgumentException>(fun () -> (CmiEstimator("mmg-cmi", bad) :> ICmiEstimator).Estimate(x, y, z, null) |> ignore)
    Assert.Contains("k-perm", ex.Message)
    // k-perm without the test is refused too, before any training
    let alone = { quick 2 60 with Extra = readOnlyDict [ "k-perm", "3" ] }
    let ex2 = Assert.Throws<ArgumentException>(fun () -> (CmiEstimator("mmg-cmi", alone) :> ICmiEstimator).Estimate(x, y, z, null) |> ignore)
    Assert.Contains("applies only with permutations", ex2.Message)

[<Fact>]
let ``bad input: a constant Z column and mismatched rows are named; MI-only estimators refuse Z`` () =
    let x, y, z = (task "cmi-chain-1-1-1").Sample 100 1
    let zc = Array2D.create 100 1 2.0
    let e = Assert.Throws<ArgumentException>(fun () -> (CmiRegistry.create "ksg-cmi" EstimatorOptions.Default).Estimate(x, y, zc, null) |> ignore)
    Assert.Contains("Z0", e.Message)
    let e2 = Assert.Throws<ArgumentException>(fun () -> (CmiRegistry.create "gaussian-cmi" EstimatorOptions.Default).Estimate(x, y, Array2D.zeroCreate 50 1, null) |> ignore)
    Assert.Contains("z has 50", e2.Message)
    let e3 = Assert.Throws<ArgumentException>(fun () -> CmiRegistry.create "ksg" EstimatorOptions.Default |> ignore)
    Assert.Contains("cannot condition on Z", e3.Message)
    ignore z

/// The linear-Gaussian base of a CmiDenoiserNet fitted on (x, y, z) of a task; returns the
/// shrinkage factor of the partial regression of x on y given z.
let private baseShrinkage id n seed =
    let x, y, z = (task id).Sample n seed
    let prep (m: float[,]) =
        use t = Data.toTensor m
        Data.standardize (Data.fitStandardizer t) t
    use xs = prep x
    use ys = prep y
    use zs = prep z
    let shape = { Network.shape (Array2D.length2 x) (Array2D.length2 y) 16 with LinearBase = true }
    use net = new CmiDenoiserNet(shape, Array2D.length2 z)
    net.SetLinearBase(xs, ys, zs)

[<Fact>]
let ``the CMI linear base conditions on z: no partial regression on y under X ⊥ Y | Z, full where I(X;Y|Z) > 0`` () =
    // Confounder and chain: X and Y depend strongly on each other through Z but not given Z, so the
    // James–Stein factor of the partial regression of x̃ on ỹ should be (near) 0, while the plain
    // regression of x on y (what an MI base would use) is strong. Collider: I(X;Y) = 0 but the
    // partial regression is real, factor near 1. n = 4000, fixed seeds. Under the null the
    // positive-part factor is max(0, 1 − dy/χ²_dy)-like: 0 most of the time, sometimes positive,
    // so the mean over 5 seeds is asserted (expected ≈ 0.1–0.2 for dy = 1).
    for id in [ "cmi-chain-1-1-1"; "cmi-confounder-3-3-3-0.5" ] do
        let cs = [| for seed in 1 .. 5 -> baseShrinkage id 4000 seed |]
        Assert.True(Array.average cs < 0.4, sprintf "%s: shrinkage factors %A" id cs)
    let c = baseShrinkage "cmi-collider-1-1-1-0.5" 4000 1
    Assert.True(c > 0.95, sprintf "collider: shrinkage factor %.3f" c)

[<Fact>]
let ``CMI task truths without libtorch equal ConditionalGaussian's`` () =
    // random covariances A·Aᵀ + I over (x, y, z) of several shapes, dim_z 0..3, fixed seed
    let rng = Random 5
    for dimX, dimY, dimZ in [ 1, 1, 1; 2, 3, 0; 3, 2, 3; 1, 2, 2 ] do
        let d = dimX + dimY + dimZ
        let a = Array2D.init d d (fun _ _ -> rng.NextDouble() * 2.0 - 1.0)
        let cov = Array2D.init d d (fun i j -> (if i = j then 1.0 else 0.0) + Seq.sum (seq { for k in 0 .. d - 1 -> a.[i, k] * a.[j, k] }))
        let cmi, mi = CmiTasks.truths dimX dimY cov
        use t = Gaussian.ofArray2D cov
        let oracle = ConditionalGaussian.conditionalMutualInformation dimX dimY t
        use xy = ConditionalGaussian.select [| 0 .. dimX + dimY - 1 |] t
        Assert.True(abs (cmi - oracle) < 1e-10, sprintf "%d×%d|%d: CMI %g vs %g" dimX dimY dimZ cmi oracle)
        Assert.True(abs (mi - Gaussian.mutualInformation dimX xy) < 1e-10, sprintf "%d×%d|%d: MI" dimX dimY dimZ)
