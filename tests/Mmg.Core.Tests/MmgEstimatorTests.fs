module Mmg.Core.Tests.MmgEstimatorTests

open System
open System.IO
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

let bivariate = array2D [ [ 1.0; 0.75 ]; [ 0.75; 1.0 ] ]

let gaussianSamples (seed: int) (n: int) (cov: float[,]) (dimX: int) =
    use c = Gaussian.ofArray2D cov
    use g = generator seed
    let x, y = Gaussian.sample g n dimX c
    use x = x
    use y = y
    Data.toArray2D x, Data.toArray2D y, Gaussian.mutualInformation dimX c

let options seed steps =
    { EstimatorOptions.Default with Seed = seed; Profile = "quick"; Steps = steps }

[<Fact>]
let ``denoiser training leaks no tensors: the live count stays flat over many steps`` () =
    let shape = Network.shape 2 1 16
    use net = new DenoiserNet(shape)
    use ema = new DenoiserNet(shape)
    use x = torch.randn(500L, 2L)
    use y = torch.randn(500L, 1L)
    let cfg = { BatchSize = 32; LearningRate = 1e-3; EmaDecay = 0.999; DropProbability = 0.5; PlateauPatience = 5; MinLearningRate = 1e-5 }
    use trainer = new DenoiserTrainer(net, ema, cfg, 3)
    for _ in 1 .. 10 do trainer.Step(x, y, LogSnr.paperDefault) |> ignore
    DisposeScopeManager.Statistics.Reset()
    for _ in 1 .. 20 do trainer.Step(x, y, LogSnr.paperDefault) |> ignore
    let after20 = DisposeScopeManager.Statistics.ThreadTotalLiveCount
    for _ in 1 .. 200 do trainer.Step(x, y, LogSnr.paperDefault) |> ignore
    let after220 = DisposeScopeManager.Statistics.ThreadTotalLiveCount
    Assert.True((after20 = after220), sprintf "live tensors: %d after 20 steps, %d after 220" after20 after220)
    Assert.True(trainer.LearningRate < 1e-3, "a patience of 5 steps should have halved the learning rate at least once")

[<Fact>]
let ``early stopping ends the phase once the held-out loss stops improving and keeps the best EMA weights`` () =
    // A scripted held-out loss (lowest at the 4th score) so the stopping point is known exactly;
    // the EMA weights at each score are recorded to check which ones are kept.
    let shape = Network.shape 1 1 8
    use net = new DenoiserNet(shape)
    use ema = new DenoiserNet(shape)
    use x = torch.randn(300L, 1L)
    use y = torch.randn(300L, 1L)
    let cfg = { BatchSize = 32; LearningRate = 1e-2; EmaDecay = 0.9; DropProbability = 0.5; PlateauPatience = 1000; MinLearningRate = 1e-5 }
    use trainer = new DenoiserTrainer(net, ema, cfg, 3)
    let script = [| 5.0; 4.0; 3.0; 2.0; 2.5; 2.1; 3.0; 4.0; 5.0; 6.0 |]
    let seen = Collections.Generic.List<float32[]>()
    let mutable calls = 0
    let loss () =
        seen.Add(ema.parameters () |> Seq.collect (fun p -> p.detach().flatten().data<float32>().ToArray()) |> Array.ofSeq)
        calls <- calls + 1
        script.[calls - 1]
    let outcome = trainer.Train(x, y, LogSnr.paperDefault, 1000, "test", null, { Every = 10; Patience = 3; Loss = loss })
    // best at score 4 (step 40); three scores without improvement (steps 50, 60, 70) end the phase
    Assert.Equal(70, outcome.Steps)
    Assert.Equal(40, outcome.KeptStep)
    Assert.Equal(2.0, outcome.ValidationLoss)
    let kept = ema.parameters () |> Seq.collect (fun p -> p.detach().flatten().data<float32>().ToArray()) |> Array.ofSeq
    let live = net.parameters () |> Seq.collect (fun p -> p.detach().flatten().data<float32>().ToArray()) |> Array.ofSeq
    Assert.Equal<float32[]>(seen.[3], kept)
    Assert.Equal<float32[]>(seen.[3], live)
    Assert.NotEqual<float32[]>(seen.[6], kept)

