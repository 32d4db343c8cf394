module Mmg.Core.Tests.LogSnrTests

open System
open FsCheck.Xunit
open FsCheck
open FsCheck.FSharp
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

let f64 = torch.ScalarType.Float64

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 50, Replay = "(2026112901,1)")>]
let ``q integrates to one over its range`` (q: LogSnrDensity) =
    let lo, hi = LogSnr.range q
    use grid = torch.linspace(lo, hi, 200001L, dtype = f64)
    use d = LogSnr.density q grid
    let total = Mmse.trapezoid grid d
    abs (total - 1.0) < 1e-6 |@ sprintf "∫q = %.9f on [%g, %g]" total lo hi

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 20, Replay = "(2026112903,1)")>]
let ``sampling matches the density (Kolmogorov-Smirnov)`` (q: LogSnrDensity) (seed: PositiveInt) =
    // KS statistic against the analytic CDF; the critical value 1.95/√n is the 0.1% level.
    let n = 20000
    use g = generator seed.Get
    use a = LogSnr.sample g f64 n q
    let struct (sorted, order) = a.sort ()
    use sorted = sorted
    use order = order
    use cdf = LogSnr.cdf q sorted
    use upper = torch.arange(1L, int64 n + 1L, dtype = f64) / float n
    use lower = torch.arange(0L, int64 n, dtype = f64) / float n
    use d1 = (upper - cdf).abs().max ()
    use d2 = (cdf - lower).abs().max ()
    let ks = max (d1.item<float> ()) (d2.item<float> ())
    let lo, hi = LogSnr.range q
    use inRange = a.ge(torch.tensor(lo, dtype = f64)).logical_and(a.le(torch.tensor(hi, dtype = f64)))
    (ks < 1.95 / sqrt (float n) |@ sprintf "KS = %.4f" ks) .&. (inRange.all().item<bool> () |@ "a sample left the support")

[<Fact>]
let ``the cdf is the integral of the density`` () =
    let q = LogSnr.logistic 1.0 2.0 3.0
    use grid = torch.linspace(-5.0, 4.0, 90001L, dtype = f64)
    use d = LogSnr.density q grid
    let area = Mmse.trapezoid grid d
    use ends = torch.tensor([| -5.0; 4.0 |], dtype = f64)
    use c = LogSnr.cdf q ends
    let cv = c.data<float>().ToArray()
    Assert.Equal(cv.[1] - cv.[0], area, 6)

[<Fact>]
let ``bad densities raise ArgumentException naming the value`` () =
    let ex = Assert.Throws<ArgumentException>(fun () -> LogSnr.logistic 2.0 3.0 0.0 |> ignore)
    Assert.Contains("clip", ex.Message)
    Assert.Contains("0", ex.Message)
    let ex2 = Assert.Throws<ArgumentException>(fun () -> LogSnr.logistic 2.0 -1.0 4.0 |> ignore)
    Assert.Contains("scale", ex2.Message)
    let ex3 = Assert.Throws<ArgumentException>(fun () -> LogSnr.uniform 3.0 1.0 |> ignore)
    Assert.Contains("lo = 3", ex3.Message)
    use g = generator 1
    let ex4 = Assert.Throws<ArgumentException>(fun () -> LogSnr.sample g f64 10 (Logistic(0.0, 1.0, -2.0)) |> ignore)
    Assert.Contains("clip", ex4.Message)

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 50, Replay = "(2026112904,1)")>]
let ``a density survives the model-file round trip`` (q: LogSnrDensity) =
    LogSnr.ofArray (LogSnr.toArray q) = q

