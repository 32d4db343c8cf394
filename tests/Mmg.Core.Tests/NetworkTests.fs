module Mmg.Core.Tests.NetworkTests

open System
open FsCheck.FSharp
open FsCheck.Xunit
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

/// n samples of the case's Gaussian as float32 tensors (x, y).
let private samples (c: GaussianCase) (n: int) =
    use cov = covTensor c
    use g = generator c.Seed
    let x, y = Gaussian.sample g n c.DimX cov
    use x = x
    use y = y
    x.``to`` torch.ScalarType.Float32, y.``to`` torch.ScalarType.Float32

/// A fresh network with the linear base fitted to (x, y); its trunk outputs zero.
let private baseNet (c: GaussianCase) (x: Tensor) (y: Tensor) =
    let net = new DenoiserNet({ Network.shape c.DimX c.DimY 16 with LinearBase = true })
    net.SetLinearBase(x, y) |> ignore
    net.ZeroTrunkOutput()
    net

// The linear base is the Gaussian oracle of the *sample* covariance. With 20 000 rows the sample
// covariance is within ≈ 1–2% of the true one, so the two predictions of ε (each of size ≈ 1)
// agree to 0.1 in max-norm over 500 rows; a wrong sign, a missing σ or α, or using Cov(X) where
// Cov(X|Y) belongs would be off by O(1).
[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 10, Replay = "(2026112930,1)")>]
let ``an untrained network with the linear base predicts ε as the Gaussian oracle does`` (c: GaussianCase) =
    let x, y = samples c 20000
    use x = x
    use y = y
    use net = baseNet c x y
    use cov = covTensor c
    let oracle = Gaussian.oracle c.DimX cov
    use g = generator (c.Seed + 1)
    use a = (torch.rand([| 500L |], generator = g) * 16.0 - 8.0).``to`` torch.ScalarType.Float32
    use eps = torch.randn([| 500L; int64 c.DimX |], generator = g)
    use xs = x.narrow (0L, 0L, 500L)
    use ys = y.narrow (0L, 0L, 500L)
    use z = Channel.noisy a eps xs
    let worst (yOpt: Tensor option) =
        use learned = Network.asDenoiser net z a yOpt
        use exact = oracle z a yOpt
        use d = learned.``to`` torch.ScalarType.Float64 - exact
        d.abs().max().item<float> ()
    let u, k = worst None, worst (Some ys)
    (u < 0.1 && k < 0.1) |@ sprintf "max |ε̂ − oracle|: unconditional %.4f, conditional %.4f" u k

// Through the estimator: the untrained network's MMSE gap is the Gaussian MI of the training
// sample, so Mmse.estimate on fresh rows lands on the closed form within 5 standard errors
// (plus 0.02 nats for the sample covariance and the James–Stein shrinkage, which is ≈ 1 here).
[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 6, Replay = "(2026112931,1)")>]
let ``the linear base alone estimates the Gaussian MI through Mmse.estimate`` (c: GaussianCase) =
    let x, y = samples c 20000
    use x = x
    use y = y
    use net = baseNet c x y
    use cov = covTensor c
    let truth = Gaussian.mutualInformation c.DimX cov
    let q = LogSnr.logistic 0.0 3.0 5.0
    let xt, yt = samples { c with Seed = c.Seed + 2 } 4000
    use xt = xt
    use yt = yt
    use g = generator (c.Seed + 3)
    let e = Mmse.estimate (Network.asDenoiser net) q g 4 4096 xt yt
    let ok = abs (e.Orthogonal.Mean - truth) <= 5.0 * e.Orthogonal.StdError + 0.02
    ok |@ sprintf "orthogonal %.4f ± %.4f, truth %.4f" e.Orthogonal.Mean e.Orthogonal.StdError truth