[<Fact; Trait("Category", "Long")>]
let ``on small independent data early stopping ends training before the network memorises the rows`` () =
    // 600 independent rows (2×2 Gaussian), a budget of 6000 + 3000 steps at batch 128: ≈ 1 800
    // passes over the 432 fitting rows. Memorisation shows as the two forms moving apart (model
    // error δ: difference ≈ I − E‖δ‖², orthogonal ≈ I + E‖δ‖²). Measured (seed 2): without early
    // stopping (validation=0) orthogonal − difference (adaptive) = 0.323; with it (patience 50)
    // the fixed phase ended at step 3 120 keeping step 120, the forms differ by −0.027, and
    // the debiased estimate is 0.018 ± 0.011.
    // These are with the linear base on (forced here: 4 columns are below the default's
    // threshold). Without it, early stopping with patience 50 still left orthogonal − difference
    // at 0.167 on these rows (patience 20: 0.0002) — an open point recorded in docs/accuracy.md.
    // Asserted: with early stopping the forms agree within 0.05 and the debiased estimate is
    // within max(0.05, 3 SE) of 0; without it they differ by more than 0.1 (so the data do
    // provoke memorisation and the first assertion can fail). GroupNorm is forced too: the
    // default network of 2×2 data has none (Network.groupNormFor), and it memorises these rows
    // far less — without early stopping its forms differ by only 0.013 — so it would not
    // provoke what this test is about.
    let rng = Random 17
    let gauss () = sqrt (-2.0 * log (1.0 - rng.NextDouble())) * cos (2.0 * Math.PI * rng.NextDouble())
    let x = Array2D.init 600 2 (fun _ _ -> gauss ())
    let y = Array2D.init 600 2 (fun _ _ -> gauss ())
    let run validation =
        let o = { options 2 6000 with Extra = readOnlyDict [ "validation", validation; "linear-base", "1"; "norm", "group" ] }
        (MmgEstimator("mmg-debiased", o) :> IMiEstimator).Estimate(x, y, null)
    let gap (r: EstimatorResult) =
        let v name = (r.Variants |> Array.find (fun v -> v.Name = name)).Estimate
        v "mmg-orthogonal-adaptive" - v "mmg-adaptive"
    let stopped = run "0.1"
    let full = run "0"
    Assert.True(int stopped.Settings.["fixed_steps_run"] < 6000, sprintf "the fixed-q phase ran all %s steps" stopped.Settings.["fixed_steps_run"])
    Assert.True(abs (gap stopped) <= 0.05, sprintf "early-stopped: orthogonal − difference = %.4f" (gap stopped))
    Assert.True(abs stopped.Estimate <= max 0.05 (3.0 * stopped.StdError), sprintf "early-stopped estimate %.4f ± %.4f on independent data" stopped.Estimate stopped.StdError)
    Assert.Equal("6000", full.Settings.["fixed_steps_run"])
    Assert.True(gap full > 0.1, sprintf "without early stopping: orthogonal − difference = %.4f" (gap full))

[<Fact>]
let ``common random numbers: a denoiser that ignores y gives a zero difference integrand on every row`` () =
    // Only true if both terms use the same (a, ε, z); with independent draws the rows would differ.
    let den: Denoiser = fun z a _ -> z * 0.5 + a.unsqueeze(1L) * 0.01
    use x = torch.randn([| 300L; 3L |], dtype = torch.ScalarType.Float64)
    use y = torch.randn([| 300L; 2L |], dtype = torch.ScalarType.Float64)
    use g = generator 4
    let d, o = Mmse.integrands den LogSnr.paperDefault g x y
    use d = d
    use o = o
    Assert.Equal(0.0, d.abs().max().item<float> ())
    Assert.Equal(0.0, o.abs().max().item<float> ())

