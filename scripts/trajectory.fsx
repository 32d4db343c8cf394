// The held-out loss trajectory of one MMG training phase (fixed q, no early stopping): every
// steps/50 steps prints the conditional and unconditional ε-loss of the EMA weights on 10% held-out
// rows and the held-out difference-form MI they imply, ½·(range width)·(unconditional − conditional).
// Shows when a network memorises (the held-out MI turns negative) or learns late (it rises after
// a plateau). Build first: dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/trajectory.fsx -- TASK|indep-gauss-D ROWS STEPS
#load "references.fsx"
open System
open Mmg.Core
open TorchSharp

torch.set_num_threads 1
let args = fsi.CommandLineArgs |> Array.skip 1
let task, n, steps = args.[0], int args.[1], int args.[2]
let x, y =
    if task.StartsWith "indep-gauss-" then
        let rng = Random 5
        let gauss () = Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2.0 * Math.PI * rng.NextDouble())
        let d = int (task.Substring "indep-gauss-".Length)
        Array2D.init n d (fun _ _ -> gauss ()), Array2D.init n d (fun _ _ -> gauss ())
    else (Tasks.find task).Sample n 1
let run () =
    let dx, dy = Array2D.length2 x, Array2D.length2 y
    use xt = Data.toTensor x
    use yt = Data.toTensor y
    let sx, sy = Data.fitStandardizer xt, Data.fitStandardizer yt
    use xa = Data.standardize sx xt
    use ya = Data.standardize sy yt
    let fitRows, valRows = Data.split 4 0.1 n
    use xs = Data.rows fitRows xa
    use ys = Data.rows fitRows ya
    use xv = Data.rows valRows xa
    use yv = Data.rows valRows ya
    torch.random.manual_seed 1L |> ignore
    let shape = { Network.shape dx dy 64 with LinearBase = Network.useLinearBase EstimatorOptions.Default (dx + dy) }
    use net = new DenoiserNet(shape)
    use ema = new DenoiserNet(shape)
    if shape.LinearBase then net.SetLinearBase(xs, ys) |> ignore
    ema.CopyLinearBase net
    let cfg = { BatchSize = 256; LearningRate = 2e-3; EmaDecay = 0.999; DropProbability = 0.5; PlateauPatience = 2000; MinLearningRate = 1e-5 }
    use trainer = new DenoiserTrainer(net, ema, cfg, 1)
    use held = HeldOutLoss.Denoiser(ema, xv, yv, LogSnr.paperDefault, EarlyStoppingOptions.repeats valRows.Length, 9)
    let lo, hi = LogSnr.range LogSnr.paperDefault
    let score () =
        let lc, lu = held.Parts()
        printfn "%d conditional %.5f unconditional %.5f held-out MI %.4f" trainer.Steps lc lu (0.5 * (hi - lo) * (lu - lc))
        lc + lu
    // patience larger than the number of scores: the whole budget runs
    trainer.Train(xs, ys, LogSnr.paperDefault, steps, "trajectory", null, { Every = max 10 (steps / 50); Patience = 1000; Loss = score }) |> ignore
run ()
