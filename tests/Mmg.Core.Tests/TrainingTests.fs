/// The one optimisation loop (TrainingLoop) on its own: smoothing, schedules, the EMA copy, early
/// stopping, its contract with the step function and cancellation through the progress callback.
module Mmg.Core.Tests.TrainingTests

open System
open TorchSharp
open global.Xunit
open Mmg.Core

/// A fresh parameter vector of `n` zeros.
let private parameter (n: int64) = torch.nn.Parameter(torch.zeros(n))

/// The values of parameters, flattened, in order.
let private values (ps: seq<Modules.Parameter>) =
    ps |> Seq.collect (fun p -> (use d = p.detach () in d.flatten().data<float32>().ToArray())) |> Array.ofSeq

/// One step that pulls p towards 1 (loss ‖p − 1‖²), so the weights move at every step.
let private pullStep (loop: TrainingLoop) (p: Modules.Parameter) () =
    use scope = torch.NewDisposeScope()
    loop.Apply((p - 1.0).square().sum())

/// One step whose batch loss is `next ()` exactly (a float32 value), with a zero gradient.
let private scriptedStep (loop: TrainingLoop) (p: Modules.Parameter) (next: unit -> float) () =
    use scope = torch.NewDisposeScope()
    loop.Apply(p.sum() * 0.0 + next ())

/// A function returning script.[0], script.[1], … on successive calls.
let private scripted (script: float[]) =
    let calls = ref 0
    fun () ->
        calls.Value <- calls.Value + 1
        script.[calls.Value - 1]

[<Fact>]
let ``without an EMA copy early stopping keeps and restores the best-scoring live weights`` () =
    // Scores lowest at the 4th call (step 40); three scores without improvement (steps 50, 60,
    // 70) end the phase. The live weights at every score are recorded.
    use p = parameter 4L
    use loop = new TrainingLoop([ p ], LoopSettings.ConstantRate(0.01, 0.1))
    let script = scripted [| 5.0; 4.0; 3.0; 2.0; 2.5; 2.1; 3.0; 4.0; 5.0; 6.0 |]
    let seen = Collections.Generic.List<float32[]>()
    let score () =
        seen.Add(values [ p ])
        script ()
    let outcome = loop.Run(1000, "test", null, pullStep loop p, { Every = 10; Patience = 3; Loss = score })
    Assert.False(loop.HasEma)
    Assert.Equal(70, outcome.Steps)
    Assert.Equal(40, outcome.KeptStep)
    Assert.Equal(2.0, outcome.ValidationLoss)
    Assert.Equal(7, seen.Count)
    Assert.NotEqual<float32[]>(seen.[3], seen.[6])
    Assert.Equal<float32[]>(seen.[3], values [ p ])

[<Fact>]
let ``overtime lets a phase whose score still improves run past its budget, and no other phase`` () =
    // Budget 100 steps, scored every 10 (Patience 5). Overtime: up to 50% more while the best
    // score is at most 2 scores old.
    let run (overtime: Overtime) (script: float[]) =
        use p = parameter 2L
        use loop = new TrainingLoop([ p ], LoopSettings.ConstantRate(0.01, 0.1))
        loop.Overtime <- overtime
        let score = scripted script
        loop.Run(100, "test", null, pullStep loop p, { Every = 10; Patience = 5; Loss = score })
    let half = { Share = 0.5; Patience = 2 }
    // Still improving at every score: runs to the limit, 150 steps, and keeps the last.
    let improving = Array.init 15 (fun i -> 10.0 - float i)
    let o = run half improving
    Assert.Equal((150, 150), (o.Steps, o.KeptStep))
    Assert.Equal((100, 100), (let n = run Overtime.None improving in n.Steps, n.KeptStep))
    // Best at step 90, then a worse score at 100 (one score old: goes on) and at 110: ends at 110
    // (two scores without improvement past the budget), keeping step 90.
    let turning = [| 10.0; 9.0; 8.0; 7.0; 6.0; 5.0; 4.0; 3.0; 2.0; 2.5; 2.6; 2.7; 2.8 |]
    let t = run half turning
    Assert.Equal((110, 90), (t.Steps, t.KeptStep))
    // A best two scores old at the budget (step 80): ends at the budget, as without overtime.
    let old = [| 10.0; 9.0; 8.0; 7.0; 6.0; 5.0; 4.0; 3.0; 3.5; 3.6; 1.0 |]
    let a, b = run half old, run Overtime.None old
    Assert.Equal((100, 80), (a.Steps, a.KeptStep))
    Assert.Equal((b.Steps, b.KeptStep, b.ValidationLoss), (a.Steps, a.KeptStep, a.ValidationLoss))
    // A phase that stops early (5 scores without improvement before the budget) is unchanged.
    let early = [| 5.0; 4.0; 4.5; 4.6; 4.7; 4.8; 4.9; 1.0 |]
    Assert.Equal((70, 20), (let e = run half early in e.Steps, e.KeptStep))
    // Out-of-range settings are refused, naming the field.
    use p = parameter 1L
    use loop = new TrainingLoop([ p ], LoopSettings.ConstantRate(0.01, 0.1))
    Assert.Contains("Share", (Assert.Throws<ArgumentException>(fun () -> loop.Overtime <- { Share = -0.5; Patience = 2 })).Message)
    Assert.Contains("Patience", (Assert.Throws<ArgumentException>(fun () -> loop.Overtime <- { Share = 0.5; Patience = 0 })).Message)

