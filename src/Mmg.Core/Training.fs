namespace Mmg.Core

open System
open TorchSharp

/// How the learning rate moves within a training phase (TrainingLoop.Run).
type LearningRateSchedule =
    /// The starting rate throughout (the critics, the consistency autoencoders).
    | Constant
    /// Halve it, down to MinLearningRate, when the smoothed loss has not improved by a relative
    /// 1e-4 for PlateauPatience steps (the denoisers' default).
    | Plateau
    /// A short linear warm-up (min(500, steps/10) steps), then a cosine decay to 5% of the
    /// starting rate at the end of the phase; every phase starts again from the full rate.
    | Cosine

/// Settings of a TrainingLoop.
type LoopSettings =
    { /// Adam's starting learning rate (> 0).
      LearningRate: float
      /// The schedule the loop starts with (TrainingLoop.Schedule may change it between phases).
      Schedule: LearningRateSchedule
      /// Plateau only: steps without improvement of the smoothed loss before the rate is halved
      /// (≥ 1).
      PlateauPatience: int
      /// Plateau only: the rate is not halved below this (≥ 0).
      MinLearningRate: float
      /// The weight w of the newest batch loss in the smoothed loss, smoothed ← (1 − w)·smoothed
      /// + w·loss (the first loss starts it), in (0, 1]; w = 0.01 remembers about 100 steps. It is
      /// given as w rather than 1 − w because the callers' weights (0.01, 0.02, 0.1) are the
      /// constants their losses were always smoothed with, and 1 − w rounds to exactly 0.99, 0.98
      /// and 0.9, while 1 − 0.99 is not 0.01 in floating point.
      SmoothingWeight: float }

    /// A constant learning rate and smoothing weight w (the plateau fields are unused).
    static member ConstantRate(learningRate: float, smoothingWeight: float) =
        { LearningRate = learningRate
          Schedule = Constant
          PlateauPatience = 1
          MinLearningRate = 0.0
          SmoothingWeight = smoothingWeight }

/// The exponential moving average of the weights that a TrainingLoop keeps beside the live ones:
/// after step t every copy moves as pe ← pe + (1 − d)(p − pe), d = min(Decay, (1 + t)/(10 + t))
/// (the usual warm-up). The copy starts as the live weights.
type EmaCopy =
    { /// One tensor per live parameter, in the same order and of the same shapes (the
      /// parameters of a second instance of the same network).
      Parameters: seq<Modules.Parameter>
      /// The EMA momentum, in [0, 1] (paper: 0.999).
      Decay: float }

/// Settings of one denoiser training run (DenoiserTrainer, MINDE's JointTrainer).
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

    /// Raises ArgumentException, naming the value, for a batch size below 1, a learning rate
    /// that is not positive or a drop probability outside [0, 1).
    member c.Validate() =
        Checks.requirePositiveInt "BatchSize" c.BatchSize
        Checks.requirePositive "LearningRate" c.LearningRate
        if not (c.DropProbability >= 0.0 && c.DropProbability < 1.0) then
            invalidArg "DropProbability" (sprintf "DropProbability must lie in [0, 1), got %g." c.DropProbability)

    /// The loop settings of a denoiser trainer: Adam at LearningRate, halved on a plateau of the
    /// loss smoothed with weight 0.01 (about the last 100 steps).
    member c.LoopSettings =
        { LearningRate = c.LearningRate
          Schedule = Plateau
          PlateauPatience = c.PlateauPatience
          MinLearningRate = c.MinLearningRate
          SmoothingWeight = 0.01 }

/// Early stopping on rows the optimiser never sees: every `Every` steps (and after the last)
/// `Loss` scores the weights the loop keeps, the EMA copy when there is one, else the live weights;
/// lower is better (a caller whose score rises with quality passes its negation). `Loss` must be a
/// deterministic function of those weights (fixed rows and fixed draws). The phase keeps the
/// best-scoring weights (a score that is not lower than the best so far, NaN included, does not
/// count) and ends once `Patience` scores in a row have not improved on the best. The budget then
/// follows the data: a small data set stops before the network memorises its rows, a large one
/// uses the whole budget.
type EarlyStopping =
    { Every: int
      Patience: int
      Loss: unit -> float }

/// How far an early-stopped phase may run past its budget (TrainingLoop.Overtime): while its best
/// held-out score is at most `Patience` scores old, up to `Share` × the budget more steps. Before
/// the budget ends nothing changes (the same scoring steps, the same patience), so a phase that
/// stops early, or reaches its budget with an older best, runs exactly as without overtime.
type Overtime =
    { /// Extra steps allowed, as a share of the phase's budget (0 = none).
      Share: float
      /// Past the budget, the phase ends once this many scores in a row have not improved (≥ 1).
      Patience: int }

    /// No overtime: a phase ends at its budget.
    static member None = { Share = 0.0; Patience = 1 }

    /// The largest Share accepted (by TrainingLoop.Overtime and option `overtime`).
    static member MaxShare = 10.0

/// What one training phase did.
type PhaseOutcome =
    { /// Final smoothed training loss.
      SmoothedLoss: float
      /// Steps taken (fewer than the budget when early stopping ended the phase).
      Steps: int
      /// The step whose weights were kept: the best-scoring one with early stopping, else (or
      /// when no score was ever lower than +∞) the last step.
      KeptStep: int
      /// The score of the kept weights (+∞ when none was kept; NaN without early stopping).
      ValidationLoss: float }