[<Fact; Trait("Category", "Long")>]
let ``seeded MMG runs repeat exactly and all five variants are reported`` () =
    let x, y, _ = gaussianSamples 1 800 bivariate 1
    let run () = (MmgEstimator("mmg-orthogonal-adaptive", options 5 150) :> IMiEstimator).Estimate(x, y, null)
    let a, b = run (), run ()
    Assert.Equal<string[]>([| "mmg"; "mmg-adaptive"; "mmg-orthogonal"; "mmg-orthogonal-adaptive"; "mmg-debiased" |], a.Variants |> Array.map (fun v -> v.Name))
    for va, vb in Array.zip a.Variants b.Variants do
        Assert.Equal(va.Estimate, vb.Estimate)
        Assert.Equal(va.StdError, vb.StdError)
        Assert.True(Double.IsFinite va.Estimate && Double.IsFinite va.StdError, sprintf "%s is not finite" va.Name)
    Assert.Equal("mmg-orthogonal-adaptive", a.Estimator)
    Assert.True(a.Curves.IsSome)

[<Fact; Trait("Category", "Long")>]
let ``cross-fitted pointwise MI: one difference-form value per input row, from a model that did not train on it`` () =
    let x, y, _ = gaussianSamples 2 600 bivariate 1
    let est = MmgEstimator("mmg-orthogonal-adaptive", options 2 150)
    let r, model = est.EstimateWithModel(x, y, null, true)
    use _ = model
    Assert.Equal(600, r.Pointwise.Length)
    Assert.True(r.Pointwise |> Array.forall Double.IsFinite, "a row was left without a pointwise value")
    // pointwise values are the difference form: their mean is the pooled mmg-adaptive estimate
    let diff = r.Variants |> Array.find (fun v -> v.Name = "mmg-adaptive")
    Assert.Equal(diff.Estimate, Array.average r.Pointwise, 9)
    Assert.True(r.Pointwise |> Array.exists (fun v -> v < 0.0), "no negative pointwise value: the orthogonal integrand is being reported")
    Assert.Equal("5", r.Settings.["folds"])
    let i = r.Interval.Value
    Assert.Equal("forms+cross-fit-5", i.Method)
    Assert.True(i.Low <= r.Estimate && r.Estimate <= i.High && i.High - i.Low >= 2.0 * 1.96 * r.StdError - 1e-12,
                sprintf "interval [%g, %g] around %g ± %g" i.Low i.High r.Estimate r.StdError)
    // the interval brackets both forms of the headline's (adaptive) model, each with the margin
    let orth = r.Variants |> Array.find (fun v -> v.Name = "mmg-orthogonal-adaptive")
    let margin = 1.96 * r.StdError - 1e-12
    for form in [ diff; orth ] do
        Assert.True(i.Low <= form.Estimate - margin && form.Estimate + margin <= i.High,
                    sprintf "interval [%g, %g] does not bracket %s = %g ± %g" i.Low i.High form.Name form.Estimate margin)

[<Fact>]
let ``cross-fitting scores each row with the model of its fold only`` () =
    // Fold k's rows are the test rows of the model trained on the other folds (seed + k): scoring
    // them with that fold's model alone must reproduce their pointwise values exactly.
    let x, y, _ = gaussianSamples 5 500 bivariate 1
    let o = { options 4 100 with Extra = dict [ "folds", "2" ] |> Collections.Generic.Dictionary }
    let r, lastModel = MmgEstimator("mmg", o).EstimateWithModel(x, y, null, true)
    use lastModel = lastModel
    let folds = Data.folds 4 2 500
    let pick (rows: int[]) (m: float[,]) = Array2D.init rows.Length (Array2D.length2 m) (fun i j -> m.[rows.[i], j])
    let test = folds.[1]
    let ev = lastModel.Evaluate(pick test x, pick test y, MmgProfiles.quick.Repeats, 4 + 1 + 11, "mmg", 8)
    Assert.Equal<float[]>(ev.Pointwise, test |> Array.map (fun row -> r.Pointwise.[row]))