[<Fact>]
let ``the regression of the linear base is shrunk to nothing on independent data and kept on dependent data`` () =
    // Independent 10×10 Gaussians with 800 rows: least squares "explains" ≈ dy/n of the variance
    // by chance; the James–Stein factor must remove it (c < 0.3; it is 0 in most draws). A
    // correlation of 0.5 per pair explains 25% of the variance, far above chance: c > 0.9.
    use g = generator 41
    use x = torch.randn([| 800L; 10L |], generator = g)
    use y = torch.randn([| 800L; 10L |], generator = g)
    use net = new DenoiserNet({ Network.shape 10 10 16 with LinearBase = true })
    let cIndependent = net.SetLinearBase(x, y)
    Assert.True(cIndependent < 0.3, sprintf "shrinkage factor %.3f on independent data" cIndependent)
    use y2 = x * 0.5 + y * Math.Sqrt 0.75
    let cDependent = net.SetLinearBase(x, y2)
    Assert.True(cDependent > 0.9, sprintf "shrinkage factor %.3f on dependent data" cDependent)

[<Fact>]
let ``the linear base is saved and loaded with the weights`` () =
    use g = generator 42
    use x = torch.randn([| 400L; 2L |], generator = g)
    use y = x.narrow(1L, 0L, 1L) * 0.8 + torch.randn([| 400L; 1L |], generator = g) * 0.6
    use net = new DenoiserNet({ Network.shape 2 1 16 with LinearBase = true })
    net.SetLinearBase(x, y) |> ignore
    let path = IO.Path.GetTempFileName()
    try
        net.save path |> ignore
        use loaded = new DenoiserNet({ Network.shape 2 1 16 with LinearBase = true })
        loaded.load path |> ignore
        for a, b in Array.zip net.LinearBaseTensors loaded.LinearBaseTensors do
            Assert.True((a - b).abs().max().item<float32> () = 0.0f, "a linear-base tensor differs after save and load")
        Assert.False(loaded.LinearBaseTensors.[4].abs().max().item<float32> () = 0.0f, "the loaded regression is all zero")
    finally
        IO.File.Delete path

[<Fact>]
let ``the y embedding adds two layers after the shared ones, and y reaches the output through them`` () =
    // Drawn after the input projection and the trunk, so with the same seed the shared weights
    // are the plain network's (the default's draws do not move); its parameters are
    // Linear(dy + 1 → w) and Linear(w → w).
    let dx, dy, w = 2, 3, 16
    torch.random.manual_seed 7L |> ignore
    use plain = new DenoiserNet(Network.shape dx dy w)
    torch.random.manual_seed 7L |> ignore
    use embedded = new DenoiserNet({ Network.shape dx dy w with YEmbedding = true })
    Assert.Equal(plain.ParameterCount + int64 ((dy + 1) * w + w + w * w + w), embedded.ParameterCount)
    let named (n: DenoiserNet) = n.named_parameters () |> Seq.map (fun struct (k, v) -> k, v) |> Map.ofSeq
    let e = named embedded
    for KeyValue(k, v) in named plain do
        Assert.True(e.ContainsKey k, sprintf "%s missing with the y embedding" k)
        Assert.True((v - e.[k]).abs().max().item<float32> () = 0.0f, sprintf "%s drawn differently with the y embedding" k)
    // with the input projection's y columns zeroed, y moves the plain network's prediction not at
    // all and the embedded one's through the blocks
    for net in [ plain; embedded ] do
        use _ = torch.no_grad ()
        for (name, p) in named net |> Map.toSeq do
            if name.StartsWith "inProj.weight" then p.narrow(1L, int64 dx, int64 dy).zero_ () |> ignore
    use g = generator 44
    use z = torch.randn([| 64L; int64 dx |], generator = g)
    use a = torch.randn([| 64L |], generator = g)
    use y1 = torch.randn([| 64L; int64 dy |], generator = g)
    use y2 = torch.randn([| 64L; int64 dy |], generator = g)
    let moved (net: DenoiserNet) =
        use p1 = Network.asDenoiser net z a (Some y1)
        use p2 = Network.asDenoiser net z a (Some y2)
        (p1 - p2).abs().max().item<float32> ()
    Assert.Equal(0.0f, moved plain)
    Assert.True(moved embedded > 1e-4f, sprintf "y moved the embedded network's prediction by only %g" (moved embedded))

