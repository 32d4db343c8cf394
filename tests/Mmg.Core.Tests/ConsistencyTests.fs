module Mmg.Core.Tests.ConsistencyTests

open System
open System.Collections.Generic
open System.IO
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Experiments
open Mmg.Core.Tests.Generators

/// A cheap stand-in for a real estimator: the Gaussian (CCA) plug-in MI of the sample covariance
/// of [x, y], ½(log det Sxx + log det Syy − log det S), with a tiny ridge so near-collinear codes
/// stay finite. It counts its calls, so the tests can see which MI values were estimated.
type GaussianPlugIn() =
    let mutable calls = 0
    member _.Calls = calls
    interface IMiEstimator with
        member _.Name = "gaussian-plugin"
        member _.Estimate(x: float[,], y: float[,], _progress: Action<TrainingProgress>) =
            calls <- calls + 1
            Data.validate 10 x y
            let n, dx, dy = Array2D.length1 x, Array2D.length2 x, Array2D.length2 y
            let d = dx + dy
            let v i j = if j < dx then x.[i, j] else y.[i, j - dx]
            let mean = Array.init d (fun j -> (Seq.sum (seq { for i in 0 .. n - 1 -> v i j })) / float n)
            let cov =
                Array2D.init d d (fun a b ->
                    let s = Seq.sum (seq { for i in 0 .. n - 1 -> (v i a - mean.[a]) * (v i b - mean.[b]) })
                    s / float (n - 1))
            let ridge = 1e-6 * (Seq.average (seq { for j in 0 .. d - 1 -> cov.[j, j] }))
            for j in 0 .. d - 1 do cov.[j, j] <- cov.[j, j] + ridge
            use c = Gaussian.ofArray2D cov
            { Estimator = "gaussian-plugin"
              Estimate = Gaussian.mutualInformation dx c
              StdError = Double.NaN
              Seconds = 0.0
              Variants = [||]
              Curves = None
              Pointwise = [||]
              Interval = None
              IndependencePValue = nan
              Settings = Estimation.settings [] }

/// The plug-in for its first `n` calls, then failing, as a run stopped midway would.
type StopsAfter(n: int) =
    let inner = GaussianPlugIn()
    member _.Calls = inner.Calls
    interface IMiEstimator with
        member _.Name = "gaussian-plugin"
        member _.Estimate(x, y, progress) =
            if inner.Calls >= n then raise (OperationCanceledException "stopped")
            (inner :> IMiEstimator).Estimate(x, y, progress)

/// An estimator that always fails, as a broken one would.
type Failing() =
    interface IMiEstimator with
        member _.Name = "failing"
        member _.Estimate(_x, _y, _progress) = invalidArg "x" "this estimator always fails"

let tempDir () = IdxTests.tempDir ()

/// A small synthetic data set written as IDX and a config that trains tiny autoencoders on it.
let syntheticConfig (count: int) =
    let dir = tempDir ()
    let path = Path.Combine(dir, "strokes-idx3-ubyte")
    use images = Consistency.synthetic 11 count
    Idx.writeImages path images
    { ConsistencyConfig.Quick with
        ImagesPath = path
        Count = count
        Rows = [| 8; 16; 28 |]
        K = 4
        Latent = 4
        AeSteps = 30
        Seed = 5
        CacheDir = Path.Combine(dir, "autoencoders") }

/// Records the phases that reported progress.
let recorder () =
    let phases = List<string>()
    phases, Action<TrainingProgress>(fun p -> lock phases (fun () -> phases.Add p.Phase))

[<Fact>]
let ``crop keeps rows above r and zeroes exactly the rows from r on`` () =
    use g = new torch.Generator(3UL)
    use images = torch.rand([| 2L; 28L; 28L |], generator = g) + 0.1f
    for r in 0 .. 28 do
        use c = Consistency.crop r images
        Assert.Equal<int64[]>(images.shape, c.shape)
        let values = c.data<float32>().ToArray()
        let original = images.data<float32>().ToArray()
        for k in 0 .. values.Length - 1 do
            let row = (k / 28) % 28
            if row < r then Assert.Equal(original.[k], values.[k])
            else Assert.Equal(0.0f, values.[k])

[<Fact>]
let ``crop rejects r outside 0..rows and names the shape`` () =
    use images = torch.zeros([| 1L; 28L; 28L |])
    let ex = Assert.Throws<ArgumentException>(fun () -> Consistency.crop 29 images |> ignore)
    Assert.Contains("[1;28;28]", ex.Message)