[<Fact; Trait("Category", "Long")>]
let ``the permutation test of independence: exact p-values, small under dependence, not small under independence`` () =
    // 99 permutations: the smallest possible p-value is 1/100. Strong dependence (ρ = 0.9)
    // must reach it; on independent data the statistic is not extreme among its permutations.
    // Seeds fixed: the independent case gave p ≈ 0.6 here; a p below 0.05 would fail (5% chance
    // for an arbitrary seed, so this seed is not cherry-picked beyond that).
    let strong = array2D [ [ 1.0; 0.9 ]; [ 0.9; 1.0 ] ]
    let x, y, _ = gaussianSamples 6 800 strong 1
    let _, model = MmgEstimator("mmg", options 7 150).EstimateWithModel(x, y, null, false)
    use model = model
    let xt, yt, _ = gaussianSamples 8 400 strong 1
    let p, t = model.PermutationTest(xt, yt, 99, 3)
    Assert.Equal(0.01, p, 12)
    Assert.True(t > 0.3, sprintf "statistic %g" t)
    let rng = Random(10)
    let xi = Array2D.init 400 1 (fun _ _ -> rng.NextDouble())
    let yi = Array2D.init 400 1 (fun _ _ -> rng.NextDouble())
    let pi, _ = model.PermutationTest(xi, yi, 99, 3)
    Assert.True(pi > 0.05, sprintf "p = %g on independent rows" pi)
    Assert.True(pi > 0.0 && pi <= 1.0 && Math.Abs(pi * 100.0 - Math.Round(pi * 100.0)) < 1e-9, "p-value not of the form k/100")

[<Fact>]
let ``a saved model loads and gives the same estimates without retraining`` () =
    let x, y, _ = gaussianSamples 2 600 bivariate 1
    let est = MmgEstimator("mmg-orthogonal-adaptive", options 3 100)
    let _, model = est.EstimateWithModel(x, y, null, false)
    use model = model
    let dir = Path.Combine(Path.GetTempPath(), sprintf "mmg-model-%d" Environment.ProcessId)
    model.Save dir
    use loaded = MmgModel.Load(dir, torch.CPU)
    let a = model.Evaluate(x, y, 2, 7, "mmg", 8)
    let b = loaded.Evaluate(x, y, 2, 7, "mmg", 8)
    Assert.Equal(a.MmgOrthogonalAdaptive.Mean, b.MmgOrthogonalAdaptive.Mean)
    Assert.Equal(a.Mmg.Mean, b.Mmg.Mean)
    Assert.Equal<float[]>(a.Pointwise, b.Pointwise)
    Assert.Equal(model.AdaptiveQ, loaded.AdaptiveQ)
    Directory.Delete(dir, true)

[<Fact; Trait("Category", "Long")>]
let ``a short MMG run on the bivariate normal is close to the truth`` () =
    // Budget: 2500 + 1250 steps, batch 128, 4000 rows (≈ 15 s on one thread). Measured at this
    // budget over seeds 1–4: the orthogonal-adaptive estimate was 0.336–0.369 (standard error
    // ≈ 0.015), i.e. conservative by 0.045–0.078 nats, as the orthogonal form is when the
    // denoisers are under-trained (paper, App. D); the difference-form adaptive estimate was
    // 0.341–0.514 with standard error ≈ 0.056 and no systematic bias. So we assert:
    // orthogonal: truth − 0.12 ≤ estimate ≤ truth + 4 SE (0.12 = worst seen bias + 3 SE);
    // difference: |estimate − truth| ≤ 4 SE (its own standard error).
    let x, y, truth = gaussianSamples 11 4000 bivariate 1
    let r = (MmgEstimator("mmg-orthogonal-adaptive", { options 1 2500 with BatchSize = 128 }) :> IMiEstimator).Estimate(x, y, null)
    Assert.True(r.Estimate >= truth - 0.12 && r.Estimate <= truth + 4.0 * r.StdError, sprintf "orthogonal %.4f ± %.4f, truth %.4f" r.Estimate r.StdError truth)
    let d = r.Variants |> Array.find (fun v -> v.Name = "mmg-adaptive")
    Assert.True(abs (d.Estimate - truth) <= 4.0 * d.StdError, sprintf "difference %.4f ± %.4f, truth %.4f" d.Estimate d.StdError truth)

