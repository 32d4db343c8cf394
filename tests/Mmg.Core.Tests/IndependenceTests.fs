module Mmg.Core.Tests.IndependenceTests

open System
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.ClassicalTests

/// n rows of independent x (dx columns) and y (dy columns); heavy-tailed (cubed normals) when
/// heavy, else normal.
let independent (rng: Random) (n: int) (dx: int) (dy: int) (heavy: bool) =
    let draw () = let g = gauss rng in if heavy then g * g * g else g
    Array2D.init n dx (fun _ _ -> draw ()), Array2D.init n dy (fun _ _ -> draw ())

let seeded s = { EstimatorOptions.Default with Seed = s }

[<Fact>]
let ``the permutations are seeded permutations of the rows`` () =
    let a = Independence.permutations 4 3 50
    let b = Independence.permutations 4 3 50
    let c = Independence.permutations 5 3 50
    Assert.Equal<int[][]>(a, b)
    Assert.NotEqual<int[][]>(a, c)
    for p in a do
        Assert.Equal<int[]>(Array.init 50 id, Array.sort p)

[<Fact>]
let ``the statistic is the estimator's estimate and the p-value counts the permuted statistics that reach it`` () =
    let x, y = Classical.bivariateNormal 0.1 400 3
    for name, est in [ "ksg", Classical.ksg (seeded 2); "cca", Classical.cca (seeded 2) ] do
        let r = Independence.test name (seeded 2) 39 x y
        let e = est.Estimate(x, y, null).Estimate
        // cca recomputes the cross-correlations in another summation order: round-off only
        Assert.True(abs (r.Statistic - e) <= 1e-12, sprintf "%s: statistic %.17g vs estimate %.17g" name r.Statistic e)
        let exceed = r.Null |> Array.filter (fun v -> v >= r.Statistic) |> Array.length
        Assert.Equal(exceed, r.Exceedances)
        Assert.Equal(float (1 + exceed) / 40.0, r.PValue)
        Assert.Equal(39, r.Null.Length)
        // the same seed repeats exactly
        let again = Independence.test name (seeded 2) 39 x y
        Assert.Equal<float[]>(r.Null, again.Null)

[<Fact>]
let ``under independence the p-values are roughly uniform (coarse seeded calibration check)`` () =
    // 60 independent data sets (n = 200, dims 1-3, normal and heavy-tailed), B = 19. Under H0 the
    // p-value is uniform on {1/20, ..., 1}: mean 0.525, sd 0.289, so the mean of 60 has sd 0.037;
    // we accept 0.525 ± 0.15 (4 sd). A test that never permuted would give p = 1, one that
    // compared against the wrong tail would give ≈ 0.05: both fail. The real calibration
    // (≥ 100 runs, α = 0.05, B = 99) is a benchmark: docs/independence.md.
    let rng = Random 20261201
    let ps =
        [| for run in 0 .. 59 ->
            let d = 1 + run % 3
            let x, y = independent rng 200 d (1 + (run / 3) % 3) (run % 2 = 1)
            let name = if run % 4 < 2 then "ksg" else "cca"
            (Independence.test name (seeded run) 19 x y).PValue |]
    let mean = Array.average ps
    Assert.True(abs (mean - 0.525) <= 0.15, sprintf "mean p-value %.3f over 60 null runs: %A" mean ps)

[<Fact>]
let ``weak dependence that CCA cannot see is found by the KSG test`` () =
    // y = x² + noise: no correlation at all, MI ≈ 0.3 nats. At n = 500 the KSG test rejects
    // (p = 1/100 for this seed, as for any seed in practice), while CCA sees only noise.
    let rng = Random 8
    let n = 500
    let x = Array2D.init n 1 (fun _ _ -> gauss rng)
    let y = Array2D.init n 1 (fun i _ -> x.[i, 0] * x.[i, 0] + 0.5 * gauss rng)
    let k = Independence.test "ksg" (seeded 1) 99 x y
    Assert.Equal(0.01, k.PValue)
    let c = Independence.test "cca" (seeded 1) 99 x y
    Assert.True(c.PValue > 0.05, sprintf "cca p = %g" c.PValue)

[<Fact>]
let ``bad requests are refused with a message`` () =
    let x, y = Classical.bivariateNormal 0.5 50 1
    throwsNaming (fun () -> box (Independence.test "mine" EstimatorOptions.Default 9 x y)) [ "'ksg' and 'cca'"; "mine" ]
    throwsNaming (fun () -> box (Independence.test "ksg" EstimatorOptions.Default 0 x y)) [ "at least 1 permutation" ]
    let wide = Array2D.init 4 3 (fun i j -> float ((i + 1) * (j + 2) % 5) + float i * 0.1)
    throwsNaming (fun () -> box (Independence.test "cca" EstimatorOptions.Default 9 wide (Array2D.init 4 2 (fun i j -> float (i * i + j))))) [ "4 rows" ]