[<Fact>]
let ``synthetic strokes are seeded, lie in 0..1 and vary in their top rows`` () =
    use a = Consistency.synthetic 4 50
    use b = Consistency.synthetic 4 50
    Assert.Equal<int64[]>([| 50L; 28L; 28L |], a.shape)
    Assert.Equal<float32[]>(a.data<float32>().ToArray(), b.data<float32>().ToArray())
    Assert.True((a.min()).item<float32> () >= 0.0f && (a.max()).item<float32> () <= 1.0f)
    // Rows 0..7 carry something that differs between images (else B_8 would be a constant).
    use top = a.narrow(1L, 0L, 8L).reshape(50L, -1L)
    use spread = top.std(0L).max ()
    Assert.True(spread.item<float32> () > 0.05f, sprintf "top rows barely vary: %g" (spread.item<float32> ()))

[<Fact>]
let ``a cached autoencoder is loaded, not retrained, and encodes the same`` () =
  oneThread <| fun () ->
    let config = syntheticConfig 200
    use images = Idx.loadImages config.Count config.ImagesPath
    let hash = Consistency.imageHash images
    use flat = images.reshape(200L, 784L)
    let phases, progress = recorder ()
    let first =
        use model = Consistency.autoencoder config hash None progress images
        Consistency.encode model flat
    Assert.Contains("autoencoder A", phases)
    Assert.True(File.Exists(Consistency.cachePath config "A" hash))
    phases.Clear()
    let second =
        use model = Consistency.autoencoder config hash None progress images
        Consistency.encode model flat
    Assert.Empty(phases)
    Assert.Equal<float[,]>(first, second)
    Assert.Equal(4, Array2D.length2 first)
    // Other images (a different hash) do not hit that cache entry.
    Assert.NotEqual<string>(Consistency.cachePath config "A" hash, Consistency.cachePath config "A" "000000000000")

[<Fact>]
let ``the pipeline on synthetic images gives finite ratios with the right ideals and reuses shared estimates`` () =
  oneThread <| fun () ->
    let config = syntheticConfig 400
    let estimator = GaussianPlugIn()
    let phases, progress = recorder ()
    let rows = Consistency.run "all" estimator config progress
    for row in rows do
        Assert.True(String.IsNullOrEmpty row.Error, row.Error)
        Assert.True(Double.IsFinite row.Ratio && Double.IsFinite row.Numerator && Double.IsFinite row.Denominator, sprintf "%A" row)
        Assert.True(row.Numerator > 0.0 && row.Denominator > 0.0, sprintf "%A" row)
        Assert.Equal("gaussian-plugin", row.Estimator)
    let baseline = rows |> Array.filter (fun r -> r.Test = "baseline")
    let dpi = rows |> Array.filter (fun r -> r.Test = "dpi")
    let additivity = rows |> Array.filter (fun r -> r.Test = "additivity")
    Assert.Equal<int[]>([| 8; 16; 28 |], baseline |> Array.map (fun r -> r.R))
    Assert.Equal(1.0, baseline.[2].Ratio)
    Assert.Equal(1.0, baseline.[2].Ideal)
    Assert.True(Double.IsNaN baseline.[0].Ideal && Double.IsNaN baseline.[1].Ideal)
    // r = 28 has no B_{32}: dpi runs for 8 and 16 only.
    Assert.Equal<int[]>([| 8; 16 |], dpi |> Array.map (fun r -> r.R))
    Assert.All(dpi, fun r -> Assert.Equal(1.0, r.Ideal); Assert.Equal(4, r.K))
    Assert.Equal<int[]>([| 8; 16; 28 |], additivity |> Array.map (fun r -> r.R))
    Assert.All(additivity, fun r -> Assert.Equal(2.0, r.Ideal))
    // The plug-in cannot lose information by adding regressors: its dpi ratio is >= 1.
    Assert.All(dpi, fun r -> Assert.True(r.Ratio >= 1.0 - 1e-9, sprintf "%A" r))
    // 3 baseline values, 2 dpi numerators + I(A;B_12), I(A;B_20), 3 × 2 additivity values.
    Assert.Equal(13, estimator.Calls)
    // One autoencoder each for A, B_8, B_12, B_16, B_20, B_28.
    Assert.Equal(6, phases |> Seq.filter (fun p -> p.StartsWith "autoencoder") |> Seq.distinct |> Seq.length)
    // A second run trains nothing.
    phases.Clear()
    let again = Consistency.run "baseline" (GaussianPlugIn()) config progress
    Assert.DoesNotContain(phases, fun p -> p.StartsWith "autoencoder")
    Assert.Equal<float[]>(baseline |> Array.map (fun r -> r.Ratio), again |> Array.map (fun r -> r.Ratio))