[<Fact>]
let ``a barely trained network does not widen the log-SNR range on noise`` () =
    // 100 quick steps on 1 000 rows of the 0.41-nat pair: the preliminary network's gap at the ends
    // of the range is its own error. Before the held-out end gate (AdaptiveDensity.endSignificant)
    // this seeded run widened the range three times to logistic(−10.6, 44.9) and the default read
    // 5.50 ± 1.97 nats. Now no widening round runs and the default stays within 0.3 nats of the
    // truth (its standard error here is ≈ 0.09; 0.3 ≈ 3 s.e.).
    let task = Tasks.find "1v1-normal-0.75"
    let x, y = task.Sample 1000 3
    let r = (MmgEstimator("mmg-debiased", options 3 100) :> IMiEstimator).Estimate(x, y, null)
    Assert.Equal("0", r.Settings.["range_widening_rounds"])
    Assert.True(abs (r.Estimate - task.TrueMI) < 0.3, sprintf "%.4f ± %.4f, truth %.4f" r.Estimate r.StdError task.TrueMI)
    Assert.Contains("±", r.Settings.["held_out_gap"])

[<Fact>]
let ``an estimator-specific option the estimator does not read is refused, naming it and the ones it reads`` () =
    let withExtra (pairs: (string * string) list) = { EstimatorOptions.Default with Extra = readOnlyDict pairs }
    let refused (make: unit -> obj) (key: string) (mentions: string list) =
        let e = Assert.Throws<ArgumentException>(fun () -> make () |> ignore)
        Assert.Contains(sprintf "'%s'" key, e.Message)
        for m in mentions do Assert.Contains(m, e.Message)
    refused (fun () -> box (MmgEstimator("mmg-debiased", withExtra [ "widht", "16" ]))) "widht" [ "width"; "validation"; "folds" ]
    refused (fun () -> box (Registry.create "ksg" (withExtra [ "k", "3"; "width", "16" ]))) "width" [ "ksg"; "allow-discrete" ]
    refused (fun () -> box (Registry.create "cca" (withExtra [ "k", "3" ]))) "k" [ "no estimator-specific options" ]
    refused (fun () -> box (Registry.create "minde-c" (withExtra [ "folds", "5" ]))) "folds" [ "adapt-steps" ]
    refused (fun () -> box (Registry.create "infonce" (withExtra [ "hiden", "8" ]))) "hiden" [ "hidden" ]
    refused (fun () -> box (CmiRegistry.create "mmg-cmi-debiased" (withExtra [ "folds", "5" ]))) "folds" [ "patience" ]
    refused (fun () -> box (CmiRegistry.create "mmg-cmi-debiased" (withExtra [ "y-embedding", "1" ]))) "y-embedding" [ "blocks" ]
    refused (fun () -> box (CmiRegistry.create "mmg-cmi-debiased" (withExtra [ "input-features", "radial" ]))) "input-features" [ "blocks" ]
    refused (fun () -> box (CmiRegistry.create "mmg-cmi-debiased" (withExtra [ "v-prediction", "1" ]))) "v-prediction" [ "blocks" ]
    refused (fun () -> box (MmgEstimator("mmg-debiased", withExtra [ "y-embedding", "2" ]))) "y-embedding" [ "1 (on), 0 (off) or auto" ]
    refused (fun () -> box (MmgEstimator("mmg-debiased", withExtra [ "input-features", "cubes" ]))) "input-features" [ "plain, radial or squares"; "'cubes'" ]
    refused (fun () -> box (CmiRegistry.create "ksg-cmi" (withExtra [ "ks", "3,5" ]))) "ks" [ "k" ]
    // the keys each reads are accepted
    MmgEstimator("mmg-debiased", withExtra [ for k in MmgEstimator.OptionKeys -> k, (match k with "validation" | "defensive-share" | "drop-probability" | "ema-decay" | "weight-decay" -> "0.2" | "normal-scores" -> "16" | "input-features" -> "radial" | "stop-score" -> "conditional" | "norm" -> "none" | _ -> "1") ]) |> ignore
    // and a value out of range is refused when the estimator is made, before anything trains
    for key, value, says in [ "validation", "0.7", "[0, 0.5)"; "normal-scores", "1", "at least 2 knots"; "normal-scores", "gaussian", "auto, off (0)"; "patience", "0", "at least 1"
                              "defensive-share", "1", "[0, 1)"; "train-weighted", "yes", "1, 0 or adapted"; "linear-base", "on", "1 (on), 0 (off) or auto (on from 20 columns)"
                              "drop-probability", "1", "[0, 1)"; "width", "-8", "at least 0"; "repeats", "0", "at least 1"; "adapt-steps", "0", "at least 1"
                              "blocks", "0", "at least 1"; "plateau-patience", "0", "at least 1 step"; "overtime", "-1", "[0, 10]"
                              "ema-decay", "1", "[0, 1)"; "weight-decay", "-0.1", "[0, 1)"; "stop-score", "sum", "both or conditional"; "norm", "layer", "group, none or auto" ] do
        refused (fun () -> box (MmgEstimator("mmg-debiased", withExtra [ key, value ]))) key [ says ]
        refused (fun () -> box (CmiRegistry.create "mmg-cmi-debiased" (withExtra [ key, value ]))) key [ says ]
    Registry.create "ksg" (withExtra [ "k", "3"; "allow-discrete", "true" ]) |> ignore
    // a former (camelCase) name is read as its new one; both together are refused
    refused (fun () -> box (Registry.create "ksg" (withExtra [ "allowDiscrete", "true"; "allow-discrete", "true" ]))) "allowDiscrete" [ "former name of 'allow-discrete'" ]
    Assert.Equal<string[]>([| "evalEvery → eval-every" |], Estimation.renamedIn (readOnlyDict [ "evalEvery", "5"; "hidden", "8" ]))