[<Fact>]
let ``input features are the centred mean squares (radial) or squares of z and y, and widen only the input layers`` () =
    use g = generator 45
    use z = torch.randn([| 8L; 3L |], generator = g)
    use y = torch.randn([| 8L; 2L |], generator = g)
    use _ = torch.NewDisposeScope()
    Assert.True(isNull (InputFeatures.compute PlainInput z y))
    let radial = InputFeatures.compute Radial z y
    Assert.Equal<int64[]>([| 8L; 2L |], radial.shape)
    let squares = InputFeatures.compute Squares z y
    Assert.Equal<int64[]>([| 8L; 5L |], squares.shape)
    let zs, ys = z.data<float32>().ToArray(), y.data<float32>().ToArray()
    for i in 0 .. 7 do
        let ms (v: float32[]) d = (Array.sumBy (fun u -> float u * float u) v.[i * d .. i * d + d - 1]) / float d - 1.0
        Assert.Equal(ms zs 3, float (radial.[int64 i, 0L].item<float32> ()), 5)
        Assert.Equal(ms ys 2, float (radial.[int64 i, 1L].item<float32> ()), 5)
        Assert.Equal(float zs.[i * 3 + 2] * float zs.[i * 3 + 2] - 1.0, float (squares.[int64 i, 2L].item<float32> ()), 5)
        Assert.Equal(float ys.[i * 2 + 1] * float ys.[i * 2 + 1] - 1.0, float (squares.[int64 i, 4L].item<float32> ()), 5)
    // each extra column adds one input weight per width unit, in the input projection and (for
    // y's columns) in the y embedding
    let w = 16
    use plain = new DenoiserNet({ Network.shape 3 2 w with YEmbedding = true })
    use withRadial = new DenoiserNet({ Network.shape 3 2 w with YEmbedding = true; InputFeatures = Radial })
    use withSquares = new DenoiserNet({ Network.shape 3 2 w with YEmbedding = true; InputFeatures = Squares })
    Assert.Equal(plain.ParameterCount + int64 ((2 + 1) * w), withRadial.ParameterCount)
    Assert.Equal(plain.ParameterCount + int64 ((5 + 2) * w), withSquares.ParameterCount)
    // and the networks run: one prediction of dim_x per row, with y present or absent
    for net in [ withRadial; withSquares ] do
        use p1 = Network.asDenoiser net z (torch.zeros([| 8L |])) (Some y)
        use p0 = Network.asDenoiser net z (torch.zeros([| 8L |])) None
        Assert.Equal<int64[]>([| 8L; 3L |], p1.shape)
        Assert.Equal<int64[]>([| 8L; 3L |], p0.shape)
    Assert.Throws<ArgumentException>(fun () -> InputFeatures.parse "cube" |> ignore) |> ignore
    Assert.Equal(PlainInput, InputFeatures.parse null)

