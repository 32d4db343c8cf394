namespace Mmg.Core

open System
open TorchSharp

/// Settings of one denoiser training run.
type TrainConfig =
    { BatchSize: int
      LearningRate: float
      /// EMA momentum of the weights used at estimation time (paper: 0.999), with the usual
      /// warm-up min(decay, (1 + t)/(10 + t)).
      EmaDecay: float
      /// Probability that y is replaced by the "absent" flag in a training row (paper: 0.5).
      DropProbability: float
      /// Learning-rate halving when the smoothed loss has not improved for this many steps.
      PlateauPatience: int
      MinLearningRate: float }

/// How the learning rate moves within a training phase.
type LearningRateSchedule =
    /// Halve it when the smoothed loss has not improved for PlateauPatience steps.
    | Plateau
    /// A short linear warm-up (min(500, steps/10) steps), then a cosine decay to 5% of the
    /// starting rate at the end of the phase; every phase starts again from the full rate.
    | Cosine

/// Adam with an EMA copy of the weights and learning-rate halving on a plateau of the smoothed
/// loss: the optimisation loop shared by the denoiser trainers (MMG's and MINDE-J's). Owns the
/// seeded generator the trainers draw their batches from.
type EmaAdam(parameters: seq<Modules.Parameter>, emaParameters: seq<Modules.Parameter>, config: TrainConfig, seed: int) as this =
    do Checks.requirePositiveInt "BatchSize" config.BatchSize
    do Checks.requirePositive "LearningRate" config.LearningRate
    do
        if not (config.DropProbability >= 0.0 && config.DropProbability < 1.0) then
            invalidArg "DropProbability" (sprintf "DropProbability must lie in [0, 1), got %g." config.DropProbability)
    let parameters = Array.ofSeq parameters
    let emaParameters = Array.ofSeq emaParameters
    let generator = new torch.Generator(uint64 seed)
    let optimizer = torch.optim.Adam(parameters, lr = config.LearningRate)
    let mutable lr = config.LearningRate
    let mutable step = 0
    let mutable smoothed = Double.NaN
    let mutable best = Double.PositiveInfinity
    let mutable sinceBest = 0
    do
        use _ = torch.no_grad ()
        for pe, p in Array.zip emaParameters parameters do
            pe.copy_ p |> ignore

    member _.Generator = generator
    member _.Steps = step
    /// The schedule (Plateau unless set).
    member val Schedule = Plateau with get, set
    member _.LearningRate = lr
    member _.SmoothedLoss = smoothed

    /// Backward pass and Adam step on a scalar loss, then the EMA update (decay with the usual
    /// warm-up min(decay, (1 + t)/(10 + t))) and the plateau bookkeeping. Returns the loss.
    member _.Apply(loss: Tensor) : float =
        optimizer.zero_grad ()
        loss.backward ()
        optimizer.step () |> ignore
        step <- step + 1
        let decay = min config.EmaDecay ((1.0 + float step) / (10.0 + float step))
        (use _ = torch.no_grad ()
         use weight = torch.tensor (1.0 - decay, dtype = parameters.[0].dtype, device = parameters.[0].device)
         for pe, p in Array.zip emaParameters parameters do
             pe.lerp_(p, weight) |> ignore)
        let l = loss.item<float32> () |> float
        smoothed <- if Double.IsNaN smoothed then l else 0.99 * smoothed + 0.01 * l
        if smoothed < best * (1.0 - 1e-4) then
            best <- smoothed
            sinceBest <- 0
        else
            sinceBest <- sinceBest + 1
            if this.Schedule = Plateau && sinceBest >= config.PlateauPatience && lr > config.MinLearningRate then
                lr <- max config.MinLearningRate (lr * 0.5)
                for g in optimizer.ParamGroups do g.LearningRate <- lr
                sinceBest <- 0
        l

    /// `steps` calls of `step`, reporting progress under `phase`; a phase starts its own plateau
    /// bookkeeping. Returns the final smoothed loss.
    member this.Run(steps: int, phase: string, progress: Action<TrainingProgress>, step: unit -> float) =
        let reporter = Estimation.ProgressReporter(phase, steps, progress)
        let warm = min 500 (max 1 (steps / 10))
        for s in 1 .. steps do
            if this.Schedule = Cosine then
                let f =
                    if s <= warm then float s / float warm
                    else 0.05 + 0.95 * 0.5 * (1.0 + Math.Cos(Math.PI * float (s - warm) / float (max 1 (steps - warm))))
                lr <- config.LearningRate * f
                for g in optimizer.ParamGroups do g.LearningRate <- lr
            step () |> ignore
            reporter.Report(s, smoothed)
        best <- Double.PositiveInfinity
        sinceBest <- 0
        smoothed

    interface IDisposable with
        member _.Dispose() =
            optimizer.Dispose()
            generator.Dispose()

/// Trains a DenoiserNet with the importance-weighted ε-prediction loss. Keeps the optimiser, the
/// learning-rate schedule and the EMA copy across calls, so a run can go on with a new log-SNR
/// density (the adaptive phase). Deterministic given the seed.
type DenoiserTrainer(net: DenoiserNet, ema: DenoiserNet, config: TrainConfig, seed: int) =
    let loop = new EmaAdam(net.parameters (), ema.parameters (), config, seed)
    let generator = loop.Generator

    member _.Steps = loop.Steps
    member _.LearningRate = loop.LearningRate
    /// The learning-rate schedule of the underlying loop.
    member _.Schedule with get () = loop.Schedule and set v = loop.Schedule <- v
    member _.SmoothedLoss = loop.SmoothedLoss

    /// One optimisation step on a batch drawn from (x, y) with a ~ q; returns the batch loss:
    /// mean over rows of ‖ε − ε̂‖²·w(a), with w = 1/(q(a)·|support|) so that E_q[w] = 1
    /// (the loss is then an average of the ε-MSE over the support, uniformly in log-SNR).
    member _.Step(x: Tensor, y: Tensor, q: LogSnrDensity) : float =
        use scope = torch.NewDisposeScope()
        let n = x.shape.[0]
        let b = int64 config.BatchSize
        let dev = x.device
        let idx = torch.randint(n, [| b |], generator = generator).``to`` dev
        let xb = x.index_select (0L, idx)
        let yb = y.index_select (0L, idx)
        let a = (LogSnr.sample generator x.dtype config.BatchSize q).``to`` dev
        let eps = torch.randn([| b; x.shape.[1] |], dtype = x.dtype, generator = generator).``to`` dev
        let present = torch.rand([| b |], generator = generator).ge(torch.tensor config.DropProbability).``to`` dev
        let z = Channel.noisy a eps xb
        net.train ()
        let epsHat = net.Predict(z, a, yb, present)
        let lo, hi = LogSnr.range q
        let w = LogSnr.weights q a / (hi - lo)
        loop.Apply(((eps - epsHat).square().sum(1L) * w).mean ())

    /// `steps` steps with q, reporting progress under `phase`; returns the final smoothed loss.
    member this.Train(x: Tensor, y: Tensor, q: LogSnrDensity, steps: int, phase: string, progress: Action<TrainingProgress>) =
        LogSnr.validate q
        Checks.requireSameRows "x" x "y" y
        loop.Run(steps, phase, progress, fun () -> this.Step(x, y, q))

    interface IDisposable with
        member _.Dispose() = (loop :> IDisposable).Dispose()