[<Fact>]
let ``kept estimates resume a stopped call and are shared between tests; failures are not kept`` () =
  oneThread <| fun () ->
    // rows 8 and 12 with K = 4: dpi at r = 8 divides by I(A; B_12), which the baseline has
    let plain = { syntheticConfig 300 with Rows = [| 8; 12; 28 |] }
    let config = { plain with EstimatesDir = Path.Combine(tempDir (), "estimates") }
    let ratios (rows: ConsistencyRow[]) = rows |> Array.map (fun r -> r.Ratio)
    let reference = Consistency.run "all" (GaussianPlugIn()) plain null
    let expected test = reference |> Array.filter (fun r -> r.Test = test) |> ratios
    let first = GaussianPlugIn()
    Assert.Equal<float[]>(expected "baseline", ratios (Consistency.run "baseline" first config null))
    Assert.Equal(3, first.Calls)
    // dpi estimates its two numerators and I(A; B_16), and reads I(A; B_12) back
    let second = GaussianPlugIn()
    Assert.Equal<float[]>(expected "dpi", ratios (Consistency.run "dpi" second config null))
    Assert.Equal(3, second.Calls)
    // additivity stopped after two estimates keeps those two, not the failures
    let stopped = StopsAfter 2
    let partial = Consistency.run "additivity" stopped config null
    Assert.Contains(partial, fun r -> r.Error.Contains "stopped")
    let resumed = GaussianPlugIn()
    Assert.Equal<float[]>(expected "additivity", ratios (Consistency.run "additivity" resumed config null))
    Assert.Equal(3 * 2 - 2, resumed.Calls)
    // everything kept: a rerun estimates nothing; other codes (another latent size) share nothing
    let rerun = GaussianPlugIn()
    Assert.Equal<float[]>(ratios reference, ratios (Consistency.run "all" rerun config null))
    Assert.Equal(0, rerun.Calls)
    Assert.NotEqual<string>(Consistency.estimatePath config "I(A;B_8)" "abc", Consistency.estimatePath { config with Latent = 3 } "I(A;B_8)" "abc")
    Assert.NotEqual<string>(Consistency.estimatePath config "I(A;B_8)" "abc", Consistency.estimatePath config "I(A;B_80)" "abc")

[<Fact>]
let ``estimator failures become rows with the error, not an exception`` () =
  oneThread <| fun () ->
    let config = { syntheticConfig 100 with Rows = [| 28 |]; AeSteps = 10 }
    let rows = Consistency.run "additivity" (Failing()) config null
    let row = Assert.Single rows
    Assert.Contains("always fails", row.Error)
    Assert.Contains("I([A1,A2];[B1_28,B2_28])", row.Error)
    Assert.True(Double.IsNaN row.Ratio)
    Assert.Equal(2.0, row.Ideal)

[<Fact>]
let ``bad settings are rejected with a message naming the setting`` () =
    let config = syntheticConfig 20
    let check (c: ConsistencyConfig) (text: string) =
        let ex = Assert.Throws<ArgumentException>(fun () -> Consistency.run "baseline" (GaussianPlugIn()) c null |> ignore)
        Assert.Contains(text, ex.Message)
    check { config with Rows = [| 0 |] } "crop r = 0"
    check { config with Rows = [| 29 |] } "crop r = 29 must lie in 1..28"
    check { config with Count = 50 } "holds only 20"
    check { config with K = 0 } "K must be > 0"
    let ex = Assert.Throws<ArgumentException>(fun () -> Consistency.testName "entropy" |> ignore)
    Assert.Contains("unknown consistency test 'entropy'", ex.Message)

/// The pipeline end to end on the first 300 real MNIST images with tiny autoencoders (reported as
/// skipped when MNIST has not been fetched: IdxTests.mnistFiles calls Assert.Skip).
type RealMnistPipeline(output: ITestOutputHelper) =
    [<Fact>]
    member _.``the baseline and additivity tests run on real MNIST``() =
        let files = IdxTests.mnistFiles output
        oneThread <| fun () ->
            let config =
                { ConsistencyConfig.Quick with
                    ImagesPath = files.[0]
                    Count = 300
                    Rows = [| 8; 28 |]
                    Latent = 4
                    AeSteps = 30
                    CacheDir = Path.Combine(tempDir (), "autoencoders") }
            let rows = Array.append (Consistency.run "baseline" (GaussianPlugIn()) config null) (Consistency.run "additivity" (GaussianPlugIn()) config null)
            for r in rows do
                output.WriteLine(sprintf "%s r=%d ratio %.3f (%.3f / %.3f)" r.Test r.R r.Ratio r.Numerator r.Denominator)
                Assert.True(String.IsNullOrEmpty r.Error && Double.IsFinite r.Ratio, sprintf "%A" r)
            Assert.Equal(4, rows.Length)
            Assert.Equal(1.0, rows.[1].Ratio)