[<Fact>]
let ``v-prediction outputs sigma times z plus alpha times the plain network's output`` () =
    // Two networks drawn from the same seed have the same weights (the flag adds none); with
    // v-prediction the output is σ·z + α·(what the plain network outputs), for y present and
    // absent. A missing α, σ in the wrong place or the skip on the wrong input is off by O(1).
    use g = generator 46
    use z = torch.randn([| 12L; 3L |], generator = g)
    use y = torch.randn([| 12L; 2L |], generator = g)
    use a = torch.linspace(-8.0, 8.0, 12L)
    torch.manual_seed 7L |> ignore
    use plain = new DenoiserNet({ Network.shape 3 2 16 with YEmbedding = true })
    torch.manual_seed 7L |> ignore
    use velocity = new DenoiserNet({ Network.shape 3 2 16 with YEmbedding = true; VPrediction = true })
    Assert.Equal(plain.ParameterCount, velocity.ParameterCount)
    use _ = torch.NewDisposeScope()
    let alpha, sigma = Channel.signalScale (a.unsqueeze 1L), Channel.noiseScale (a.unsqueeze 1L)
    for given in [ Some y; None ] do
        let p = Network.asDenoiser plain z a given
        let v = Network.asDenoiser velocity z a given
        let expected = sigma * z + alpha * p
        let err = (v - expected).abs().max().item<float32> ()
        Assert.True(err < 1e-5f, sprintf "v-prediction differs from σ·z + α·plain by %g" err)
        // the plain output is not itself σ·z, so the check above has something to tell apart
        Assert.True((p - sigma * z).abs().max().item<float32> () > 1e-2f)
    // a zero trunk leaves exactly the skip σ·z: the predictor of independent unit columns
    velocity.ZeroTrunkOutput()
    let v0 = Network.asDenoiser velocity z a (Some y)
    Assert.True((v0 - sigma * z).abs().max().item<float32> () < 1e-6f)

[<Fact>]
let ``the log-SNR density is not adapted to a gap below the threshold`` () =
    // Independent data: the linear base carries no dependence (shrinkage) and the trunk is zero,
    // so the preliminary gap is ≈ 0 and q must come back unchanged (no fit to noise).
    use g = generator 43
    use x = torch.randn([| 2000L; 4L |], generator = g)
    use y = torch.randn([| 2000L; 4L |], generator = g)
    use net = new DenoiserNet({ Network.shape 4 4 16 with LinearBase = true })
    net.SetLinearBase(x, y) |> ignore
    net.ZeroTrunkOutput()
    let q0 = LogSnr.paperDefault
    let q, top, bottom = MmgEstimator.AdaptDensity(net, q0, x, y, 32, 5)
    Assert.Equal(q0, q)
    Assert.False(top || bottom)
    // and a real dependence is adapted to
    use y2 = x * 0.8 + y * 0.6
    net.SetLinearBase(x, y2) |> ignore
    let q2, _, _ = MmgEstimator.AdaptDensity(net, q0, x, y2, 32, 5)
    Assert.NotEqual(q0, q2)

[<Fact>]
let ``the linear base is on by default from linearBaseMinColumns columns, and the option overrides it`` () =
    let withBase (v: string option) =
        { EstimatorOptions.Default with Extra = readOnlyDict [ match v with Some v -> "linear-base", v | None -> () ] }
    let n = Network.linearBaseMinColumns
    Assert.True(Network.useLinearBase (withBase None) n)
    Assert.False(Network.useLinearBase (withBase None) (n - 1))
    Assert.True(Network.useLinearBase (withBase (Some "auto")) n)
    Assert.False(Network.useLinearBase (withBase (Some "auto")) 2)
    Assert.True(Network.useLinearBase (withBase (Some "1")) 2)
    Assert.False(Network.useLinearBase (withBase (Some "0")) 50)
    Assert.Throws<ArgumentException>(fun () -> Network.useLinearBase (withBase (Some "yes")) 2 |> ignore) |> ignore
    // and the estimator records what it used
    let x = Array2D.init 400 1 (fun i _ -> sin (float i))
    let y = Array2D.init 400 1 (fun i _ -> cos (1.3 * float i))
    let r = (MmgEstimator("mmg", { EstimatorOptions.Default with Profile = "quick"; Steps = 20 }) :> IMiEstimator).Estimate(x, y, null)
    Assert.Equal("False", r.Settings.["linear_base"])