[<Fact>]
let ``option plateau-patience sets how long the smoothed loss may stall before the learning rate halves`` () =
    // 80 + 40 steps of the quick profile (learning rate 2e-3): with a patience of one step the
    // noisy smoothed loss stalls often and the rate is halved many times; with a patience longer
    // than the run it is never halved. The settings record the patience used.
    let x, y, _ = gaussianSamples 4 600 bivariate 1
    let run (patience: string option) =
        let extra = [ yield "validation", "0"; match patience with Some p -> yield "plateau-patience", p | None -> () ]
        (MmgEstimator("mmg", { options 4 80 with Extra = readOnlyDict extra }) :> IMiEstimator).Estimate(x, y, null).Settings
    let impatient, patient, standard = run (Some "1"), run (Some "100000"), run None
    Assert.Equal("1", impatient.["plateau_patience"])
    Assert.Equal("100000", patient.["plateau_patience"])
    Assert.Equal(string MmgProfiles.quick.PlateauPatience, standard.["plateau_patience"])
    let finalRate (s: Collections.Generic.IReadOnlyDictionary<string, string>) = float s.["final_learning_rate"]
    Assert.Equal(2e-3, finalRate patient, 12)
    Assert.True(finalRate impatient < 2e-3 / 4.0, sprintf "final rate %g with patience 1" (finalRate impatient))