/// Parameters laid out one after another in contiguous buffers, one buffer per (dtype, device),
/// so that an update of all of them is a few operations on the buffers rather than a few per
/// parameter (the optimiser step, zeroing the gradients and the EMA update were ≈ 450 native calls per training step,
/// docs/performance.md). `bind` re-points each parameter's storage to its slice of a new buffer
/// (the values copied), so the module goes on reading and writing the same numbers; `bindGrads`
/// gives each parameter a gradient that is a slice of a zeroed buffer, into which backward then
/// accumulates in place. The parameters must not be re-created afterwards (e.g. by moving the
/// module to another device): the buffers would no longer be theirs.
module FlatParameters =
    /// The parameters' indices grouped by dtype and device, in their order.
    let groups (parameters: Modules.Parameter[]) : int[][] =
        Array.init parameters.Length id
        |> Array.groupBy (fun i -> parameters.[i].dtype, parameters.[i].device_type, parameters.[i].device_index)
        |> Array.map snd

    /// Each slice starts on a multiple of this many elements (64 bytes in float32), as a tensor
    /// of its own would, so the kernels see the alignment they saw before the binding. The padding
    /// between slices stays zero in every buffer (zero gradient, zero moments, zero step).
    [<Literal>]
    let Alignment = 16L

    /// A new zeroed buffer for `members` (same dtype and device) and each member's slice of it.
    let private layout (members: Modules.Parameter[]) =
        let starts = Array.zeroCreate members.Length
        let mutable total = 0L
        for i in 0 .. members.Length - 1 do
            starts.[i] <- total
            total <- (total + members.[i].numel () + Alignment - 1L) / Alignment * Alignment
        let buffer = torch.zeros([| total |], dtype = members.[0].dtype, device = members.[0].device).DetachFromDisposeScope()
        let slices = Array.map2 (fun (p: Modules.Parameter) start -> (use part = buffer.narrow(0L, start, p.numel ()) in part.view(p.shape))) members starts
        buffer, slices

    /// One buffer holding the values of `members` (same dtype and device), each parameter now a
    /// view of its slice.
    let bind (members: Modules.Parameter[]) : Tensor =
        let buffer, slices = layout members
        use _ = torch.no_grad ()
        for p, slice in Array.zip members slices do
            slice.copy_ p |> ignore
            p.set_ slice |> ignore
            slice.Dispose()
        buffer

    /// One zeroed buffer holding the gradients of `members` (same dtype and device), each
    /// parameter's gradient now a view of its slice.
    let bindGrads (members: Modules.Parameter[]) : Tensor =
        let buffer, slices = layout members
        for p, slice in Array.zip members slices do
            p.grad <- slice
            slice.Dispose()
        buffer

/// Adam with β₁ = 0.9, β₂ = 0.999, ε = 1e-8 and no weight decay: the update of TorchSharp 0.107's
/// `torch.optim.Adam(parameters, lr)` with its defaults, made here with every scalar created and
/// disposed explicitly (TorchSharp's step converts doubles to native Scalars implicitly and leaves
/// them to the finalizer, which can free one while the native call still reads it: seen once in
/// ≈ 60 trainings, libtorch's "Expected false to be true" in Scalar::toFloat inside the step).
/// The parameters and their gradients are bound to flat buffers (FlatParameters), so a step is
/// eight operations per buffer; the arithmetic is the same, element by element, and seeded runs
/// are bit for bit what TorchSharp's Adam gives (TrainingTests holds that). Every parameter has a
/// gradient from the start (zero until a backward pass reaches it): a parameter the loss never
/// uses stays where it is, as it does in TorchSharp's Adam.
type AdamOptimizer(parameters: Modules.Parameter[], learningRate: float) =
    let beta1, beta2, eps = 0.9, 0.999, 1e-8
    do Checks.requirePositive "learningRate" learningRate
    let indices = FlatParameters.groups parameters
    let groups = indices |> Array.map (Array.map (fun i -> parameters.[i]))
    let values = groups |> Array.map FlatParameters.bind
    let grads = groups |> Array.map FlatParameters.bindGrads
    let moment1 = values |> Array.map (fun v -> torch.zeros_like(v).DetachFromDisposeScope())
    let moment2 = values |> Array.map (fun v -> torch.zeros_like(v).DetachFromDisposeScope())
    let mutable steps = 0L
    let mutable rate = learningRate
    let mutable weightDecay = 0.0
    // decoupled weight decay shrinks the weight matrices only (not biases, norms or stand-ins)
    let matrices = parameters |> Array.filter (fun p -> p.dim () >= 2L)

    /// The learning rate of the next step (> 0).
    member _.LearningRate
        with get () = rate
        and set (v: float) =
            Checks.requirePositive "LearningRate" v
            rate <- v

    /// Decoupled weight decay λ (AdamW): before each update every weight matrix (a parameter of
    /// two or more dimensions) is multiplied by 1 − rate·λ; ≥ 0, default 0 (plain Adam).
    member _.WeightDecay
        with get () = weightDecay
        and set (v: float) =
            if not (v >= 0.0 && v < 1.0) then invalidArg "WeightDecay" (sprintf "the weight decay must lie in [0, 1), got %g." v)
            weightDecay <- v

    /// Steps taken.
    member _.Steps = steps

    /// The parameters' indices by buffer (FlatParameters.groups) and the buffers.
    member internal _.Groups = indices
    member internal _.Buffers = values

    /// Zeroes the parameters' gradients.
    member _.ZeroGrad() =
        for g in grads do g.zero_ () |> ignore

    /// One update from the parameters' current gradients.
    member _.Step() =
        steps <- steps + 1L
        let correction1 = 1.0 - Math.Pow(beta1, float steps)
        let correction2 = 1.0 - Math.Pow(beta2, float steps)
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        use b1 = beta1.ToScalar()
        use a1 = (1.0 - beta1).ToScalar()
        use b2 = beta2.ToScalar()
        use a2 = (1.0 - beta2).ToScalar()
        use root = (Math.Sqrt correction2).ToScalar()
        use e = eps.ToScalar()
        // add_(e) alone would make its alpha = 1 an implicit Scalar that nothing keeps alive during
        // the native call: the finalizer can free it mid-call (libtorch then fails in
        // Scalar::toFloat; seen once in 20 000-step runs). Every Scalar here is ours and disposed.
        use one = (1.0).ToScalar()
        use size = (-(rate / correction1)).ToScalar()
        if weightDecay > 0.0 then
            use keep = (1.0 - rate * weightDecay).ToScalar()
            for m in matrices do m.mul_(keep) |> ignore
        for i in 0 .. values.Length - 1 do
            let g = grads.[i]
            moment1.[i].mul_(b1).add_(g, alpha = a1) |> ignore
            moment2.[i].mul_(b2).addcmul_(g, g, value = a2) |> ignore
            use sq = moment2.[i].sqrt ()
            use denom = sq.div(root).add_(e, one)
            values.[i].addcdiv_(moment1.[i], denom, value = size) |> ignore

    interface IDisposable with
        member _.Dispose() =
            for t in Array.concat [ moment1; moment2; values; grads ] do t.Dispose()