[<Fact>]
let ``MMG embeds y in every block when the option asks (not by default for one y column); MMG-CMI has no y embedding`` () =
    let x = Array2D.init 400 1 (fun i _ -> sin (float i))
    let y = Array2D.init 400 1 (fun i _ -> cos (1.3 * float i))
    let quick (extra: (string * string) list) = { EstimatorOptions.Default with Profile = "quick"; Steps = 20; Extra = readOnlyDict extra }
    let run extra = (MmgEstimator("mmg", quick extra) :> IMiEstimator).Estimate(x, y, null).Settings
    let on, off = run [ "y-embedding", "1" ], run []
    Assert.Equal("True", on.["y_embedding"])
    Assert.Equal("False", off.["y_embedding"])
    // Linear(dy + 1 → 64) and Linear(64 → 64) more: 2·64 + 64 + 64·64 + 64 = 4 352
    Assert.Equal(int64 off.["parameters"] + 4352L, int64 on.["parameters"])
    let z = Array2D.init 400 1 (fun i _ -> float (i % 7))
    let cmi = (CmiRegistry.create "mmg-cmi" (quick [])).Estimate(x, y, z, null)
    Assert.Equal("False", cmi.Settings.["y_embedding"])

[<Fact>]
let ``the y embedding is on by default from two y columns below 20 columns in all; the option overrides the rule`` () =
    let choice (value: string option) =
        Network.yEmbeddingChoice { EstimatorOptions.Default with Extra = readOnlyDict [ match value with Some v -> "y-embedding", v | None -> () ] }
    for dx, dy, expected in [ 1, 1, false; 3, 1, false; 2, 2, true; 1, 3, true; 5, 5, true; 9, 10, true; 10, 10, false; 25, 25, false ] do
        Assert.True((expected = Network.yEmbeddingFor (choice None) dx dy), sprintf "%d×%d: expected %b" dx dy expected)
    Assert.True(Network.yEmbeddingFor (choice (Some "auto")) 5 5)
    Assert.True(Network.yEmbeddingFor (choice (Some "1")) 25 25)
    Assert.True(Network.yEmbeddingFor (choice (Some "1")) 1 1)
    Assert.False(Network.yEmbeddingFor (choice (Some "0")) 5 5)
    let e = Assert.Throws<ArgumentException>(fun () -> choice (Some "yes") |> ignore)
    Assert.Contains("'yes'", e.Message)
    // and the estimator follows it: 2×2 rows get the embedding unless told otherwise
    let x = Array2D.init 400 2 (fun i j -> sin (float (i + 7 * j)))
    let y = Array2D.init 400 2 (fun i j -> cos (1.3 * float (i + 3 * j)))
    let run (extra: (string * string) list) =
        (MmgEstimator("mmg", { EstimatorOptions.Default with Profile = "quick"; Steps = 20; Extra = readOnlyDict extra }) :> IMiEstimator).Estimate(x, y, null).Settings
    Assert.Equal("True", (run []).["y_embedding"])
    Assert.Equal("False", (run [ "y-embedding", "0" ]).["y_embedding"])

/// Held-out evidence for the gate: four groups whose constant gap curves on `grid` have areas
/// area ± spread (so the standard error of the area is spread·√(4/3)/2).
let heldOut (grid: float[]) (area: float) (spread: float) =
    let width = grid.[grid.Length - 1] - grid.[0]
    let curve a = Array.create grid.Length (2.0 * a / width)
    Some { Grid = grid; Groups = [| curve (area + spread); curve (area - spread); curve (area + spread); curve (area - spread) |] }

