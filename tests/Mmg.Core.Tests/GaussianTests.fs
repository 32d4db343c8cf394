module Mmg.Core.Tests.GaussianTests

open System
open FsCheck.Xunit
open FsCheck
open FsCheck.FSharp
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

let f64 = torch.ScalarType.Float64

/// A generous integration range for the closed-form gap: its eigenvalues lie in [0.25, 2.5]
/// (Generators), so the gap decays like e^{−|a|} outside [−8, 8]; [−60, 60] leaves < e^{−50}.
let integrateClosedGap dimX (cov: torch.Tensor) =
    Mmse.integrateGap (Gaussian.gapEps dimX cov) -60.0 60.0 120001

[<Fact>]
let ``bivariate normal with rho 0.75 has MI of minus half log of one minus rho squared`` () =
    use cov = Gaussian.ofArray2D (array2D [ [ 1.0; 0.75 ]; [ 0.75; 1.0 ] ])
    let mi = Gaussian.mutualInformation 1 cov
    Assert.Equal(-0.5 * log (1.0 - 0.75 * 0.75), mi, 12)
    Assert.Equal(0.4133, mi, 4)

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 30, Replay = "(2026112910,1)")>]
let ``closed-form MI equals the quadrature of the closed-form MMSE gap`` (c: GaussianCase) =
    use cov = covTensor c
    let exact = Gaussian.mutualInformation c.DimX cov
    let quad = integrateClosedGap c.DimX cov
    abs (quad - exact) <= 1e-6 * max exact 1e-3 |@ sprintf "quadrature %.10f vs closed form %.10f" quad exact

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 30, Replay = "(2026112911,1)")>]
let ``non-negativity: the closed-form MMSE gap is non-negative at every log-SNR`` (c: GaussianCase) =
    use cov = covTensor c
    use grid = torch.linspace(-30.0, 30.0, 2001L, dtype = f64)
    use gap = Gaussian.gapEps c.DimX cov grid
    let m = gap.min().item<float> ()
    m >= -1e-12 |@ sprintf "min gap = %g" m

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 30, Replay = "(2026112912,1)")>]
let ``conditioning never increases the x-space MMSE`` (c: GaussianCase) =
    use cov = covTensor c
    use grid = torch.linspace(-10.0, 10.0, 201L, dtype = f64)
    use u = Gaussian.mmseX c.DimX cov grid
    use k = Gaussian.mmseXGivenY c.DimX cov grid
    use d = u - k
    d.min().item<float> () >= -1e-12

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 30, Replay = "(2026112913,1)")>]
let ``data processing: I(X; AY + noise) <= I(X; Y)`` (c: GaussianCase) (k: PositiveInt) (noiseScale: NormalFloat) =
    let rng = Random(c.Seed)
    let rows = 1 + k.Get % 6
    use a = Gaussian.ofArray2D (randomMatrix rng rows c.DimY)
    let s = 0.05 + abs (float noiseScale) % 2.0
    use noise = torch.eye(int64 rows, dtype = f64) * s
    use cov = covTensor c
    use processed = Gaussian.mapY a noise c.DimX cov
    let before = Gaussian.mutualInformation c.DimX cov
    let after = Gaussian.mutualInformation c.DimX processed
    after <= before + 1e-10 |@ sprintf "I before %.6f, after %.6f" before after

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 30, Replay = "(2026112914,1)")>]
let ``invariance: MI is unchanged by invertible linear maps of X or of Y`` (c: GaussianCase) =
    let rng = Random(c.Seed + 1)
    // M = random + 3·I is invertible with high probability; guard with its determinant.
    let square n =
        let m = randomMatrix rng n n
        for i in 0 .. n - 1 do m.[i, i] <- m.[i, i] + 3.0
        Gaussian.ofArray2D m
    use mx = square c.DimX
    use my = square c.DimY
    use cov = covTensor c
    let det (m: torch.Tensor) = abs (torch.linalg.det(m).item<float> ())
    let invertible = det mx > 1e-3 && det my > 1e-3
    use cx = Gaussian.mapX mx c.DimX cov
    use zero = torch.zeros([| int64 c.DimY; int64 c.DimY |], dtype = f64)
    use cy = Gaussian.mapY my zero c.DimX cov
    let i0 = Gaussian.mutualInformation c.DimX cov
    let ix = Gaussian.mutualInformation c.DimX cx
    let iy = Gaussian.mutualInformation c.DimX cy
    invertible ==> ((abs (ix - i0) < 1e-8 * max 1.0 i0 |@ sprintf "I(MX;Y) = %.10f vs %.10f" ix i0)
                    .&. (abs (iy - i0) < 1e-8 * max 1.0 i0 |@ sprintf "I(X;MY) = %.10f vs %.10f" iy i0))

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 30, Replay = "(2026112915,1)")>]
let ``additivity: independent pairs add their MI`` (c1: GaussianCase) (c2: GaussianCase) =
    use a = covTensor c1
    use b = covTensor c2
    let dimX, joint = Gaussian.independentPair c1.DimX a c2.DimX b
    use joint = joint
    let sum = Gaussian.mutualInformation c1.DimX a + Gaussian.mutualInformation c2.DimX b
    let together = Gaussian.mutualInformation dimX joint
    abs (together - sum) < 1e-9 * max 1.0 sum |@ sprintf "%.10f vs %.10f" together sum

