/// The estimation path (Mmse and MINDE-j integrals, MMSE curves) on every device present: the CPU
/// always, CUDA when torch sees a GPU. ε is drawn on the CPU generator and moved to the data's
/// device, so every device sees the same draws and the results agree to float64 round-off.
module Mmg.Core.Tests.DeviceTests

open System
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

let f64 = torch.ScalarType.Float64

/// The devices present on this machine.
let devices () =
    [ yield torch.CPU
      if torch.cuda.is_available () then yield torch.CUDA ]

/// The 2+1 Gaussian the checks run on and its samples (drawn on the CPU, seed 31).
let private case () =
    let c = randomCovariance (Random 31) 3
    let cov = Gaussian.ofArray2D c
    use g = generator 31
    let x, y = Gaussian.sample g 2000 2 cov
    cov, x, y

[<Fact>]
let ``the CPU draws are those of the previous code (randn with device = x.device), so CPU results are bit-identical`` () =
    // Before the CUDA fix, Mmse.integrands drew ε as randn(shape, device = x.device, generator).
    // Rebuild that old integrand here and compare the seeded estimate exactly.
    let cov, x, y = case ()
    use cov = cov
    use x = x
    use y = y
    let den = Gaussian.oracle 2 cov
    let q = LogSnr.paperDefault
    let oldIntegrands (g: torch.Generator) (xb: torch.Tensor) (yb: torch.Tensor) =
        let n = int xb.shape.[0]
        use a = LogSnr.sample g xb.dtype n q
        use eps = torch.randn(xb.shape, dtype = xb.dtype, device = xb.device, generator = g)
        use aD = a.``to`` xb.device
        use z = Channel.noisy aD eps xb
        use eu = den z aD None
        use ec = den z aD (Some yb)
        Mmse.differenceIntegrand q aD eps eu ec, Mmse.orthogonalIntegrand q aD eu ec
    use g1 = generator 7
    let d0, o0 = Mmse.pointwiseOf (oldIntegrands g1) 2 512 x y
    use d0 = d0
    use o0 = o0
    use g2 = generator 7
    let now = Mmse.estimate den q g2 2 512 x y
    let before = { Difference = Mmse.summarize d0; Orthogonal = Mmse.summarize o0 }
    Assert.Equal(before.Difference.Mean, now.Difference.Mean)
    Assert.Equal(before.Difference.StdError, now.Difference.StdError)
    Assert.Equal(before.Orthogonal.Mean, now.Orthogonal.Mean)

[<Fact>]
let ``the MMSE-gap estimate, MINDE-j and the MMSE curves run on every device present and agree with the CPU`` () =
    let cov, x, y = case ()
    use cov = cov
    use x = x
    use y = y
    let truth = Gaussian.mutualInformation 2 cov
    let wide = LogSnr.logistic 0.0 2.0 8.0
    let run (dev: torch.Device) =
        use xd = x.``to`` dev
        use yd = y.``to`` dev
        use g = generator 11
        let e = Mmse.estimate (Gaussian.oracle 2 cov) wide g 2 512 xd yd
        use gj = generator 12
        let j = Minde.jointEstimate (Minde.gaussianOracle 2 cov) wide gj 2 512 xd yd
        use gc = generator 13
        let _, u, c, gap, _ = Mmse.curves (Gaussian.oracle 2 cov) gc [| -4.0; 0.0; 4.0 |] xd yd
        e, j, u, c, gap
    let cpuE, cpuJ, cpuU, _, _ = run torch.CPU
    // The oracle on 2000 rows: within 4 standard errors of the closed form (a 1-in-16 000 miss).
    Assert.True(abs (cpuE.Difference.Mean - truth) <= 4.0 * cpuE.Difference.StdError, sprintf "cpu %A vs truth %g" cpuE.Difference truth)
    Assert.True(abs (cpuJ.Difference.Mean - truth) <= 4.0 * cpuJ.Difference.StdError, sprintf "cpu minde %A vs truth %g" cpuJ.Difference truth)
    for dev in devices () do
        let e, j, u, _, gap = run dev
        // Same draws on every device; float64 kernels differ only in round-off: 1e-9 relative.
        let close (a: float) (b: float) = abs (a - b) <= 1e-9 * max 1.0 (abs b)
        Assert.True(close e.Difference.Mean cpuE.Difference.Mean, sprintf "%O: %.15g vs cpu %.15g" dev e.Difference.Mean cpuE.Difference.Mean)
        Assert.True(close e.Orthogonal.Mean cpuE.Orthogonal.Mean, sprintf "%O: orthogonal %.15g vs cpu %.15g" dev e.Orthogonal.Mean cpuE.Orthogonal.Mean)
        Assert.True(close j.Difference.Mean cpuJ.Difference.Mean, sprintf "%O: minde %.15g vs cpu %.15g" dev j.Difference.Mean cpuJ.Difference.Mean)
        Assert.True(Array.forall2 close u cpuU, sprintf "%O: curve %A vs cpu %A" dev u cpuU)
        Assert.True(gap |> Array.forall (fun v -> not (Double.IsNaN v)), sprintf "%O: gap %A" dev gap)
