namespace Mmg.Experiments

open Mmg.Core
open System
open TorchSharp

/// Throughput measurements for `mmg bench --speed` (benchmarks, never unit tests).
module Performance =
    /// Training iterations per second of the denoiser of the given size on random data, after
    /// 30 warm-up steps, with `threads` torch threads (restored afterwards).
    let trainingSpeed (dimX: int) (dimY: int) (width: int) (batch: int) (steps: int) (threads: int) =
        let before = torch.get_num_threads ()
        torch.set_num_threads threads
        try
            torch.random.manual_seed 0L |> ignore
            let shape = Network.shape dimX dimY width
            use net = new DenoiserNet(shape)
            use ema = new DenoiserNet(shape)
            use x = torch.randn(4096L, int64 dimX)
            use y = torch.randn(4096L, int64 dimY)
            let cfg = { BatchSize = batch; LearningRate = 1e-3; EmaDecay = 0.999; DropProbability = 0.5; PlateauPatience = 1000000; MinLearningRate = 1e-5 }
            use trainer = new DenoiserTrainer(net, ema, cfg, 0)
            for _ in 1 .. 30 do trainer.Step(x, y, LogSnr.paperDefault) |> ignore
            let watch = Diagnostics.Stopwatch.StartNew()
            for _ in 1 .. steps do trainer.Step(x, y, LogSnr.paperDefault) |> ignore
            float steps / watch.Elapsed.TotalSeconds
        finally
            torch.set_num_threads before