[<Fact>]
let ``the adaptive density is gated by the held-out difference-form gap when there is one`` () =
    // a clear orthogonal gap (area ≈ 1 nat) on the training rows
    let q0 = LogSnr.paperDefault
    let lo, hi = LogSnr.range q0
    let grid = Array.init 64 (fun i -> lo + (hi - lo) * float i / 63.0)
    let og = grid |> Array.map (fun a -> 0.6 * exp (-0.5 * (a - 2.0) * (a - 2.0) / 4.0))
    Assert.True(AdaptiveDensity.area grid og > 0.5)
    let fitted, _, _ = AdaptiveDensity.fromGap q0 grid og
    Assert.NotEqual(q0, fitted)
    // the same gap, but the held-out difference form sees none (memorisation): q is kept
    let kept, top, bottom = AdaptiveDensity.fromGapGated q0 grid og (heldOut grid -0.3 0.05)
    Assert.Equal(q0, kept)
    Assert.False(top || bottom)
    // a held-out gap above the threshold but within two of its standard errors of 0 is noise
    // (a barely trained network on 80 held-out rows): q is kept
    let noisy, noisyTop, noisyBottom = AdaptiveDensity.fromGapGated q0 grid og (heldOut grid 0.5 1.0)
    Assert.Equal(q0, noisy)
    Assert.False(noisyTop || noisyBottom)
    Assert.False(AdaptiveDensity.passes (heldOut grid 0.01 0.0).Value)
    Assert.True(AdaptiveDensity.passes (heldOut grid 0.5 0.2).Value)
    // a significant held-out gap above the threshold, or no held-out rows: as fromGap
    let adapted, _, _ = AdaptiveDensity.fromGapGated q0 grid og (heldOut grid 0.5 0.05)
    Assert.Equal(fitted, adapted)
    let noRows, _, _ = AdaptiveDensity.fromGapGated q0 grid og None
    Assert.Equal(fitted, noRows)

[<Fact>]
let ``the range widens at an end only where the held-out gap is significant there`` () =
    // the training rows' orthogonal gap still rises at the top of q0's range (high MI, or a
    // network's own error at high log-SNR)
    let q0 = LogSnr.paperDefault
    let lo, hi = LogSnr.range q0
    let grid = Array.init 64 (fun i -> lo + (hi - lo) * float i / 63.0)
    let og = grid |> Array.map (fun a -> 0.2 + 0.05 * (a - lo))
    let _, top, bottom = AdaptiveDensity.fromGap q0 grid og
    Assert.True(top)
    Assert.True(bottom)
    // held-out groups agreeing on a positive gap everywhere: both ends widen
    let _, top1, bottom1 = AdaptiveDensity.fromGapGated q0 grid og (heldOut grid 1.0 0.05)
    Assert.True(top1 && bottom1)
    // held-out groups agreeing in the bulk but not in the top eighth (there the curves are
    // +0.3 and −0.3 in turn, mean 0): the bottom widens, the top does not
    let n = grid.Length
    let disagree =
        let h = (heldOut grid 1.0 0.05).Value
        { h with Groups = h.Groups |> Array.mapi (fun k c -> c |> Array.mapi (fun i v -> if i >= n - n / 8 then (if k % 2 = 0 then 0.3 else -0.3) else v)) }
    let (area, se) = AdaptiveDensity.heldOutArea disagree 0 (n - 1)
    Assert.True(area >= AdaptiveDensity.significance * se) // the gate itself still passes
    let q2, top2, bottom2 = AdaptiveDensity.fromGapGated q0 grid og (Some disagree)
    Assert.NotEqual(q0, q2)
    Assert.False(top2)
    Assert.True(bottom2)

