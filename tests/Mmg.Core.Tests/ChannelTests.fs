module Mmg.Core.Tests.ChannelTests

open System
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Core.Tests.Generators

[<Fact>]
let ``variance preserving: alpha squared plus sigma squared is one at every log-SNR`` () =
    use a = torch.linspace(-30.0, 30.0, 601L, dtype = torch.ScalarType.Float64)
    use s = Channel.signalScale a
    use n = Channel.noiseScale a
    use total = s * s + n * n
    use err = (total - 1.0).abs().max ()
    Assert.True(err.item<float> () < 1e-12, sprintf "max |α²+σ²−1| = %g" (err.item<float> ()))

[<Fact>]
let ``variance preserving: unit-variance data stay unit-variance through the channel`` () =
    // z = αx + σε with x, ε independent N(0,1): Var z = 1. Tolerance: 4 standard errors of the
    // sample variance (sd of s² ≈ √(2/n) for Gaussian data).
    use g = generator 11
    let n = 200000
    use x = torch.randn([| int64 n; 1L |], dtype = torch.ScalarType.Float64, generator = g)
    use e = torch.randn([| int64 n; 1L |], dtype = torch.ScalarType.Float64, generator = g)
    use a = constant n 0.7
    use z = Channel.noisy a e x
    let v = z.var().item<float> ()
    Assert.InRange(v, 1.0 - 4.0 * sqrt (2.0 / float n), 1.0 + 4.0 * sqrt (2.0 / float n))

[<Fact>]
let ``noisy rejects mismatched shapes and names them`` () =
    use x = torch.zeros(5L, 2L)
    use e = torch.zeros(5L, 3L)
    use a = torch.zeros(5L)
    let ex = Assert.Throws<ArgumentException>(fun () -> Channel.noisy a e x |> ignore)
    Assert.Contains("[5;3]", ex.Message)
    Assert.Contains("[5;2]", ex.Message)
    use e2 = torch.zeros(5L, 2L)
    use a4 = torch.zeros(4L)
    let ex2 = Assert.Throws<ArgumentException>(fun () -> Channel.noisy a4 e2 x |> ignore)
    Assert.Contains("[4]", ex2.Message)