/// The one optimisation loop of Mmg, shared by MMG's and MMG-CMI's denoisers, MINDE, the critics
/// and the consistency autoencoders: Adam on `parameters`; with `ema`, an EMA copy of them (then
/// the copy that early stopping scores and keeps); a learning-rate schedule; a smoothed loss for
/// the progress reports and the plateau schedule; optional early stopping that keeps and restores
/// the best-scoring weights (Run). Batches stay with the caller: its step function draws one,
/// computes the loss and hands it to Apply, so the loop consumes no random numbers. Progress goes
/// through Estimation.ProgressReporter, whose callback is also where a host cancels a run (it
/// throws; Run frees its own tensors and lets the exception through). Disposing the loop disposes
/// the optimiser, not the parameters.
type TrainingLoop(parameters: seq<Modules.Parameter>, settings: LoopSettings, ?ema: EmaCopy) =
    let parameters = Array.ofSeq parameters
    let emaParameters = ema |> Option.map (fun e -> Array.ofSeq e.Parameters)
    let checkSchedule (schedule: LearningRateSchedule) =
        if schedule = Plateau then
            Checks.requirePositiveInt "PlateauPatience" settings.PlateauPatience
            if not (settings.MinLearningRate >= 0.0) then
                invalidArg "MinLearningRate" (sprintf "MinLearningRate (the floor of the plateau halving) must be >= 0, got %g." settings.MinLearningRate)
    do
        if parameters.Length = 0 then invalidArg "parameters" "the training loop needs at least one parameter to optimise, got none."
        Checks.requirePositive "LearningRate" settings.LearningRate
        if not (settings.SmoothingWeight > 0.0 && settings.SmoothingWeight <= 1.0) then
            invalidArg "SmoothingWeight" (sprintf "SmoothingWeight (the weight of the newest loss in the smoothed loss) must lie in (0, 1], got %g." settings.SmoothingWeight)
        checkSchedule settings.Schedule
        match ema, emaParameters with
        | Some e, Some copy ->
            if not (e.Decay >= 0.0 && e.Decay <= 1.0) then
                invalidArg "Decay" (sprintf "the EMA decay must lie in [0, 1], got %g." e.Decay)
            if copy.Length <> parameters.Length then
                invalidArg "ema" (sprintf "the EMA copy has %d parameters but the model has %d; they must match one to one." copy.Length parameters.Length)
            for i in 0 .. parameters.Length - 1 do
                Checks.requireSameShape (sprintf "parameter %d" i) parameters.[i] (sprintf "its EMA copy %d" i) copy.[i]
        | _ -> ()
    let optimizer = new AdamOptimizer(parameters, settings.LearningRate)
    // the EMA copy in buffers laid out as the optimiser's, so its update is one lerp_ per buffer
    let emaBuffers =
        emaParameters |> Option.map (fun copy -> optimizer.Groups |> Array.map (fun g -> FlatParameters.bind (g |> Array.map (fun i -> copy.[i]))))
    /// The weights early stopping scores and keeps.
    let kept = defaultArg emaParameters parameters
    let mutable schedule = settings.Schedule
    let mutable lr = settings.LearningRate
    let mutable step = 0
    let mutable smoothed = Double.NaN
    // plateau bookkeeping: the best smoothed loss of the phase and the steps since it
    let mutable best = Double.PositiveInfinity
    let mutable sinceBest = 0
    // Apply calls since Run last called its step function (it must be exactly one)
    let mutable applied = 0
    let mutable overtime = Overtime.None
    let setRate (rate: float) =
        lr <- rate
        optimizer.LearningRate <- rate
    do
        match emaParameters with
        | Some copy ->
            use _ = torch.no_grad ()
            for pe, p in Array.zip copy parameters do
                pe.copy_ p |> ignore
        | None -> ()

    /// How far an early-stopped phase may run past its budget (Overtime; none unless set). A
    /// change applies from the next phase.
    member _.Overtime
        with get () = overtime
        and set (v: Overtime) =
            if not (v.Share >= 0.0 && v.Share <= Overtime.MaxShare) then
                invalidArg "Overtime.Share" (sprintf "the overtime share of a phase's budget must lie in [0, %g], got %g." Overtime.MaxShare v.Share)
            Checks.requirePositiveInt "Overtime.Patience" v.Patience
            overtime <- v

    /// Optimisation steps taken so far (Apply calls, over all phases).
    member _.Steps = step
    /// The current learning rate.
    member _.LearningRate = lr
    /// The smoothed training loss (NaN before the first step).
    member _.SmoothedLoss = smoothed
    /// Whether there is an EMA copy (then it is the copy early stopping scores and keeps).
    member _.HasEma = emaParameters.IsSome
    /// The optimiser's decoupled weight decay (AdamOptimizer.WeightDecay; 0 unless set).
    member _.WeightDecay with get () = optimizer.WeightDecay and set v = optimizer.WeightDecay <- v

    /// The learning-rate schedule; a change applies from the next step (Plateau needs
    /// PlateauPatience ≥ 1 and MinLearningRate ≥ 0 in the settings).
    member _.Schedule
        with get () = schedule
        and set (v: LearningRateSchedule) =
            checkSchedule v
            schedule <- v

    /// Backward pass and Adam step on a scalar loss (call inside the step's dispose scope), then
    /// the EMA update, the smoothed loss and the plateau bookkeeping. Returns the batch loss.
    member _.Apply(loss: Tensor) : float =
        optimizer.ZeroGrad()
        loss.backward ()
        optimizer.Step()
        step <- step + 1
        applied <- applied + 1
        match ema, emaBuffers with
        | Some e, Some buffers ->
            let decay = min e.Decay ((1.0 + float step) / (10.0 + float step))
            use _ = torch.no_grad ()
            for pe, p in Array.zip buffers optimizer.Buffers do
                use weight = torch.tensor (1.0 - decay, dtype = p.dtype, device = p.device)
                pe.lerp_(p, weight) |> ignore
        | _ -> ()
        let l = loss.item<float32> () |> float
        let w = settings.SmoothingWeight
        smoothed <- if Double.IsNaN smoothed then l else (1.0 - w) * smoothed + w * l
        if smoothed < best * (1.0 - 1e-4) then
            best <- smoothed
            sinceBest <- 0
        else
            sinceBest <- sinceBest + 1
            if schedule = Plateau && sinceBest >= settings.PlateauPatience && lr > settings.MinLearningRate then
                setRate (max settings.MinLearningRate (lr * 0.5))
                sinceBest <- 0
        l

    /// One phase: up to `steps` calls of `step` (each must draw a batch, compute its loss and
    /// call Apply exactly once), reporting progress under `phase` after every step. A phase
    /// starts its own plateau bookkeeping, and Cosine its own curve. With `stopping`, the phase
    /// ends early when the score stops improving, and the kept weights (the EMA copy, else the
    /// live weights) are set to the best-scoring ones; with an EMA copy the live weights are set
    /// to them too, so a following phase goes on from them. With `stopping` and an Overtime set,
    /// the phase may go on past `steps` while its best score is recent (Overtime); Cosine stays at
    /// its final rate there.
    member _.Run(steps: int, phase: string, progress: Action<TrainingProgress>, step: unit -> float, ?stopping: EarlyStopping) : PhaseOutcome =
        if steps < 0 then invalidArg "steps" (sprintf "a training phase needs a budget of at least 0 steps, got %d." steps)
        stopping
        |> Option.iter (fun stop ->
            Checks.requirePositiveInt "EarlyStopping.Every" stop.Every
            Checks.requirePositiveInt "EarlyStopping.Patience" stop.Patience)
        // with early stopping and overtime, the phase may go on past its budget up to `limit`
        let limit =
            match stopping with
            | Some _ when overtime.Share > 0.0 -> steps + int (Math.Round(overtime.Share * float steps))
            | _ -> steps
        let reporter = Estimation.ProgressReporter(phase, limit, progress)
        let warm = min 500 (max 1 (steps / 10))
        let mutable bestLoss = Double.PositiveInfinity
        let mutable bestStep = 0
        let mutable bad = 0
        let mutable snapshot: Tensor[] = [||]
        try
            let mutable s = 0
            let mutable stopped = false
            while s < limit && not stopped do
                s <- s + 1
                if schedule = Cosine then
                    let f =
                        if s <= warm then float s / float warm
                        else 0.05 + 0.95 * 0.5 * (1.0 + Math.Cos(Math.PI * float (min s steps - warm) / float (max 1 (steps - warm))))
                    setRate (settings.LearningRate * f)
                applied <- 0
                step () |> ignore
                if applied <> 1 then
                    raise (InvalidOperationException(sprintf "the step function of training phase '%s' must call Apply exactly once, but called it %d times at step %d." phase applied s))
                reporter.Report(s, smoothed)
                match stopping with
                | Some stop when s % stop.Every = 0 || s = steps || s = limit ->
                    let v = stop.Loss ()
                    if v < bestLoss then
                        bestLoss <- v
                        bestStep <- s
                        bad <- 0
                        use _ = torch.no_grad ()
                        if snapshot.Length = 0 then
                            snapshot <- kept |> Array.map (fun p -> (use d = p.detach () in d.clone().DetachFromDisposeScope()))
                        else
                            for i in 0 .. kept.Length - 1 do
                                snapshot.[i].copy_ kept.[i] |> ignore
                    else bad <- bad + 1
                    if bad >= stop.Patience || (limit > steps && s >= steps && bad >= overtime.Patience) then
                        stopped <- true
                        reporter.Report(limit, smoothed)
                | _ -> ()
            let keptStep =
                if snapshot.Length > 0 then
                    use _ = torch.no_grad ()
                    for i in 0 .. kept.Length - 1 do
                        kept.[i].copy_ snapshot.[i] |> ignore
                        if emaParameters.IsSome then parameters.[i].copy_ snapshot.[i] |> ignore
                    bestStep
                else s
            best <- Double.PositiveInfinity
            sinceBest <- 0
            { SmoothedLoss = smoothed
              Steps = s
              KeptStep = keptStep
              ValidationLoss = (if stopping.IsSome then bestLoss else nan) }
        finally
            for t in snapshot do t.Dispose()

    interface IDisposable with
        member _.Dispose() =
            (optimizer :> IDisposable).Dispose()
            emaBuffers |> Option.iter (Array.iter (fun t -> t.Dispose()))