[<Fact>]
let ``with an EMA copy the EMA weights are scored and kept, and the live weights restored to them`` () =
    use p = parameter 3L
    use pe = parameter 3L
    let settings = { LoopSettings.ConstantRate(0.05, 0.1) with Schedule = Plateau; PlateauPatience = 1000; MinLearningRate = 0.0 }
    use loop = new TrainingLoop([ p ], settings, { Parameters = [ pe ]; Decay = 0.9 })
    let script = scripted [| 3.0; 1.0; 2.0; 2.0 |]
    let seen = Collections.Generic.List<float32[] * float32[]>()
    let score () =
        seen.Add((values [ pe ], values [ p ]))
        script ()
    let outcome = loop.Run(100, "test", null, pullStep loop p, { Every = 5; Patience = 2; Loss = score })
    Assert.True(loop.HasEma)
    Assert.Equal(20, outcome.Steps)
    Assert.Equal(10, outcome.KeptStep)
    let emaAt10, liveAt10 = seen.[1]
    Assert.NotEqual<float32[]>(emaAt10, liveAt10)
    Assert.Equal<float32[]>(emaAt10, values [ pe ])
    Assert.Equal<float32[]>(emaAt10, values [ p ])

[<Fact>]
let ``the EMA copy starts as the live weights and follows them with the warmed-up decay`` () =
    use p = parameter 2L
    use pe = torch.nn.Parameter(torch.full(2L, 7.0f))
    use loop = new TrainingLoop([ p ], LoopSettings.ConstantRate(0.1, 0.1), { Parameters = [ pe ]; Decay = 0.999 })
    Assert.Equal<float32[]>(values [ p ], values [ pe ])
    pullStep loop p () |> ignore
    // step 1: d = min(0.999, 2/11), pe ← pe + (1 − d)(p − pe) with pe = 0 before
    let d = min 0.999 (2.0 / 11.0)
    let expected = values [ p ] |> Array.map (fun v -> float v * (1.0 - d))
    let got = values [ pe ]
    Assert.True(got.[0] <> 0.0f, "the live weights should have moved")
    for i in 0 .. 1 do
        Assert.True(abs (float got.[i] - expected.[i]) < 1e-6, sprintf "EMA weight %d is %g, expected %g" i got.[i] expected.[i])