[<Property(Arbitrary = [| typeof<Arbs> |], MaxTest = 8, Replay = "(2026112916,1)")>]
let ``the oracle denoisers attain the closed-form MMSE at a fixed log-SNR`` (c: GaussianCase) =
    // E‖ε − ε̂(z)‖² = mmse_ε,x(a) and E‖ε − ε̂(z, y)‖² = mmse_ε,x|y(a); 4 standard errors.
    use cov = covTensor c
    use g = generator c.Seed
    let n = 20000
    let x, y = Gaussian.sample g n c.DimX cov
    use x = x
    use y = y
    let den = Gaussian.oracle c.DimX cov
    let a0 = 0.3
    use a = constant n a0
    use e = torch.randn(x.shape, dtype = f64, generator = g)
    use z = Channel.noisy a e x
    use eu = den z a None
    use ec = den z a (Some y)
    use ru = (e - eu).square().sum 1L
    use rc = (e - ec).square().sum 1L
    let mu = Mmse.summarize ru
    let mc = Mmse.summarize rc
    use sxx = Gaussian.blocks c.DimX cov |> fun (s, b, t) -> b.Dispose(); t.Dispose(); s
    use cc = Gaussian.conditionalCovariance c.DimX cov
    use at = torch.tensor([| a0 |], dtype = f64)
    let exactU = (Gaussian.mmseEpsOf sxx at).item<float> ()
    let exactC = (Gaussian.mmseEpsOf cc at).item<float> ()
    withinStdErrors 4.0 exactU mu .&. withinStdErrors 4.0 exactC mc

[<Fact>]
let ``bad covariances raise ArgumentException naming the problem`` () =
    use notSpd = Gaussian.ofArray2D (array2D [ [ 1.0; 2.0 ]; [ 2.0; 1.0 ] ])
    let ex = Assert.Throws<ArgumentException>(fun () -> Gaussian.mutualInformation 1 notSpd |> ignore)
    Assert.Contains("positive definite", ex.Message)
    Assert.Contains("-1", ex.Message)
    use rect = torch.zeros([| 2L; 3L |], dtype = f64)
    let ex2 = Assert.Throws<ArgumentException>(fun () -> Gaussian.mutualInformation 1 rect |> ignore)
    Assert.Contains("[2;3]", ex2.Message)
    use ok = Gaussian.ofArray2D (array2D [ [ 1.0; 0.5 ]; [ 0.5; 1.0 ] ])
    let ex3 = Assert.Throws<ArgumentException>(fun () -> Gaussian.mutualInformation 2 ok |> ignore)
    Assert.Contains("dimX", ex3.Message)
    use asym = Gaussian.ofArray2D (array2D [ [ 1.0; 0.5 ]; [ 0.4; 1.0 ] ])
    let ex4 = Assert.Throws<ArgumentException>(fun () -> Gaussian.mutualInformation 1 asym |> ignore)
    Assert.Contains("symmetric", ex4.Message)