/// A noise predictor as the trainer and HeldOutLoss call it: `predict noisy a present conditions`
/// is ε̂ for noisy rows x_a [n; dx], log-SNRs a [n], the mask present [n] (bool: whether y is
/// given) and the conditioning tensors (MI: [| y |]; CMI: [| y; z |]). Call inside a dispose scope.
type Predictor = Tensor -> Tensor -> Tensor -> Tensor[] -> Tensor

module Predictor =
    /// DenoiserNet's ε̂ on the conditions [| y |].
    let denoiser (net: DenoiserNet) : Predictor = fun z a present c -> net.Predict(z, a, c.[0], present)

/// The ε-prediction loss of a denoiser on held-out rows x with their conditioning columns
/// (y for MI; y and z for CMI), with and without y, importance-weighted under q as in training, on
/// draws fixed by `seed` (`repeats` per row), so successive calls differ only through the weights.
/// `predict` (Predictor) is the network in evaluation mode. Owns its draws.
type HeldOutLoss(predict: Predictor, x: Tensor, conditions: Tensor[], q: LogSnrDensity, repeats: int, seed: int, ?weighted: bool) =
    do Checks.requirePositiveInt "repeats" repeats
    do for c in conditions do Checks.requireSameRows "x" x "conditions" c
    let n = x.shape.[0] * int64 repeats
    let dev = x.device
    let xr = x.repeat(int64 repeats, 1L)
    let cr = conditions |> Array.map (fun c -> c.repeat(int64 repeats, 1L))
    let a, eps =
        use g = new torch.Generator(uint64 seed)
        (LogSnr.sample g x.dtype (int n) q).``to`` dev, torch.randn([| n; x.shape.[1] |], dtype = x.dtype, generator = g).``to`` dev
    let z = Channel.noisy a eps xr
    let w =
        if defaultArg weighted true then
            let lo, hi = LogSnr.range q
            LogSnr.weights q a / (hi - lo)
        else torch.ones_like a
    let on = torch.ones([| n |], dtype = torch.ScalarType.Bool, device = dev)
    let off = torch.zeros([| n |], dtype = torch.ScalarType.Bool, device = dev)

    // the weighted ε-loss of the current weights with y present (on) or absent (off)
    let loss (present: Tensor) =
        use _ = torch.no_grad ()
        use scope = torch.NewDisposeScope()
        ((eps - predict z a present cr).square().sum(1L) * w).mean().item<float32> () |> float

    /// For a DenoiserNet on held-out (x, y).
    static member Denoiser(net: DenoiserNet, x: Tensor, y: Tensor, q: LogSnrDensity, repeats: int, seed: int, ?weighted: bool) =
        new HeldOutLoss((fun z a present c -> net.eval (); Predictor.denoiser net z a present c), x, [| y |], q, repeats, seed, defaultArg weighted true)

    /// The conditional and the unconditional loss of the network's current weights. Half the
    /// width of q's range times (unconditional − conditional) is the held-out difference-form MI.
    member _.Parts() : float * float = loss on, loss off

    /// The conditional loss alone (what option `stop-score=conditional` scores).
    member _.ConditionalLoss() : float = loss on

    /// Conditional plus unconditional loss of the network's current weights.
    member this.Loss() : float =
        let lc, lu = this.Parts()
        lc + lu

    interface IDisposable with
        member _.Dispose() =
            for t in Array.append [| xr; a; eps; z; w; on; off |] cr do t.Dispose()