[<Fact>]
let ``the training plan mixes the uniform into the adapted density only when it adapts`` () =
    // Scripted phases and gaps: the plan trains on the fixed q, then on what AdaptiveDensity
    // fitted, mixed with the defensive share of the uniform (LogSnr.defensive); a gated gap keeps
    // q as it is and mixes nothing.
    let q0 = LogSnr.paperDefault
    let lo, hi = LogSnr.range q0
    let grid = Array.init 64 (fun i -> lo + (hi - lo) * float i / 63.0)
    let og = grid |> Array.map (fun a -> 0.6 * exp (-0.5 * (a - 2.0) * (a - 2.0) / 4.0))
    let plan heldOut share =
        let trainedOn = Collections.Generic.List<LogSnrDensity * PhaseDensity>()
        let phase q kind steps _ _ =
            trainedOn.Add((q, kind))
            { SmoothedLoss = 0.0; Steps = steps; KeptStep = steps; ValidationLoss = nan }
        let outcome = TrainingPlan.run phase (fun _ _ -> grid, og, heldOut) ignore q0 100 50 share 1
        outcome, List.ofSeq trainedOn
    let fitted, _, _ = AdaptiveDensity.fromGap q0 grid og
    let mixed, phases = plan (heldOut grid 0.5 0.05) 0.2
    Assert.Equal(LogSnr.defensive fitted 0.2, mixed.AdaptiveQ)
    Assert.Equal<(LogSnrDensity * PhaseDensity) list>([ q0, FixedDensity; LogSnr.defensive fitted 0.2, FittedDensity ], phases)
    // without the mixture the plan still says the last density was fitted (so it trains plainly)
    let bare, barePhases = plan (heldOut grid 0.5 0.05) 0.0
    Assert.Equal(fitted, bare.AdaptiveQ)
    Assert.Equal<(LogSnrDensity * PhaseDensity) list>([ q0, FixedDensity; fitted, FittedDensity ], barePhases)
    let gated, gatedPhases = plan (heldOut grid -0.3 0.05) 0.2
    Assert.Equal(q0, gated.AdaptiveQ)
    Assert.Equal<(LogSnrDensity * PhaseDensity) list>([ q0, FixedDensity; q0, FixedDensity ], gatedPhases)
    // and the option is read and checked
    let opts (v: string) =
        let d = Collections.Generic.Dictionary<string, string>()
        d.["defensive-share"] <- v
        { EstimatorOptions.Default with Extra = d }
    Assert.Equal(0.2, DefensiveShareOption.read EstimatorOptions.Default)
    Assert.Equal(0.35, DefensiveShareOption.read (opts "0.35"))
    let ex = Assert.Throws<ArgumentException>(fun () -> DefensiveShareOption.read (opts "1") |> ignore)
    Assert.Contains("defensive-share", ex.Message)

[<Fact>]
let ``the training loss is plain only on a density fitted to the gap, unless the option says otherwise`` () =
    let opts (v: string option) =
        let d = Collections.Generic.Dictionary<string, string>()
        v |> Option.iter (fun v -> d.["train-weighted"] <- v)
        { EstimatorOptions.Default with Extra = d }
    let byDefault = TrainingWeights.read (opts None)
    Assert.True(TrainingWeights.weighted byDefault FixedDensity)
    Assert.True(TrainingWeights.weighted byDefault WideningDensity)
    Assert.False(TrainingWeights.weighted byDefault FittedDensity)
    Assert.True(TrainingWeights.weighted (TrainingWeights.read (opts (Some "1"))) FittedDensity)
    Assert.False(TrainingWeights.weighted (TrainingWeights.read (opts (Some "0"))) FixedDensity)
    let ex = Assert.Throws<ArgumentException>(fun () -> TrainingWeights.read (opts (Some "yes")) |> ignore)
    Assert.Contains("train-weighted", ex.Message)
    Assert.Contains("yes", ex.Message)