[<Fact>]
let ``the defensive mixture bounds the importance weights by width over share`` () =
    // A thin logistic (scale 1, clip 9.33: the quick start's adapted density) has weights
    // 1/q ≈ 10⁴ at the ends of its support; mixed with 20% of the uniform they are at most
    // (hi − lo)/0.2 ≈ 100, and never above that anywhere on the support.
    let thin = LogSnr.logistic 0.4 1.07 9.33
    let mixed = LogSnr.defensive thin 0.2
    let lo, hi = LogSnr.range mixed
    Assert.Equal(LogSnr.range thin, (lo, hi))
    use grid = torch.linspace(lo, hi, 10001L, dtype = f64)
    use wThin = LogSnr.weights thin grid
    use wMixed = LogSnr.weights mixed grid
    let maxThin, maxMixed = wThin.max().item<float> (), wMixed.max().item<float> ()
    Assert.True(maxThin > 5000.0, sprintf "thin logistic: max weight %.0f" maxThin)
    Assert.True(maxMixed <= (hi - lo) / 0.2 + 1e-9, sprintf "mixture: max weight %.2f > %.2f" maxMixed ((hi - lo) / 0.2))
    // at the centre the mixture keeps 80% of the logistic's mass plus the uniform's share
    use centre = torch.tensor([| 0.4 |], dtype = f64)
    use dThin = LogSnr.density thin centre
    use dMixed = LogSnr.density mixed centre
    Assert.Equal(0.8 * dThin.item<float> () + 0.2 / (hi - lo), dMixed.item<float> (), 12)

[<Fact>]
let ``bad defensive mixtures are refused with the value`` () =
    let ex = Assert.Throws<ArgumentException>(fun () -> LogSnr.defensive LogSnr.paperDefault 1.0 |> ignore)
    Assert.Contains("(0, 1)", ex.Message)
    Assert.Contains("got 1", ex.Message)
    let nested = LogSnr.defensive LogSnr.paperDefault 0.2
    Assert.Throws<ArgumentException>(fun () -> LogSnr.defensive nested 0.2 |> ignore) |> ignore
    let ex2 = Assert.Throws<ArgumentException>(fun () -> LogSnr.ofArray [| 7.0; 1.0 |] |> ignore)
    Assert.Contains("not a saved log-SNR density", ex2.Message)

[<Fact>]
let ``crossings fit recovers the Gaussian transition`` () =
    // 1-D Gaussian with conditional variance v: the ε-space conditional curve is sigmoid(a + log v);
    // it crosses 1/2 at a = −log v and 1/4 at a = −log v − log 3.
    let v = 0.1
    let grid = Array.init 4001 (fun i -> -20.0 + 0.01 * float i)
    let curve = grid |> Array.map (fun a -> 1.0 / (1.0 + exp (-(a + log v))))
    match LogSnr.fitFromCrossings grid curve 1 4.0 with
    | Logistic(m, s, c) ->
        Assert.Equal(-log v, m, 3)
        Assert.Equal(log 3.0, s, 3)
        Assert.Equal(4.0, c)
    | other -> failwithf "expected a logistic, got %A" other

[<Fact>]
let ``crossings fit fails clearly when the curve misses a level`` () =
    let grid = [| 0.0; 1.0; 2.0 |]
    let ex = Assert.Throws<ArgumentException>(fun () -> LogSnr.fitFromCrossings grid [| 0.0; 0.1; 0.2 |] 2 4.0 |> ignore)
    Assert.Contains("d/2", ex.Message)

[<Fact>]
let ``gap fit centres on the gap and its support grows with MI`` () =
    // Gap of a 1-D Gaussian pair with conditional variance v: sigmoid(a) − sigmoid(a + log v);
    // it spans roughly [−5, −log v + 5]. The fitted support must cover 99% of it.
    let fit v =
        let grid = Array.init 8001 (fun i -> -40.0 + 0.01 * float i)
        let gap = grid |> Array.map (fun a -> 1.0 / (1.0 + exp -a) - 1.0 / (1.0 + exp (-(a + log v))))
        LogSnr.fitToGap grid gap 0.5 4.0 LogSnr.paperDefault
    for v in [ 0.5; 1e-4; 1e-12 ] do
        let q = fit v
        let lo, hi = LogSnr.range q
        match q with
        | Logistic(m, _, _) -> Assert.Equal(-0.5 * log v, m, 1)
        | other -> failwithf "expected a logistic, got %A" other
        Assert.True(lo < -3.0 && hi > -log v + 3.0, sprintf "v = %g: support [%g, %g] misses the gap" v lo hi)