/// The ε-prediction loss of one batch: the mean over rows of ‖ε − ε̂‖², importance-weighted when
/// `weighted` by w = 1/(q(a)·|support|), so that E_q[w] = 1 and the loss is an average of the
/// ε-MSE over the support, uniformly in log-SNR; plain, it is the ε-MSE at a ~ q.
module DenoisingLoss =
    let batch (weighted: bool) (q: LogSnrDensity) (a: Tensor) (eps: Tensor) (epsHat: Tensor) : Tensor =
        use err = Ops.sub eps epsHat
        use sq = err.square ()
        use perRow = sq.sum(1L)
        if weighted then
            let lo, hi = LogSnr.range q
            use inv = LogSnr.weights q a
            use w = Ops.divScalar inv (hi - lo)
            use ww = perRow * w
            ww.mean ()
        else perRow.mean ()

/// Trains a noise predictor with the ε-prediction loss (DenoisingLoss.batch) on the shared
/// TrainingLoop (with `ema` as its EMA copy, config.LoopSettings): MMG's DenoiserNet on the
/// conditions [| y |], MMG-CMI's CmiDenoiserNet on [| y; z |] (so with no z the two draw and
/// compute the same). `predict` is the live network `net`'s ε̂ (Predictor). Keeps the optimiser,
/// the learning-rate schedule and the EMA copy across calls, so a run can go on with a new
/// log-SNR density (the adaptive phase). Owns the generator, seeded by `seed`, that every batch
/// is drawn from: deterministic given the seed.
type DenoiserTrainer(net: torch.nn.Module, ema: torch.nn.Module, predict: Predictor, config: TrainConfig, seed: int) =
    do config.Validate()
    let loop = new TrainingLoop(net.parameters (), config.LoopSettings, { Parameters = ema.parameters (); Decay = config.EmaDecay })
    let generator = new torch.Generator(uint64 seed)

    let mutable weighted = true

    /// For a DenoiserNet and its EMA copy (conditions [| y |]).
    new(net: DenoiserNet, ema: DenoiserNet, config: TrainConfig, seed: int) =
        new DenoiserTrainer(net, ema, Predictor.denoiser net, config, seed)

    member _.Steps = loop.Steps
    member _.LearningRate = loop.LearningRate
    /// The learning-rate schedule of the underlying loop.
    member _.Schedule with get () = loop.Schedule and set v = loop.Schedule <- v
    /// How far an early-stopped phase may run past its budget (the loop's Overtime).
    member _.Overtime with get () = loop.Overtime and set v = loop.Overtime <- v
    /// The optimiser's decoupled weight decay (the loop's WeightDecay).
    member _.WeightDecay with get () = loop.WeightDecay and set v = loop.WeightDecay <- v
    member _.SmoothedLoss = loop.SmoothedLoss
    /// true (default): the ε-MSE is importance-weighted to a uniform average over q's range;
    /// false: the plain ε-MSE at a ~ q, so training effort follows q.
    member _.Weighted with get () = weighted and set v = weighted <- v

    /// One optimisation step on a batch drawn from x and its conditions with a ~ q; returns the
    /// batch loss (DenoisingLoss.batch, weighted or not as `Weighted` says). Draws, in this
    /// order: the row indices, a, ε, the drop mask; the conditions' rows follow the indices.
    member _.Step(x: Tensor, conditions: Tensor[], q: LogSnrDensity) : float =
        use scope = torch.NewDisposeScope()
        let n = x.shape.[0]
        let b = int64 config.BatchSize
        let dev = x.device
        let idx = torch.randint(n, [| b |], generator = generator).``to`` dev
        let xb = x.index_select (0L, idx)
        let cb = conditions |> Array.map (fun c -> c.index_select (0L, idx))
        let a = (LogSnr.sample generator x.dtype config.BatchSize q).``to`` dev
        let eps = torch.randn([| b; x.shape.[1] |], dtype = x.dtype, generator = generator).``to`` dev
        let present = torch.rand([| b |], generator = generator).ge(torch.tensor config.DropProbability).``to`` dev
        let z = Channel.noisy a eps xb
        net.train ()
        let epsHat = predict z a present cb
        loop.Apply(DenoisingLoss.batch weighted q a eps epsHat)

    /// One step on (x, y) (the conditions [| y |]).
    member this.Step(x: Tensor, y: Tensor, q: LogSnrDensity) : float = this.Step(x, [| y |], q)

    /// Up to `steps` steps with q, reporting progress under `phase`. With `stopping`, early
    /// stopping on held-out rows that scores and keeps the EMA weights (TrainingLoop.Run).
    member this.Train(x: Tensor, conditions: Tensor[], q: LogSnrDensity, steps: int, phase: string, progress: Action<TrainingProgress>, ?stopping: EarlyStopping) : PhaseOutcome =
        LogSnr.validate q
        for c in conditions do Checks.requireSameRows "x" x "conditions" c
        loop.Run(steps, phase, progress, (fun () -> this.Step(x, conditions, q)), ?stopping = stopping)

    /// Train on (x, y) (the conditions [| y |]).
    member this.Train(x: Tensor, y: Tensor, q: LogSnrDensity, steps: int, phase: string, progress: Action<TrainingProgress>, ?stopping: EarlyStopping) : PhaseOutcome =
        LogSnr.validate q
        Checks.requireSameRows "x" x "y" y
        this.Train(x, [| y |], q, steps, phase, progress, ?stopping = stopping)

    interface IDisposable with
        member _.Dispose() =
            (loop :> IDisposable).Dispose()
            generator.Dispose()