[<Fact>]
let ``a constant-schedule loop reports the loss smoothed with weight w on a scripted loss sequence`` () =
    let losses = [| 4.0; 2.0; 8.0; 1.0; 3.0; 0.5; 6.0; 2.0 |]
    let w = 0.25
    use p = parameter 1L
    use loop = new TrainingLoop([ p ], LoopSettings.ConstantRate(0.1, w))
    let reports = Collections.Generic.List<TrainingProgress>()
    let outcome = loop.Run(losses.Length, "scripted", Action<_>(reports.Add), scriptedStep loop p (scripted losses))
    let expected = losses |> Array.scan (fun s l -> if Double.IsNaN s then l else (1.0 - w) * s + w * l) nan |> Array.tail
    // by hand: 4, 0.75·4 + 0.25·2 = 3.5, 0.75·3.5 + 0.25·8 = 4.625
    Assert.Equal<float[]>([| 4.0; 3.5; 4.625 |], expected.[0..2])
    Assert.Equal<int[]>([| 1 .. losses.Length |], reports |> Seq.map (fun r -> r.Step) |> Array.ofSeq)
    Assert.Equal<float[]>(expected, reports |> Seq.map (fun r -> r.Loss) |> Array.ofSeq)
    Assert.Equal(expected.[expected.Length - 1], outcome.SmoothedLoss)
    Assert.Equal(expected.[expected.Length - 1], loop.SmoothedLoss)
    Assert.Equal(losses.Length, outcome.KeptStep)
    Assert.True(Double.IsNaN outcome.ValidationLoss)
    Assert.Equal(0.1, loop.LearningRate)

[<Fact>]
let ``the plateau schedule halves the rate after PlateauPatience steps without improvement, down to the floor; constant never`` () =
    // Rising losses, smoothed with w = 0.5: only the first step improves; patience 2 halves at
    // steps 3, 5 and 7 (the last to the floor 0.02), then the floor holds.
    let losses = Array.init 9 (fun i -> float (i + 1))
    let rates (schedule: LearningRateSchedule) =
        use p = parameter 1L
        let settings = { LearningRate = 0.1; Schedule = schedule; PlateauPatience = 2; MinLearningRate = 0.02; SmoothingWeight = 0.5 }
        use loop = new TrainingLoop([ p ], settings)
        let step = scriptedStep loop p (scripted losses)
        [| for _ in losses -> (step () |> ignore; loop.LearningRate) |]
    Assert.Equal<float[]>([| 0.1; 0.1; 0.05; 0.05; 0.025; 0.025; 0.02; 0.02; 0.02 |], rates Plateau)
    Assert.Equal<float[]>(Array.create 9 0.1, rates Constant)

[<Fact>]
let ``the cosine schedule warms up linearly, ends at 5% of the rate, and every phase starts again`` () =
    use p = parameter 1L
    use loop = new TrainingLoop([ p ], { LoopSettings.ConstantRate(0.2, 0.1) with Schedule = Cosine })
    let seen = ResizeArray<float>()
    let step () =
        seen.Add loop.LearningRate
        pullStep loop p ()
    loop.Run(40, "cosine", null, step) |> ignore
    // warm-up of max(1, 40/10) = 4 steps
    Assert.Equal(0.05, seen.[0], 12)
    Assert.Equal(0.1, seen.[1], 12)
    Assert.Equal(0.2, seen.[3], 12)
    Assert.Equal(0.01, seen.[39], 12)
    for i in 4 .. 38 do
        Assert.True(seen.[i + 1] < seen.[i], sprintf "the rate rose from step %d to %d: %g to %g" (i + 1) (i + 2) seen.[i] seen.[i + 1])
    loop.Run(40, "cosine again", null, step) |> ignore
    Assert.Equal(0.05, seen.[40], 12)

