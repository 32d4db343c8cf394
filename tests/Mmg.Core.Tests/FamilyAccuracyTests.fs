/// One short-budget MMG run per task family of the 40-task suite, through the estimator, against
/// the exact truth. The budget is the `quick` profile (600 + 300 steps, batch 128) on 10 000 rows
/// of seed 1, ≈ 12 s per task on one thread: a regression guard per family, not the accuracy
/// target (that is `mmg bench`, docs/accuracy.md). The tolerances come from the errors measured at
/// this budget on seeds 1–3 (docs/accuracy.md, "Tenth round: the per-family CI test"); the seed
/// is fixed and torch runs on one thread, so a run repeats its numbers on one machine, and the
/// margins leave room for floating-point differences between machines.
module Mmg.Core.Tests.FamilyAccuracyTests

open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

let rows = 10000
let seed = 1

/// The task, its rows for the seed, and the default MMG estimate on them at the quick budget
/// (MmgEstimatorTests.options: quick profile, 600 + 300 steps). Memoised by task: the Gaussian
/// pair is both a case and the map cases' reference, and it is trained once (no two tests of
/// this assembly run at once).
let private estimate =
    let made = System.Collections.Generic.Dictionary<string, BenchmarkTask * (float[,] * float[,]) * EstimatorResult>()
    fun (id: string) ->
        match made.TryGetValue id with
        | true, found -> found
        | _ ->
            let task = Tasks.find id
            let x, y = task.Sample rows seed
            let r = oneThread (fun () -> (MmgEstimator("mmg-debiased", MmgEstimatorTests.options seed 600) :> IMiEstimator).Estimate(x, y, null))
            made.[id] <- (task, (x, y), r)
            (task, (x, y), r)

/// The benchmark's per-seed rule, max(0.08, 0.15·truth).
let private perSeedTolerance (truth: float) = max 0.08 (0.15 * truth)

// Gaussian structure, and the half-cube's heavier symmetric tails (not mapped): already within
// the benchmark's per-seed rule at this budget (measured errors on seeds 1–3: 1×1 −0.02…−0.04,
// sparse 3×3 −0.04…−0.06, dense 5×5 −0.02…−0.03, sparse 25×25 and dense 50×50 (the linear base,
// ≥ 20 columns) −0.03…+0.02 and −0.11…+0.04, half-cube −0.03…−0.04; the rule allows
// 0.08 / 0.153 / 0.089 / 0.153 / 0.244 / 0.08).
[<Theory; Trait("Category", "Long")>]
[<InlineData("1v1-normal-0.75")>]
[<InlineData("multinormal-sparse-3-3-2-2.0")>]
[<InlineData("multinormal-dense-5-5-0.5")>]
[<InlineData("multinormal-sparse-25-25-2-2.0")>]
[<InlineData("multinormal-dense-50-50-0.5")>]
[<InlineData("half_cube-1v1-normal-0.75")>]
let ``Gaussian families and the half-cube: a short budget already meets the benchmark's per-seed rule`` (id: string) =
    let task, _, r = estimate id
    let tol = perSeedTolerance task.TrueMI
    Assert.True(abs (r.Estimate - task.TrueMI) <= tol,
                sprintf "%s: estimate %.4f ± %.4f, truth %.4f, allowed ± %.3f" id r.Estimate r.StdError task.TrueMI tol)

// Marginal maps of the same Gaussian rows (every transformed task draws its base task's rows for
// the seed and maps them): MI is invariant under them, so the estimate should be the Gaussian
// pair's own. For the columns `normal-scores=auto` maps (Φ, the bimodal quantiles, wiggly's x)
// the map nearly undoes the transform, and the measured gap to the Gaussian pair's estimate is
// at most 0.0042 nats (seeds 1–3; for Φ also two other estimator seeds on seed 1's rows), where
// a different estimator seed alone moves either estimate by up to 0.015: 0.02 holds the
// invariance, not a lucky draw. (At this budget the maps are not what makes it hold: with
// normal-scores=off the seed-1 gaps are 0.003–0.012. A map that distorted the dependence
// would break it.)
[<Theory; Trait("Category", "Long")>]
[<InlineData("normal_cdf-1v1-normal-0.75")>]
[<InlineData("1v1-bimodal-0.75")>]
[<InlineData("wiggly-1v1-normal-0.75")>]
let ``marginal maps of the Gaussian pair: the estimate is the Gaussian's own`` (id: string) =
    let _, _, baseline = estimate "1v1-normal-0.75"
    let task, _, r = estimate id
    Assert.True(abs (r.Estimate - baseline.Estimate) <= 0.02,
                sprintf "%s: estimate %.4f, the untransformed Gaussian rows %.4f (truth %.4f for both)" id r.Estimate baseline.Estimate task.TrueMI)

// Families this budget under-trains: the estimates are low by 0.05–0.11 nats (Cauchy 1×1
// −0.06…−0.10, additive uniform −0.05…−0.11, asinh-Cauchy −0.05…−0.08) or scatter both ways
// (swissroll −0.09…+0.09) on seeds 1–3, against truths of 0.22–0.41. The bound 0.15 catches a
// family that collapses (an estimate near 0 is 0.22–0.41 off) or doubles, not a drift of a few
// hundredths: that is the benchmark's job.
[<Theory; Trait("Category", "Long")>]
[<InlineData("student-identity-1-1-1")>]
[<InlineData("asinh-student-identity-1-1-1")>]
[<InlineData("1v1-additive-0.75")>]
[<InlineData("swissroll_x-normal_cdf-1v1-normal-0.75")>]
let ``heavy-tailed, bounded and embedded families: within 0.15 nats at a short budget`` (id: string) =
    let task, _, r = estimate id
    Assert.True(abs (r.Estimate - task.TrueMI) <= 0.15,
                sprintf "%s: estimate %.4f ± %.4f, truth %.4f, allowed ± 0.15" id r.Estimate r.StdError task.TrueMI)

// The spiral: a nonlinear, MI-preserving warp of the sparse 3×3 Gaussian. At this budget the
// network has learned less than half of it (0.44–0.46 of 1.02 on seeds 1–3; the full default
// budget reaches 0.87–0.92), but already far more than the linear answer on the same rows (CCA ≈ 0.24):
// the test asks for the nonlinear part (≥ CCA + 0.1) and no overshoot (≤ truth + the per-seed rule).
[<Fact; Trait("Category", "Long")>]
let ``spiral: the network sees dependence the linear answer misses, without overshooting`` () =
    let id = "spiral-multinormal-sparse-3-3-2-2.0"
    let task, (x, y), r = estimate id
    let linear = (Classical.cca EstimatorOptions.Default).Estimate(x, y, null)
    Assert.True(r.Estimate >= linear.Estimate + 0.1,
                sprintf "%s: MMG %.4f, CCA on the same rows %.4f (truth %.4f)" id r.Estimate linear.Estimate task.TrueMI)
    Assert.True(r.Estimate <= task.TrueMI + perSeedTolerance task.TrueMI,
                sprintf "%s: MMG %.4f overshoots the truth %.4f" id r.Estimate task.TrueMI)