/// The difference-form MMSE gap of a preliminary model on held-out rows, as one curve on `Grid`
/// per disjoint group of the rows, so that any area under it has a standard error (batch means):
/// the evidence the adaptive density and the range widening are gated on (AdaptiveDensity).
type HeldOutGap =
    { Grid: float[]
      /// One difference-gap curve per group of rows, each on Grid.
      Groups: float[][] }

/// The adapted log-SNR density from a preliminary model's orthogonal gap curve (shared by MI and
/// CMI; docs/design.md §1).
module AdaptiveDensity =
    /// Below this many nats of gap area the curve is mostly estimation noise, and a logistic
    /// fitted to noise can put its mass far outside the region where the networks are accurate
    /// (seen: loc −38, scale 16 on independent data); then q stays as it is.
    let threshold = 0.02

    /// ½ ∫ gap da by the trapezoid rule on `grid` (nats, for an ε-space MMSE gap).
    let area (grid: float[]) (gap: float[]) =
        0.5 * Array.sum (Array.init (grid.Length - 1) (fun i -> 0.5 * (gap.[i] + gap.[i + 1]) * (grid.[i + 1] - grid.[i])))

    /// How many of its own standard errors a held-out gap area must reach to count.
    let significance = 2.0

    /// The held-out gap's area over the grid points i0..i1 (½ ∫, as `area`) and its standard error
    /// over the groups of rows (NaN with one group: then no gate passes).
    let heldOutArea (h: HeldOutGap) (i0: int) (i1: int) =
        h.Groups |> Array.map (fun d -> area h.Grid.[i0..i1] d.[i0..i1]) |> Data.meanAndStdError

    /// The gate on the held-out evidence: the difference-form gap area on rows the network never
    /// trained on must reach the threshold and `significance` times its standard error. The
    /// orthogonal gap is ≥ 0 on any rows, so a network that has memorised its training pairs shows
    /// a gap there; on held-out rows the difference form of such a network is ≤ 0 (seen:
    /// independent 4×4, 1 000 rows, the range widened three times to logistic(−38.9, 17.2) on the
    /// training rows' gap).
    let passes (h: HeldOutGap) =
        let a, se = heldOutArea h 0 (h.Grid.Length - 1)
        a >= threshold && a >= significance * se

    /// Whether the held-out gap over the top (or bottom) eighth of the grid is significantly
    /// positive: the range is widened at an end only then. A barely trained network's gap at the
    /// ends of the range is its own error, amplified in ε-space at high log-SNR: it once widened
    /// the range three times to logistic(−10.6, 44.9) on 1 000 rows of a 0.41-nat pair after 100
    /// quick steps, and the default then read 5.5 nats.
    let endSignificant (h: HeldOutGap) (top: bool) =
        let n = h.Grid.Length
        let m = max 2 (n / 8)
        let a, se = if top then heldOutArea h (n - m) (n - 1) else heldOutArea h 0 (m - 1)
        a > 0.0 && a >= significance * se

    /// As fromGap, with the gates on the held-out evidence too when there is some: q adapts only
    /// when the held-out gap passes, and the range widens at an end only when the held-out gap is
    /// significant there too.
    let rec fromGapGated (q: LogSnrDensity) (grid: float[]) (og: float[]) (heldOut: HeldOutGap option) =
        match heldOut with
        | Some h when not (passes h) -> q, false, false
        | Some h ->
            let q', top, bottom = fromGap q grid og
            q', top && endSignificant h true, bottom && endSignificant h false
        | None -> fromGap q grid og

    /// (q', top, bottom) from the orthogonal gap `og` on `grid` (the range of q): q kept below the
    /// threshold; else LogSnr.fitToGap with the location clamped into the range and the scale to
    /// at most a quarter of its width. `top`/`bottom`: the gap is still above 10% of its peak at
    /// that end of the range (the range should be widened there).
    and fromGap (q: LogSnrDensity) (grid: float[]) (og: float[]) =
        let lo, hi = LogSnr.range q
        let area = area grid og
        if not (area >= threshold) then q, false, false
        else
            let peak = Array.max og
            let top, bottom = og.[og.Length - 1] > 0.1 * peak, og.[0] > 0.1 * peak
            let fitted =
                match LogSnr.fitToGap grid og 0.5 4.0 q with
                | Logistic(m, sc, c) -> LogSnr.logistic (min hi (max lo m)) (min sc ((hi - lo) / 4.0)) c
                | other -> other
            fitted, top, bottom