[<Fact>]
let ``a step that does not call Apply exactly once, and bad settings, are refused with the value named`` () =
    use p = parameter 1L
    use loop = new TrainingLoop([ p ], LoopSettings.ConstantRate(0.1, 0.1))
    let ex = Assert.Throws<InvalidOperationException>(fun () -> loop.Run(5, "lazy", null, fun () -> 0.0) |> ignore)
    Assert.Contains("'lazy'", ex.Message)
    Assert.Contains("called it 0 times", ex.Message)
    let twice () =
        pullStep loop p () |> ignore
        pullStep loop p ()
    Assert.Contains("called it 2 times", (Assert.Throws<InvalidOperationException>(fun () -> loop.Run(5, "greedy", null, twice) |> ignore)).Message)
    let refused (f: unit -> TrainingLoop) = (Assert.Throws<ArgumentException>(fun () -> f () |> ignore)).Message
    Assert.Contains("got 0", refused (fun () -> new TrainingLoop([ p ], LoopSettings.ConstantRate(0.1, 0.0))))
    Assert.Contains("got 1.5", refused (fun () -> new TrainingLoop([ p ], LoopSettings.ConstantRate(0.1, 1.5))))
    Assert.Contains("LearningRate", refused (fun () -> new TrainingLoop([ p ], LoopSettings.ConstantRate(-1.0, 0.1))))
    Assert.Contains("PlateauPatience", refused (fun () -> new TrainingLoop([ p ], { LoopSettings.ConstantRate(0.1, 0.1) with Schedule = Plateau; PlateauPatience = 0 })))
    use wrong = parameter 2L
    Assert.Contains("[2]", refused (fun () -> new TrainingLoop([ p ], LoopSettings.ConstantRate(0.1, 0.1), { Parameters = [ wrong ]; Decay = 0.9 })))
    Assert.Contains("1.5", refused (fun () -> new TrainingLoop([ p ], LoopSettings.ConstantRate(0.1, 0.1), { Parameters = [ wrong ]; Decay = 1.5 })))
    Assert.Contains("Patience", (Assert.Throws<ArgumentException>(fun () -> loop.Run(5, "x", null, pullStep loop p, { Every = 1; Patience = 0; Loss = fun () -> 0.0 }) |> ignore)).Message)