[<Fact>]
let ``options ema-decay and weight-decay reach the fit and are recorded`` () =
    // 80 + 40 quick steps: each option changes the trained EMA weights and so the estimate (an
    // option that did not reach the fit would leave it bit for bit the default's), and the
    // settings record the values used. The EMA's warm-up, min(decay, (1 + t)/(10 + t)), is below
    // 0.99 for the first 890 steps, so only a decay below it can show in so short a run.
    let x, y, _ = gaussianSamples 4 600 bivariate 1
    let run (extra: (string * string) list) =
        let r = (MmgEstimator("mmg", { options 4 80 with Extra = readOnlyDict (("validation", "0") :: extra) }) :> IMiEstimator).Estimate(x, y, null)
        r.Estimate, r.Settings
    let plain, sp = run []
    let decayed, sd = run [ "weight-decay", "0.3" ]
    let fast, se = run [ "ema-decay", "0.5" ]
    Assert.Equal("0", sp.["weight_decay"])
    Assert.Equal(string MmgProfiles.quick.EmaDecay, sp.["ema_decay"])
    Assert.Equal("0.3", sd.["weight_decay"])
    Assert.Equal("0.5", se.["ema_decay"])
    Assert.NotEqual(plain, decayed)
    Assert.NotEqual(plain, fast)

[<Fact>]
let ``option norm chooses GroupNorm or none in the network, reaches the fit and is recorded`` () =
    // 80 + 40 quick steps on a bivariate Gaussian: norm=group and norm=none train networks that
    // differ only in their normalisation (same seed, same initial weights), so the estimates
    // differ; the settings name the normalisation used.
    let x, y, _ = gaussianSamples 4 600 bivariate 1
    let run (norm: string) =
        let r = (MmgEstimator("mmg", { options 4 80 with Extra = readOnlyDict [ "validation", "0"; "norm", norm ] }) :> IMiEstimator).Estimate(x, y, null)
        r.Estimate, r.Settings
    let grouped, sg = run "group"
    let plain, sn = run "none"
    Assert.Equal("group", sg.["norm"])
    Assert.Equal("none", sn.["norm"])
    Assert.NotEqual(grouped, plain)

[<Fact>]
let ``option stop-score=conditional scores early stopping on the conditional held-out loss alone`` () =
    // The conditional loss alone is a different score from the sum, so over the scores of a
    // 200-step phase (one every 10 steps) the two pick their kept steps by different curves
    // (seeded: here they differ); the settings name the score used, and the default is the sum.
    let x, y, _ = gaussianSamples 4 600 bivariate 1
    let run (extra: (string * string) list) =
        (MmgEstimator("mmg", { options 4 200 with Extra = readOnlyDict extra }) :> IMiEstimator).Estimate(x, y, null).Settings
    let both, cond = run [], run [ "stop-score", "conditional" ]
    Assert.Equal("both", both.["stop_score"])
    Assert.Equal("conditional", cond.["stop_score"])
    let kept (s: Collections.Generic.IReadOnlyDictionary<string, string>) = s.["fixed_step_kept"], s.["adapt_step_kept"]
    Assert.NotEqual(kept both, kept cond)

[<Fact>]
let ``option overtime lets the phases of a still-improving fit run past their budgets`` () =
    // 40 + 20 quick steps are far too few for the network, so its held-out score is still
    // improving when each budget ends: with overtime 1 both phases go on (up to 80 and 40 steps),
    // without it they end at their budgets. The settings record the share and the steps run.
    let x, y, _ = gaussianSamples 5 600 bivariate 1
    let run (overtime: string) =
        (MmgEstimator("mmg", { options 5 40 with Extra = readOnlyDict [ "overtime", overtime ] }) :> IMiEstimator).Estimate(x, y, null).Settings
    let plain, over = run "0", run "1"
    Assert.Equal(("40", "20"), (plain.["fixed_steps_run"], plain.["adapt_steps_run"]))
    Assert.Equal("1", over.["overtime"])
    Assert.True(int over.["fixed_steps_run"] > 40 && int over.["fixed_steps_run"] <= 80, over.["fixed_steps_run"])
    Assert.True(int over.["adapt_steps_run"] <= 40, over.["adapt_steps_run"])