/// The defensive share of the adapted log-SNR density (option `defensive-share`, 0 = the bare
/// fitted logistic): see LogSnr.defensive and TrainingPlan.run.
module DefensiveShareOption =
    let standard = 0.2

    let read (options: EstimatorOptions) =
        let v = Estimation.extraFloat options "defensive-share" standard
        if not (v >= 0.0 && v < 1.0) then
            invalidArg "defensive-share" (sprintf "option 'defensive-share' must lie in [0, 1) (0 = no uniform mixed into the adapted density), got %g." v)
        v

/// What a phase of the training plan trains on (TrainingWeights decides its loss from it).
type PhaseDensity =
    /// The profile's fixed density q₀.
    | FixedDensity
    /// A wide logistic over a log-SNR range being widened (high MI).
    | WideningDensity
    /// A density fitted to the preliminary model's gap (whatever its defensive share).
    | FittedDensity

/// Whether the training loss is importance-weighted (option `train-weighted`): "1" always —
/// the ε-MSE averaged uniformly over q's log-SNR range, so q changes only the gradient noise;
/// "0" never — the plain ε-MSE at a ~ q, so training effort follows q; "adapted" (default) —
/// weighted on the fixed and the widening densities, plain on a density fitted to the gap
/// (the training plan says which, PhaseDensity), so the last phase spends its steps where the
/// MI integrand is.
/// Measured in docs/accuracy.md: plain training on the adapted density lifts the orthogonal
/// adaptive form on the spirals by 0.1–0.2 nats; plain training everywhere also made a
/// memorising network on 1 000 independent rows report more (0.039 ± 0.017 against
/// 0.011 ± 0.012), and on independent data the gate keeps the fixed density, so "adapted"
/// leaves that case as it was.
module TrainingWeights =
    type Mode =
        | Always
        | Never
        | OnFixed

    let read (options: EstimatorOptions) =
        match Estimation.extraString options "train-weighted" "adapted" with
        | "1" -> Always
        | "0" -> Never
        | "adapted" -> OnFixed
        | other -> invalidArg "train-weighted" (sprintf "option 'train-weighted' must be 1, 0 or adapted, got '%s'." other)

    let weighted (mode: Mode) (kind: PhaseDensity) =
        match mode with
        | Always -> true
        | Never -> false
        | OnFixed -> kind <> FittedDensity

/// What the MMG training plan did.
type PlanOutcome =
    { AdaptiveQ: LogSnrDensity
      /// Range-widening rounds (0–3).
      Rounds: int
      Fixed: PhaseOutcome
      Adaptive: PhaseOutcome }