[<Fact>]
let ``a progress callback that throws (a host's cancellation) ends the run and frees the kept weights`` () =
    use p = parameter 8L
    use loop = new TrainingLoop([ p ], LoopSettings.ConstantRate(0.01, 0.1))
    for _ in 1 .. 3 do pullStep loop p () |> ignore // Adam's state exists before counting
    DisposeScopeManager.Statistics.Reset()
    let cancel = Action<TrainingProgress>(fun r -> if r.Step = 17 then raise (OperationCanceledException "cancelled"))
    let score = scripted (Array.init 10 (fun i -> 10.0 - float i))
    Assert.Throws<OperationCanceledException>(fun () -> loop.Run(100, "cancelled", cancel, pullStep loop p, { Every = 5; Patience = 3; Loss = score }) |> ignore) |> ignore
    // three scores kept a snapshot (steps 5, 10, 15); it must not outlive the run
    Assert.Equal(0L, DisposeScopeManager.Statistics.ThreadTotalLiveCount)
    Assert.Equal(20, loop.Steps)

// AdamOptimizer is TorchSharp 0.107's torch.optim.Adam(parameters, lr) made with explicitly
// disposed scalars on flat buffers (FlatParameters); it must be the same update bit for bit (else
// every seeded result would move): two copies of a two-layer net whose four parameters (15, 5, 20
// and 4 numbers) are no multiples of the buffers' alignment, so slices start inside a vector lane
// group of the per-parameter layout, the same batches, 300 steps with a rate change half-way,
// identical weights at the end, and weights that did move.
[<Fact>]
let ``AdamOptimizer reproduces TorchSharp's Adam bit for bit`` () =
    let make () =
        torch.manual_seed 5L |> ignore
        torch.nn.Sequential(torch.nn.Linear(3L, 5L), torch.nn.Tanh(), torch.nn.Linear(5L, 4L))
    use netA = make ()
    use netB = make ()
    let pa = netA.parameters () |> Array.ofSeq
    let pb = netB.parameters () |> Array.ofSeq
    let start = values pa
    Assert.Equal<float32[]>(start, values pb)
    use ours = new AdamOptimizer(pa, 2e-3)
    use theirs = torch.optim.Adam(pb, lr = 2e-3)
    use g = new torch.Generator(7UL)
    for s in 1 .. 300 do
        use scope = torch.NewDisposeScope()
        let x = torch.randn([| 64L; 3L |], generator = g)
        let y = torch.randn([| 64L; 4L |], generator = g)
        if s = 150 then
            ours.LearningRate <- 1e-3
            for group in theirs.ParamGroups do group.LearningRate <- 1e-3
        ours.ZeroGrad()
        (netA.forward(x).tanh() - y).square().mean().backward()
        ours.Step()
        theirs.zero_grad ()
        (netB.forward(x).tanh() - y).square().mean().backward()
        theirs.step () |> ignore
    Assert.Equal(300L, ours.Steps)
    Assert.NotEqual<float32[]>(start, values pa)
    Assert.Equal<float32[]>(values pb, values pa)

// The flat layout: after the optimiser is made, every parameter and its gradient are views of one
// buffer per dtype (a float32 and a float64 parameter give two), the values are unchanged by the
// binding, a step moves the used parameters as Adam's first step does (by the learning rate,
// against the gradient's sign, less ε: rounded to 6 decimals) and leaves a parameter the loss never reaches where it was.
[<Fact>]
let ``AdamOptimizer binds parameters and gradients to flat buffers by dtype`` () =
    use a = torch.nn.Parameter(torch.tensor([| 1.0f; -2.0f; 3.0f |]))
    use b = torch.nn.Parameter(torch.tensor([| 0.5; 0.25 |]))
    use unused = torch.nn.Parameter(torch.tensor([| 7.0f; 8.0f |]))
    use adam = new AdamOptimizer([| a; b; unused |], 0.1)
    Assert.Equal<float32[]>([| 1.0f; -2.0f; 3.0f |], values [ a ])
    Assert.Equal<float[]>([| 0.5; 0.25 |], (use d = b.detach () in d.data<float>().ToArray()))
    Assert.Equal<float32[]>([| 7.0f; 8.0f |], values [ unused ])
    // one storage per dtype: a and unused share theirs, b has its own
    Assert.Equal(a.storage_offset () + 16L, unused.storage_offset ())
    Assert.Equal(0L, b.storage_offset ())
    for p in [ a :> torch.Tensor; b :> torch.Tensor; unused :> torch.Tensor ] do
        use g = p.grad
        Assert.NotNull g
        Assert.Equal<int64[]>(p.shape, g.shape)
    adam.ZeroGrad()
    do
        use scope = torch.NewDisposeScope()
        (a.sum() - (b.``to`` torch.ScalarType.Float32).sum()).backward()
    adam.Step()
    Assert.Equal<float32[]>([| 0.9f; -2.1f; 2.9f |], values [ a ] |> Array.map (fun v -> MathF.Round(v, 5)))
    Assert.Equal<float[]>([| 0.6; 0.35 |], (use d = b.detach () in d.data<float>().ToArray()) |> Array.map (fun v -> Math.Round(v, 6)))
    Assert.Equal<float32[]>([| 7.0f; 8.0f |], values [ unused ])

[<Fact>]
let ``decoupled weight decay shrinks the weight matrices by 1 − rate·λ per step and leaves vectors alone`` () =
    // With a zero gradient Adam's own update is exactly 0 (both moments stay 0), so one step
    // changes a parameter only through the decay: a matrix is multiplied by 1 − 0.01·0.5, a
    // vector (a bias, a norm's scale) is not touched. Without decay nothing moves.
    let run (decay: float option) =
        use m = torch.nn.Parameter(torch.ones(2L, 3L))
        use v = torch.nn.Parameter(torch.ones(4L))
        use loop = new TrainingLoop([ m; v ], LoopSettings.ConstantRate(0.01, 0.1))
        decay |> Option.iter (fun d -> loop.WeightDecay <- d)
        let step () =
            use scope = torch.NewDisposeScope()
            loop.Apply((m.sum() + v.sum()) * 0.0)
        loop.Run(1, "test", null, step) |> ignore
        values [ m ], values [ v ]
    let m0, v0 = run None
    Assert.All(Array.append m0 v0, fun x -> Assert.Equal(1.0f, x))
    let m1, v1 = run (Some 0.5)
    Assert.All(m1, fun x -> Assert.Equal(float32 (1.0 - 0.01 * 0.5), x, 6))
    Assert.All(v1, fun x -> Assert.Equal(1.0f, x))
    use p = parameter 2L
    use loop = new TrainingLoop([ p ], LoopSettings.ConstantRate(0.01, 0.1))
    let e = Assert.Throws<ArgumentException>(fun () -> loop.WeightDecay <- -0.1)
    Assert.Contains("[0, 1)", e.Message)