[<Fact>]
let ``a gated block multiplies its hidden features by one plus the gate, and its other weights are the plain block's`` () =
    // Same seed: the gate is drawn after the plain block's layers, so those are identical. With
    // the gate's weight zero and its bias c, the hidden features are scaled by 1 + c, so
    // gated − h − b₂ = (1 + c)·(plain − h − b₂) exactly (b₂ the output layer's bias); with c = 0
    // the two blocks agree, and a non-zero gate weight makes them differ.
    torch.manual_seed 11L |> ignore
    use plain = new ResidualBlock(16, 8)
    torch.manual_seed 11L |> ignore
    use gated = new ResidualBlock(16, 8, true)
    let named (m: torch.nn.Module) = m.named_parameters () |> Seq.map (fun struct (k, v) -> k, v) |> Map.ofSeq
    let p, q = named plain, named gated
    Assert.Equal(p.Count + 2, q.Count)
    for KeyValue (k, v) in p do
        Assert.True(v.allclose (q.[k], 0.0, 0.0), sprintf "%s differs" k)
    use g = generator 47
    use h = torch.randn([| 10L; 16L |], generator = g)
    use emb = torch.randn([| 10L; 16L |], generator = g)
    use _ = torch.NewDisposeScope()
    use nograd = torch.no_grad ()
    let out (m: ResidualBlock) = m.forward (h, emb)
    let b2 = p.["lin2.bias"].unsqueeze 0L
    let plainPart = out plain - h - b2
    let c = 0.25
    q.["gate.0.weight"].zero_ () |> ignore
    q.["gate.0.bias"].fill_ (c) |> ignore
    let err = ((out gated - h - b2) - plainPart * (1.0 + c)).abs().max().item<float32> ()
    Assert.True(err < 1e-5f, sprintf "gated output off (1 + c)·plain by %g" err)
    q.["gate.0.bias"].zero_ () |> ignore
    Assert.True((out gated - out plain).abs().max().item<float32> () < 1e-6f)
    // (a constant weight would not do: each GroupNorm group of GN(h) sums to zero)
    q.["gate.0.weight"].copy_ (torch.randn([| 16L; 16L |], generator = g)) |> ignore
    Assert.True((out gated - out plain).abs().max().item<float32> () > 1e-3f)

[<Fact>]
let ``without GroupNorm a block keeps each row's scale, which GroupNorm divides out; its weights are the GroupNorm block's`` () =
    // GroupNorm (two groups of eight) maps a row h and the same row scaled by 3 to the same
    // features (up to its ε = 1e-5 against group variances of order 1);
    // the scale-and-shift of norm=none maps them 3× apart. A block without GroupNorm has the
    // same parameters as one with it (same seed; the norms' scale and shift start at 1 and 0),
    // and its output is h + W₂·SiLU(W₁·SiLU(h) + T·emb) + biases exactly.
    use g = generator 53
    use h = torch.randn([| 10L; 16L |], generator = g)
    use emb = torch.randn([| 10L; 16L |], generator = g)
    use _ = torch.NewDisposeScope()
    use nograd = torch.no_grad ()
    use grouped = new FeatureGroupNorm(2, 16)
    use plainNorm = new FeatureGroupNorm(2, 16, false)
    let gap (a: torch.Tensor) (b: torch.Tensor) = (a - b).abs().max().item<float32> ()
    Assert.True(gap (grouped.forward (h * 3.0)) (grouped.forward h) < 1e-3f)
    Assert.True(gap (plainNorm.forward (h * 3.0)) (plainNorm.forward h * 3.0) < 1e-5f)
    Assert.True(gap (plainNorm.forward (h * 3.0)) (plainNorm.forward h) > 1.0f)
    torch.manual_seed 13L |> ignore
    use withNorm = new ResidualBlock(16, 8, false, true)
    torch.manual_seed 13L |> ignore
    use without = new ResidualBlock(16, 8, false, false)
    let named (m: torch.nn.Module) = m.named_parameters () |> Seq.map (fun struct (k, v) -> k, v) |> Map.ofSeq
    let p, q = named withNorm, named without
    Assert.Equal(p.Count, q.Count)
    for KeyValue (k, v) in p do
        Assert.True(v.allclose (q.[k], 0.0, 0.0), sprintf "%s differs" k)
    let linear (name: string) (x: torch.Tensor) = torch.nn.functional.linear (x, q.[name + ".weight"], q.[name + ".bias"])
    let silu (x: torch.Tensor) = torch.nn.functional.silu x
    let expected = h + linear "lin2" (silu (linear "lin1" (silu h) + linear "time" emb))
    Assert.True(gap (without.forward (h, emb)) expected < 1e-5f)
    Assert.True(gap (withNorm.forward (h, emb)) expected > 1e-2f)