/// The MMG training plan, one for MI and CMI: `steps` with the fixed density, a snapshot of
/// that model, then the adaptive density fitted to the preliminary model's gap (mixed with
/// `defensiveShare` of the uniform on its support, LogSnr.defensive; 0 = unmixed); if the gap is
/// still large at an end of the range (high MI puts the conditional transition beyond it), the
/// range is widened by half its width on that side and trained on for a fifth of the adaptive
/// budget, up to three times, before the rest of the adaptive budget. The range is found from the
/// data, not set per task. `phase q kind steps name seed` trains one phase on q, which is of
/// `kind` (PhaseDensity: fixed, widening, or fitted to the gap); `gap q seed` returns the
/// preliminary model's orthogonal gap on a grid over q's range (training rows) and, when there are
/// held-out rows, its difference-form gap area there with its standard error (HeldOutGap, the gate
/// of AdaptiveDensity.fromGapGated).
module TrainingPlan =
    let run (phase: LogSnrDensity -> PhaseDensity -> int -> string -> int -> PhaseOutcome) (gap: LogSnrDensity -> int -> float[] * float[] * HeldOutGap option)
            (snapshot: unit -> unit) (fixedQ: LogSnrDensity) (steps: int) (adaptSteps: int) (defensiveShare: float) (seed: int) : PlanOutcome =
        let first = phase fixedQ FixedDensity steps "denoiser (fixed q)" (seed + 5)
        snapshot ()
        let adapt q s =
            let grid, og, heldOut = gap q s
            let q', top, bottom = AdaptiveDensity.fromGapGated q grid og heldOut
            let fitted = q' <> q
            let q' = if fitted && defensiveShare > 0.0 then LogSnr.defensive q' defensiveShare else q'
            q', fitted, top, bottom
        let mutable adaptiveQ, fitted, top, bottom = adapt fixedQ (seed + 7)
        let mutable range = LogSnr.range fixedQ
        let mutable rounds = 0
        let widenSteps = max 1 (adaptSteps / 5)
        while (top || bottom) && rounds < 3 do
            let lo, hi = range
            let w = hi - lo
            let lo', hi' = (if bottom then lo - 0.5 * w else lo), (if top then hi + 0.5 * w else hi)
            let wide = LogSnr.logistic ((lo' + hi') / 2.0) ((hi' - lo') / 8.0) 4.0
            phase wide WideningDensity widenSteps (sprintf "denoiser (widening log-SNR range to [%.0f, %.0f])" lo' hi') (seed + 20 + rounds) |> ignore
            let q', f', t', b' = adapt wide (seed + 8 + rounds)
            adaptiveQ <- q'
            fitted <- f'
            top <- t'
            bottom <- b'
            range <- (lo', hi')
            rounds <- rounds + 1
        let kind = if fitted then FittedDensity elif rounds > 0 then WideningDensity else FixedDensity
        let last = phase adaptiveQ kind (max 1 (adaptSteps - rounds * widenSteps)) "denoiser (adaptive q)" (seed + 6)
        { AdaptiveQ = adaptiveQ; Rounds = rounds; Fixed = first; Adaptive = last }

/// Early-stopping settings of an MMG fit, from the options: `validation` (share of the training
/// rows held out to score the EMA weights, default 0.1; 0 = off) and `patience` (scores without
/// improvement before a phase ends; a phase is scored 100 times, default 50).
module EarlyStoppingOptions =
    let validation (options: EstimatorOptions) =
        let v = Estimation.extraFloat options "validation" 0.1
        if not (v >= 0.0 && v < 0.5) then
            invalidArg "validation" (sprintf "validation must lie in [0, 0.5) (0 = no early stopping), got %g." v)
        v

    let patience (options: EstimatorOptions) =
        let p = Estimation.extraInt options "patience" 50
        if p < 1 then invalidArg "patience" (sprintf "patience must be at least 1 score, got %d." p)
        p

    /// The fitting and the held-out rows of n training rows (seeded by seed + 3); all rows fit
    /// when `validation` is 0. Refuses a split that leaves fewer fitting rows than a batch.
    let split (seed: int) (validation: float) (n: int) (batchSize: int) : int[] * int[] =
        let fitRows, valRows =
            if validation = 0.0 then Array.init n id, [||]
            else Data.split (seed + 3) validation n
        if fitRows.Length < batchSize then
            invalidArg "x" (sprintf "%d training rows leave %d after holding out %.0f%% for early stopping, fewer than the batch size %d; give more rows, a smaller batch size or validation=0." n fitRows.Length (100.0 * validation) batchSize)
        fitRows, valRows

    /// Option `stop-score`: what early stopping scores on the held-out rows — `both` (the default:
    /// the conditional plus the unconditional ε-loss) or `conditional` (the conditional ε-loss
    /// alone). Returns true for `conditional`.
    let conditionalScore (options: EstimatorOptions) =
        match Estimation.extraString options "stop-score" "both" with
        | "both" -> false
        | "conditional" -> true
        | other -> invalidArg "stop-score" (sprintf "option 'stop-score' must be both or conditional, got '%s'." other)

    /// Scores per phase budget.
    let every (steps: int) = max 10 (steps / 100)

    /// Past its budget an overtime phase ends after this many scores without improvement (a tenth
    /// of a phase's budget at the default cadence).
    [<Literal>]
    let OvertimePatience = 10

    /// Option `overtime`: how far past its budget a phase may run while its held-out score is
    /// still improving, as a share of the budget (0 = never; 1 = up to twice the budget), or None
    /// when not given (the profile's: MmgProfile.Overtime). It acts with `validation` > 0 only:
    /// without held-out rows nothing says the score improves.
    let overtime (options: EstimatorOptions) : float option =
        match Estimation.extraString options "overtime" "" with
        | "" -> None
        | _ ->
            let v = Estimation.extraFloat options "overtime" 0.0
            if not (v >= 0.0 && v <= Overtime.MaxShare) then
                invalidArg "overtime" (sprintf "option 'overtime' must lie in [0, %g] (a share of each phase's budget; 0 = none), got %g." Overtime.MaxShare v)
            Some v

    /// Repeats per held-out row: about 4 000 scored rows in all, at most 32 per row.
    let repeats (rows: int) = max 1 (min 32 (4000 / max 1 rows))