[<Fact>]
let ``overtime is the profile's unless given: on in the default profile, off in quick and paper and for MMG-CMI`` () =
    let withOvertime (profile: string) (given: string option) =
        { EstimatorOptions.Default with
            Profile = profile
            Extra = readOnlyDict [ match given with Some v -> yield "overtime", v | None -> () ] }
    let resolved profile given = (MmgProfiles.resolve (withOvertime profile given) 3 3).Overtime
    Assert.Equal(1.0, resolved "default" None)
    Assert.Equal(0.0, resolved "quick" None)
    Assert.Equal(0.0, resolved "paper" None)
    Assert.Equal(0.0, resolved "default" (Some "0"))
    Assert.Equal(2.5, resolved "quick" (Some "2.5"))
    // MMG-CMI: measured for MI only, so off unless given
    Assert.Equal(0.0, (CmiEstimator.Profile(withOvertime "default" None, 1, 1, 1)).Overtime)
    Assert.Equal(1.0, (CmiEstimator.Profile(withOvertime "default" (Some "1"), 1, 1, 1)).Overtime)
    // through the estimator: 40 + 20 steps of the default profile are far too few, so with no
    // option a phase still improving at its budget goes on past it, and the settings say why
    let x, y, _ = gaussianSamples 5 600 bivariate 1
    let settings = (MmgEstimator("mmg", { EstimatorOptions.Default with Seed = 5; Steps = 40 }) :> IMiEstimator).Estimate(x, y, null).Settings
    Assert.Equal("1", settings.["overtime"])
    Assert.True(int settings.["fixed_steps_run"] > 40 && int settings.["fixed_steps_run"] <= 80, settings.["fixed_steps_run"])

[<Fact>]
let ``a former option name gives the result of its new name`` () =
    // Discrete independent columns (3 × 4 values): refused by KSG unless allow-discrete is set,
    // under either name, and the two names give the same estimate.
    let rng = Random 5
    let x = Array2D.init 600 1 (fun _ _ -> float (rng.Next 3))
    let y = Array2D.init 600 1 (fun _ _ -> float (rng.Next 4))
    let run key = (Registry.create "ksg" { EstimatorOptions.Default with Extra = readOnlyDict [ key, "true" ] }).Estimate(x, y, null).Estimate
    let now, former = run "allow-discrete", run "allowDiscrete"
    Assert.Equal(now, former)
    Assert.Throws<ArgumentException>(fun () -> (Registry.create "ksg" EstimatorOptions.Default).Estimate(x, y, null) |> ignore) |> ignore

[<Fact>]
let ``bad input to the MMG estimator raises ArgumentException naming the problem`` () =
    let x, y, _ = gaussianSamples 3 300 bivariate 1
    let est = MmgEstimator("mmg", options 1 10) :> IMiEstimator
    x.[17, 0] <- Double.NaN
    let e = Assert.Throws<ArgumentException>(fun () -> est.Estimate(x, y, null) |> ignore)
    Assert.Contains("row 17", e.Message)
    let few = Array2D.init 50 1 (fun i _ -> float i)
    let e2 = Assert.Throws<ArgumentException>(fun () -> est.Estimate(few, Array2D.init 50 1 (fun i _ -> float (i * i)), null) |> ignore)
    Assert.Contains("batch size", e2.Message)
    let e3 = Assert.Throws<ArgumentException>(fun () -> MmgEstimator("mmg-fast", EstimatorOptions.Default) |> ignore)
    Assert.Contains("mmg-fast", e3.Message)
