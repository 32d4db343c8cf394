namespace Mmg.Core

open System
open System.IO
open System.Text.Json
open System.Collections.Generic
open TorchSharp

/// Hyper-parameters of an MMG run. A profile fixes all of them; options override some.
type MmgProfile =
    { Name: string
      /// Training steps with the fixed log-SNR density (the model of the non-adaptive variants,
      /// and the preliminary model of the adaptive ones).
      Steps: int
      /// Further steps with the adapted density (the model of the adaptive variants).
      AdaptSteps: int
      BatchSize: int
      LearningRate: float
      /// 0 = from the data dimension (Network.defaultWidth).
      Width: int
      EmaDecay: float
      /// Decoupled weight decay of the weight matrices (AdamOptimizer.WeightDecay; option
      /// `weight-decay`, 0 = plain Adam).
      WeightDecay: float
      DropProbability: float
      PlateauPatience: int
      /// Independent (a, ε) draws per test row at estimation time.
      Repeats: int
      TestFraction: float
      /// Samples drawn from a benchmark task when the user gives no count.
      Samples: int
      FixedQ: LogSnrDensity
      CurvePoints: int
      /// Share of a phase's budget an early-stopped phase may run past it while its held-out score
      /// still improves (option `overtime`, EarlyStoppingOptions.overtime; 0 = none).
      Overtime: float }

module MmgProfiles =
    /// Ours: sized so a 1×1 to 5×5 task takes about a minute on 2 CPU cores (docs/profiles.md).
    let standard =
        { Name = "default"
          Steps = 10000
          AdaptSteps = 5000
          BatchSize = 256
          LearningRate = 2e-3
          Width = 64
          EmaDecay = 0.999
          WeightDecay = 0.0
          DropProbability = 0.5
          PlateauPatience = 2000
          Repeats = 10
          TestFraction = 0.2
          Samples = 10000
          FixedQ = LogSnr.paperDefault
          CurvePoints = 64
          // a phase still improving at its budget may run up to twice it (docs/accuracy.md,
          // fourteenth round: high MI within 4% on every seed at 15 nats)
          Overtime = 1.0 }

    /// The paper's hyper-parameters (Tables 2 and 3): 390k iterations, batch 128, lr 1e-3 for
    /// dim ≤ 10 (290k, 256, 2e-3 above), width by dimension, logistic (2, 3, 4), EMA 0.999,
    /// 10 inference repeats, 10k test points out of 110k samples. The paper does not state the
    /// preliminary model's budget; we give the adaptive phase half the main one.
    let paper (dimX: int) (dimY: int) =
        let small = dimX + dimY <= 10
        { Name = "paper"
          Steps = (if small then 390000 else 290000)
          AdaptSteps = (if small then 195000 else 145000)
          BatchSize = (if small then 128 else 256)
          LearningRate = (if small then 1e-3 else 2e-3)
          Width = 0
          EmaDecay = 0.999
          WeightDecay = 0.0
          DropProbability = 0.5
          PlateauPatience = 20000
          Repeats = 10
          TestFraction = 10000.0 / 110000.0
          Samples = 110000
          FixedQ = LogSnr.paperDefault
          CurvePoints = 64
          // the paper's budget, as the paper ran it
          Overtime = 0.0 }

    /// A small budget for tests of the pipeline (not of accuracy).
    let quick =
        { standard with
            Name = "quick"
            Steps = 600
            AdaptSteps = 300
            BatchSize = 128
            Repeats = 2
            Samples = 2000
            CurvePoints = 24
            // a pipeline test runs its steps and no more
            Overtime = 0.0 }

    /// The named profile for data of the given dimensions.
    let byName (name: string) (dimX: int) (dimY: int) =
        match (if isNull name then "default" else name.ToLowerInvariant()) with
        | "" | "default" -> standard
        | "paper" -> paper dimX dimY
        | "quick" -> quick
        | other -> invalidArg "profile" (sprintf "unknown profile '%s'; use default, paper or quick." other)

    /// The profile with the options' overrides applied (Steps scales AdaptSteps in proportion).
    let resolve (options: EstimatorOptions) (dimX: int) (dimY: int) =
        let p = byName options.Profile dimX dimY
        let steps = Estimation.orDefault options.Steps p.Steps
        let adapt =
            if options.Steps > 0 then int (Math.Round(float p.AdaptSteps * float options.Steps / float p.Steps))
            else p.AdaptSteps
        let atLeast (key: string) (least: int) (meaning: string) (v: int) =
            if v < least then invalidArg key (sprintf "option '%s' must be at least %d%s, got %d." key least meaning v)
            v
        // a share or momentum in [0, 1), the profile's value unless given
        let belowOne (key: string) (meaning: string) (fallback: float) =
            let v = Estimation.extraFloat options key fallback
            if not (v >= 0.0 && v < 1.0) then invalidArg key (sprintf "option '%s' must lie in [0, 1)%s, got %g." key meaning v)
            v
        { p with
            Steps = steps
            AdaptSteps =
                // a short --steps can round the derived budget to 0 (the plan then runs 1 step); a given one must be ≥ 1
                let v = Estimation.extraInt options "adapt-steps" adapt
                if v <> adapt then atLeast "adapt-steps" 1 "" v else v
            BatchSize = Estimation.orDefault options.BatchSize p.BatchSize
            LearningRate = Estimation.orDefaultF options.LearningRate p.LearningRate
            Width = Estimation.extraInt options "width" p.Width |> atLeast "width" 0 " (0 = by the data's dimension)"
            EmaDecay = belowOne "ema-decay" "" p.EmaDecay
            WeightDecay = belowOne "weight-decay" " (a decoupled decay per unit of learning rate)" p.WeightDecay
            Repeats = Estimation.extraInt options "repeats" p.Repeats |> atLeast "repeats" 1 ""
            PlateauPatience = Estimation.extraInt options "plateau-patience" p.PlateauPatience |> atLeast "plateau-patience" 1 " step"
            DropProbability = belowOne "drop-probability" "" p.DropProbability
            TestFraction = Estimation.orDefaultF options.TestFraction p.TestFraction
            Overtime = EarlyStoppingOptions.overtime options |> Option.defaultValue p.Overtime }

/// The options of an MMG (or MMG-CMI) fit beyond the profile, typed and checked once
/// (MmgFitOptions.read) before anything trains; MmgFit.run reads these, not EstimatorOptions.Extra.
type MmgFitOptions =
    { Seed: int
      Device: string
      /// Option `linear-base`: Some on/off, or None for the default by size (Network.linearBaseFor).
      LinearBase: bool option
      /// Option `zero-init` ≠ 0: the trunk's output layer starts at zero (with the linear base).
      ZeroInit: bool
      /// Option `y-embedding`: Some on/off, or None for the default by size (Network.yEmbeddingFor):
      /// y also enters every block (NetworkShape.YEmbedding).
      YEmbedding: bool option
      /// Option `input-features` (InputFeatures: plain, the default, radial or squares; measured in
      /// docs/accuracy.md, nineteenth round, and not made the default).
      InputFeatures: InputFeatures
      /// Option `v-prediction` ≠ 0: the network predicts a velocity (NetworkShape.VPrediction).
      VPrediction: bool
      /// Option `gated` ≠ 0: gated residual blocks (NetworkShape.Gated).
      Gated: bool
      /// Option `norm`: group (Some true), none (Some false) or auto (None; Network.groupNormFor).
      GroupNorm: bool option
      /// Option `blocks`: residual blocks of the network (3 unless given).
      Blocks: int
      /// Option `cosine` ≠ 0: warm-up + cosine instead of plateau halving.
      Schedule: LearningRateSchedule
      /// Option `train-weighted` (TrainingWeights).
      TrainWeighted: TrainingWeights.Mode
      /// Option `validation`: share of the training rows held out for early stopping (0 = off).
      Validation: float
      /// Option `patience`: held-out scores without improvement before a phase ends.
      Patience: int
      /// Option `stop-score=conditional`: early stopping scores the conditional held-out loss
      /// alone (EarlyStoppingOptions.conditionalScore); false: conditional plus unconditional.
      StopOnConditional: bool
      /// Option `defensive-share` (DefensiveShareOption).
      DefensiveShare: float
      /// Option `normal-scores` (NormalScoresChoice).
      NormalScores: NormalScoresChoice }

/// Which columns go through normal-scores maps before the standardisation (Data.MarginalScores).
and NormalScoresChoice =
    /// `normal-scores=off` (or 0): none.
    | NoNormalScores
    /// `normal-scores=auto`: the columns Data.needsNormalScores picks, with this many knots.
    | AutoNormalScores of knots: int
    /// `normal-scores=K`: every column, with K ≥ 2 knots.
    | EveryColumn of knots: int

module NormalScoresChoice =
    /// Knots of the `auto` choice's maps.
    let AutoKnots = 128

    /// The choice as the option's text (auto, off or the knot count).
    let text =
        function
        | NoNormalScores -> "off"
        | AutoNormalScores _ -> "auto"
        | EveryColumn k -> string k

    /// Option `normal-scores`: auto, off/0, or K ≥ 2 knots on every column; `fallback` when absent.
    let read (options: EstimatorOptions) (fallback: NormalScoresChoice) =
        match Estimation.extraString options "normal-scores" "" with
        | "" -> fallback
        | "auto" -> AutoNormalScores AutoKnots
        | "off" | "none" -> NoNormalScores
        | text ->
            let bad () =
                invalidArg "normal-scores" (sprintf "option 'normal-scores' must be auto, off (0) or at least 2 knots for every column, got '%s'." text)
            match Int32.TryParse(text, Globalization.NumberStyles.Integer, Globalization.CultureInfo.InvariantCulture) with
            | true, 0 -> NoNormalScores
            | true, k when k >= 2 -> EveryColumn k
            | _ -> bad ()

    /// The standardiser of one block of training columns under this choice.
    let fit (choice: NormalScoresChoice) (t: TorchSharp.torch.Tensor) : Data.Standardizer =
        match choice with
        | NoNormalScores -> Data.fitStandardizer t
        | AutoNormalScores k -> Data.fitStandardizerPicking k Data.needsNormalScores t
        | EveryColumn k -> Data.fitStandardizerWith k t

module MmgFitOptions =
    /// The default `normal-scores` choice of MMG and MMG-CMI: `auto` (docs/accuracy.md, ninth
    /// round: the 40 tasks × 3 seeds, independence, high MI and the CMI tasks it changes).
    let DefaultNormalScores = AutoNormalScores NormalScoresChoice.AutoKnots

    /// Reads and checks the fit's options (ArgumentException naming the option when out of range).
    let read (options: EstimatorOptions) : MmgFitOptions =
        { Seed = options.Seed
          Device = options.Device
          LinearBase = Network.linearBaseChoice options
          ZeroInit = Estimation.extraInt options "zero-init" 0 <> 0
          YEmbedding = Network.yEmbeddingChoice options
          InputFeatures = InputFeatures.parse (Estimation.extraString options "input-features" "")
          VPrediction = Estimation.extraInt options "v-prediction" 0 <> 0
          Gated = Estimation.extraInt options "gated" 0 <> 0
          GroupNorm = Network.groupNormChoice options
          Blocks =
            let b = Estimation.extraInt options "blocks" 3
            if b < 1 then invalidArg "blocks" (sprintf "option 'blocks' must be at least 1, got %d." b)
            b
          Schedule = (if Estimation.extraInt options "cosine" 0 <> 0 then Cosine else Plateau)
          TrainWeighted = TrainingWeights.read options
          Validation = EarlyStoppingOptions.validation options
          Patience = EarlyStoppingOptions.patience options
          StopOnConditional = EarlyStoppingOptions.conditionalScore options
          DefensiveShare = DefensiveShareOption.read options
          NormalScores = NormalScoresChoice.read options DefaultNormalScores }

/// The network-specific parts of an MMG fit (MmgFit.run): MMG's DenoiserNet on the conditions
/// [| y |] (MmgFit.denoiser), MMG-CMI's CmiDenoiserNet on [| y; z |].
type MmgNetwork<'Net when 'Net :> torch.nn.Module> =
    { /// A new network of this shape on the device, initialised from torch's global generator.
      Create: NetworkShape -> torch.Device -> 'Net
      /// The network's ε̂ (training or evaluation mode as the caller has set it).
      Predict: 'Net -> Predictor
      /// Mmse.curves (or ConditionalMmse.curves) of the network: generator, grid, rows x and
      /// their conditions → (grid, unconditional, conditional, gap, orthogonal gap).
      Curves: 'Net -> torch.Generator -> float[] -> Tensor -> Tensor[] -> float[] * float[] * float[] * float[] * float[]
      /// Sets the linear base from the fitting rows x and their conditions; returns the
      /// regression's shrinkage factor.
      SetLinearBase: 'Net -> Tensor -> Tensor[] -> float
      ZeroTrunkOutput: 'Net -> unit
      /// `CopyLinearBase target source`.
      CopyLinearBase: 'Net -> 'Net -> unit }

/// What MmgFit.run trained: the model's parts.
type MmgFitted<'Net> =
    { Shape: NetworkShape
      /// The EMA weights after the fixed-q phase.
      FixedNet: 'Net
      /// The EMA weights after the adaptive phase.
      AdaptiveNet: 'Net
      FixedQ: LogSnrDensity
      AdaptiveQ: LogSnrDensity
      /// Fit on the training rows: x's, then each condition's (y; z for CMI).
      Standardizers: Data.Standardizer[]
      Device: torch.Device
      Settings: IReadOnlyDictionary<string, string> }

/// The MMG fitting procedure, one for MI and CMI: standardise, hold out rows for early stopping,
/// train the fixed-q and adaptive phases (TrainingPlan.run) and record the settings.
module MmgFit =
    let private disposing (tensors: Tensor[]) =
        { new IDisposable with
            member _.Dispose() = for t in tensors do t.Dispose() }

    /// Which columns went through normal-scores maps, per block (x, then the conditions:
    /// y, and z for CMI), 1-based, e.g. "x: 1,2; y: none".
    let normalScoredColumns (standardizers: Data.Standardizer[]) =
        let names = [| "x"; "y"; "z" |]
        standardizers
        |> Array.mapi (fun b s ->
            let mapped = s.Marginals |> Array.indexed |> Array.filter (fun (_, m) -> m.Knots.Length > 0) |> Array.map (fun (j, _) -> string (j + 1))
            sprintf "%s: %s" (if b < names.Length then names.[b] else string b) (if mapped.Length = 0 then "none" else String.Join(",", mapped)))
        |> fun parts -> String.Join("; ", parts)

    /// MMG's network: DenoiserNet on the conditions [| y |].
    let denoiser : MmgNetwork<DenoiserNet> =
        { Create = fun shape device -> (new DenoiserNet(shape)).``to`` device
          Predict = Predictor.denoiser
          Curves = fun net g grid x c -> Mmse.curves (Network.asDenoiser net) g grid x c.[0]
          SetLinearBase = fun net x c -> net.SetLinearBase(x, c.[0])
          ZeroTrunkOutput = fun net -> net.ZeroTrunkOutput()
          CopyLinearBase = fun target source -> target.CopyLinearBase source }

    /// The orthogonal gap of a network on `points` log-SNR values across q's range, on (up to
    /// 2 000 of) the rows x and their conditions: (grid, gap).
    let gapCurve (network: MmgNetwork<'Net>) (net: 'Net) (q: LogSnrDensity) (x: Tensor) (conditions: Tensor[]) (points: int) (seed: int) =
        let lo, hi = LogSnr.range q
        let grid = Array.init points (fun i -> lo + (hi - lo) * float i / float (points - 1))
        let rows = min x.shape.[0] 2000L
        let head = Array.append [| x |] conditions |> Array.map (fun t -> t.narrow (0L, 0L, rows))
        use _ = disposing head
        use g = new torch.Generator(uint64 seed)
        net.eval ()
        let grid, _, _, _, og = network.Curves net g grid head.[0] head.[1..]
        grid, og

    /// The difference-form gap of a network on held-out rows x and their conditions, per group of
    /// rows: the rows are cut into (up to) 10 disjoint groups, each repeated so that about 2 000
    /// noisy rows are scored in all, and each group's curve is computed on `grid` (one ε draw per
    /// repeated row and log-SNR, from `g`).
    let heldOutGap (network: MmgNetwork<'Net>) (net: 'Net) (g: torch.Generator) (grid: float[]) (x: Tensor) (conditions: Tensor[]) : HeldOutGap =
        let n = int x.shape.[0]
        let groups = min 10 n
        let repeats = max 1 (min 32 (2000 / n))
        net.eval ()
        let curves =
            Array.init groups (fun k ->
                let start, stop = k * n / groups, (k + 1) * n / groups
                let part = Array.append [| x |] conditions |> Array.map (fun t -> t.narrow(0L, int64 start, int64 (stop - start)).repeat(int64 repeats, 1L))
                use _ = disposing part
                let _, _, _, d, _ = network.Curves net g grid part.[0] part.[1..]
                d)
        { Grid = grid; Groups = curves }

    /// Trains `network` on x and its conditions (raw units, validated for profile `p`, which was
    /// resolved for all the conditions' columns together) as options say, and returns the parts
    /// of the model. `extraSettings` follow "parameters" in the settings.
    let run (network: MmgNetwork<'Net>) (o: MmgFitOptions) (p: MmgProfile) (x: float[,]) (conditions: float[,][])
            (extraSettings: (string * obj) list) (progress: Action<TrainingProgress>) : MmgFitted<'Net> =
        let dimX, dimY = Array2D.length2 x, Array2D.length2 conditions.[0]
        let dimC = conditions |> Array.sumBy Array2D.length2
        let device = Estimation.device o.Device
        torch.random.manual_seed (int64 o.Seed) |> ignore
        let width = if p.Width > 0 then p.Width else Network.defaultWidth dimX dimC
        let shape = { Network.shape dimX dimY width with LinearBase = Network.linearBaseFor o.LinearBase (dimX + dimC); YEmbedding = Network.yEmbeddingFor o.YEmbedding dimX dimC; Blocks = o.Blocks; InputFeatures = o.InputFeatures; VPrediction = o.VPrediction; Gated = o.Gated; GroupNorm = Network.groupNormFor o.GroupNorm dimX dimC }
        // x first, then the conditions, standardised on the training rows
        let raw = Array.append [| x |] conditions |> Array.map Data.toTensor
        use _ = disposing raw
        let standardizers = raw |> Array.map (NormalScoresChoice.fit o.NormalScores)
        let all =
            Array.map2 (fun s t ->
                use st = Data.standardize s t
                st.``to`` device) standardizers raw
        use _ = disposing all
        // Early stopping on held-out training rows (EarlyStoppingOptions): every phase keeps its
        // best-scoring weights and ends when the held-out loss has stopped improving, so a small
        // data set stops before the network memorises the training pairs (which reads dependence
        // into independent data).
        let validation, patience = o.Validation, o.Patience
        let fitRows, valRows = EarlyStoppingOptions.split o.Seed validation (Array2D.length1 x) p.BatchSize
        let fit = all |> Array.map (fun t -> if valRows.Length = 0 then t.alias () else Data.rows fitRows t)
        use _ = disposing fit
        let held = all |> Array.map (Data.rows valRows)
        use _ = disposing held
        let xs, cs, xv, cv = fit.[0], fit.[1..], held.[0], held.[1..]
        let valRepeats = EarlyStoppingOptions.repeats valRows.Length
        let net = network.Create shape device
        let ema = network.Create shape device
        let shrinkage = if shape.LinearBase then network.SetLinearBase net xs cs else nan
        if shape.LinearBase && o.ZeroInit then network.ZeroTrunkOutput net
        network.CopyLinearBase ema net
        let cfg =
            { BatchSize = p.BatchSize; LearningRate = p.LearningRate; EmaDecay = p.EmaDecay
              DropProbability = p.DropProbability; PlateauPatience = p.PlateauPatience; MinLearningRate = 1e-5 }
        use trainer = new DenoiserTrainer(net, ema, network.Predict net, cfg, o.Seed)
        trainer.Schedule <- o.Schedule
        trainer.WeightDecay <- p.WeightDecay
        trainer.Overtime <- { Share = p.Overtime; Patience = EarlyStoppingOptions.OvertimePatience }
        let weighting = o.TrainWeighted
        // one phase of at most `steps` steps with q, early-stopped on the held-out rows when there are any
        let phase (q: LogSnrDensity) (kind: PhaseDensity) (steps: int) (name: string) (seed: int) =
            trainer.Weighted <- TrainingWeights.weighted weighting kind
            if valRows.Length = 0 then trainer.Train(xs, cs, q, steps, name, progress)
            else
                let predict = network.Predict ema
                use heldOut = new HeldOutLoss((fun za a present c -> ema.eval (); predict za a present c), xv, cv, q, valRepeats, seed, trainer.Weighted)
                let score = if o.StopOnConditional then heldOut.ConditionalLoss else heldOut.Loss
                trainer.Train(xs, cs, q, steps, name, progress, { Every = EarlyStoppingOptions.every steps; Patience = patience; Loss = score })
        // the preliminary model's orthogonal gap on the fitting rows, and its difference-form gap
        // area on the held-out rows (the gate of AdaptiveDensity.fromGapGated)
        let gates = ResizeArray<string>()
        let gap q seed =
            let grid, og = gapCurve network ema q xs cs p.CurvePoints seed
            let heldOut =
                if valRows.Length = 0 then None
                else
                    use g = new torch.Generator(uint64 (seed + 100))
                    let h = heldOutGap network ema g grid xv cv
                    let a, se = AdaptiveDensity.heldOutArea h 0 (grid.Length - 1)
                    gates.Add(sprintf "%.4f ± %.4f" a se)
                    Some h
            grid, og, heldOut
        // the fixed-q EMA model, kept for the non-adaptive variants
        let fixedNet = network.Create shape device
        network.CopyLinearBase fixedNet net
        let snapshot () =
            use _ = torch.no_grad ()
            for dst, src in Seq.zip (fixedNet.parameters ()) (ema.parameters ()) do dst.copy_ src |> ignore
        let plan = TrainingPlan.run phase gap snapshot p.FixedQ p.Steps p.AdaptSteps o.DefensiveShare o.Seed
        let adaptiveQ, rounds, first, last = plan.AdaptiveQ, plan.Rounds, plan.Fixed, plan.Adaptive
        net.Dispose()
        let q2 = LogSnr.describe
        let parameters = ema.parameters () |> Seq.sumBy (fun t -> t.numel ())
        let settings =
            Estimation.settings
                ([ "profile", box p.Name; "steps", box p.Steps; "adapt_steps", box p.AdaptSteps; "batch_size", box p.BatchSize
                   "learning_rate", box p.LearningRate; "final_learning_rate", box trainer.LearningRate; "plateau_patience", box p.PlateauPatience; "width", box width
                   "blocks", box shape.Blocks; "ema_decay", box p.EmaDecay; "weight_decay", box p.WeightDecay; "drop_probability", box p.DropProbability
                   "repeats", box p.Repeats; "test_fraction", box p.TestFraction; "seed", box o.Seed
                   "device", box (string device); "fixed_q", box (q2 p.FixedQ); "adaptive_q", box (q2 adaptiveQ)
                   "range_widening_rounds", box rounds; "held_out_gap", box (String.Join("; ", gates)); "schedule", box (sprintf "%A" trainer.Schedule |> fun t -> t.ToLowerInvariant())
                   "linear_base", box shape.LinearBase; "y_embedding", box shape.YEmbedding; "input_features", box (InputFeatures.text shape.InputFeatures); "v_prediction", box shape.VPrediction; "gated", box shape.Gated; "norm", box (if shape.GroupNorm then "group" else "none"); "regression_shrinkage", box shrinkage; "normal_scores", box (NormalScoresChoice.text o.NormalScores); "normal_scores_columns", box (normalScoredColumns standardizers); "parameters", box parameters ]
                 @ extraSettings
                 @ [ "validation", box validation; "patience", box patience; "stop_score", box (if o.StopOnConditional then "conditional" else "both"); "overtime", box p.Overtime; "fixed_steps_run", box first.Steps; "fixed_step_kept", box first.KeptStep
                     "adapt_steps_run", box last.Steps; "adapt_step_kept", box last.KeptStep ])
        { Shape = shape; FixedNet = fixedNet; AdaptiveNet = ema; FixedQ = p.FixedQ; AdaptiveQ = adaptiveQ
          Standardizers = standardizers; Device = device; Settings = settings }

/// The five MMG variants of one evaluation, each with its standard error.
type MmgEvaluation =
    { Mmg: McEstimate
      MmgAdaptive: McEstimate
      MmgOrthogonal: McEstimate
      MmgOrthogonalAdaptive: McEstimate
      /// ½(difference + orthogonal) of the adaptive model, row by row, rescaled where the rows
      /// show the model shrunk (Mmse.debiased).
      MmgDebiased: McEstimate
      /// The rescaling λ Mmse.debiased applied (1: none).
      DebiasedScale: float
      /// Pointwise MI per row (difference form of the requested variant's model; empty unless
      /// asked for).
      Pointwise: float[]
      Curves: MmseCurves }

/// The evaluation shared by MmgModel and CmiModel: the fixed and the adaptive model's per-row
/// difference and orthogonal integrands on the prepared test rows (the same seed for both: common
/// random numbers across the two runs), the five variants, the per-row difference values of one
/// model when asked, and the adaptive model's MMSE curves on `curvePoints` log-SNRs spanning both
/// densities' ranges. `pointwise net q g` gives a model's (difference, orthogonal) rows;
/// `curves net g grid` its curves on (up to 2 000 of) the rows.
module ModelEvaluation =
    /// Which model's per-row values to return.
    type PointwiseFrom =
        | NoPointwise
        | FixedModel
        | AdaptiveModel

    /// For the variant at index `head` of the order MI and CMI share (fixed difference, adaptive
    /// difference, fixed orthogonal, adaptive orthogonal, debiased), the indices of its model's
    /// difference and orthogonal forms.
    let formsOf (head: int) = if head = 0 || head = 2 then 0, 2 else 1, 3

    /// The reported 95% interval of the variant at `head`: the forms bracket of its model
    /// (Mmse.formsInterval) widened by `halfWidth` (1.96 s.e., or a cross-fit half-width) about
    /// the estimate; `method` names the variability part ("monte-carlo", "cross-fit-K").
    let interval (variants: NamedEstimate[]) (head: int) (halfWidth: float) (method: string) : EstimateInterval =
        let d, o = formsOf head
        let lo, hi = Mmse.formsInterval variants.[head].Estimate halfWidth variants.[d].Estimate variants.[o].Estimate
        { Low = lo; High = hi; Level = 0.95; Method = "forms+" + method }

    let evaluate (pointwise: 'Net -> LogSnrDensity -> torch.Generator -> Tensor * Tensor)
                 (curves: 'Net -> torch.Generator -> float[] -> float[] * float[] * float[] * float[] * float[])
                 (fixedNet: 'Net) (adaptiveNet: 'Net) (fixedQ: LogSnrDensity) (adaptiveQ: LogSnrDensity)
                 (seed: int) (from: PointwiseFrom) (curvePoints: int) : MmgEvaluation when 'Net :> torch.nn.Module =
        let run (net: 'Net) q s =
            use g = new torch.Generator(uint64 s)
            net.eval ()
            let d, o = pointwise net q g
            use d = d
            use o = o
            Mmse.summarize d, Mmse.summarize o, Mmse.debiased d o, d.data<float>().ToArray()
        let fd, fo, _, fdp = run fixedNet fixedQ seed
        let ad, ao, (ab, scale), adp = run adaptiveNet adaptiveQ seed
        // Pointwise MI is the difference form (paper eq. 7) of the variant's model, whatever the
        // variant's integrand: the orthogonal identity holds only in expectation over x given
        // (z, y), so per row the orthogonal integrand is not the pointwise MI (it can even have
        // the wrong sign).
        let rows =
            match from with
            | NoPointwise -> [||]
            | FixedModel -> fdp
            | AdaptiveModel -> adp
        let lo0, hi0 = LogSnr.range fixedQ
        let lo1, hi1 = LogSnr.range adaptiveQ
        let lo, hi = min lo0 lo1, max hi0 hi1
        let grid = Array.init curvePoints (fun i -> lo + (hi - lo) * float i / float (curvePoints - 1))
        use g = new torch.Generator(uint64 (seed + 1))
        let grid, u, c, gap, og = curves adaptiveNet g grid
        { Mmg = fd
          MmgAdaptive = ad
          MmgOrthogonal = fo
          MmgOrthogonalAdaptive = ao
          MmgDebiased = ab
          DebiasedScale = scale
          Pointwise = rows
          Curves = { LogSnr = grid; Unconditional = u; Conditional = c; Gap = gap; OrthogonalGap = og } }

/// A trained MMG model: the EMA weights after the fixed-q phase and after the adaptive phase,
/// the standardisation fit on the training rows, and both log-SNR densities. Evaluates MI on new
/// samples without retraining; saves to and loads from a directory.
type MmgModel(shape: NetworkShape, fixedNet: DenoiserNet, adaptiveNet: DenoiserNet, fixedQ: LogSnrDensity, adaptiveQ: LogSnrDensity,
              stdX: Data.Standardizer, stdY: Data.Standardizer, device: torch.Device, settings: IReadOnlyDictionary<string, string>) =
    member _.Shape = shape
    member _.FixedQ = fixedQ
    member _.AdaptiveQ = adaptiveQ
    member _.Settings = settings

    /// The noise predictor of the adaptive model (or of the fixed-q one), on standardised rows
    /// (Prepare) on the model's device, for diagnostics such as scripts/oracle-gap.fsx.
    member _.Denoiser(adaptive: bool) : Denoiser =
        let net = if adaptive then adaptiveNet else fixedNet
        net.eval ()
        Network.asDenoiser net

    /// Standardised float32 tensors on the model's device.
    member _.Prepare(x: float[,], y: float[,]) =
        if Array2D.length2 x <> shape.DimX || Array2D.length2 y <> shape.DimY then
            invalidArg "x" (sprintf "the model was trained on %d x-columns and %d y-columns, got %d and %d." shape.DimX shape.DimY (Array2D.length2 x) (Array2D.length2 y))
        use xt = Data.toTensor x
        use yt = Data.toTensor y
        use xs = Data.standardize stdX xt
        use ys = Data.standardize stdY yt
        xs.``to`` device, ys.``to`` device

    /// All five variants on (x, y) with `repeats` draws per row; pointwise values of `variant`
    /// if requested; MMSE curves of the adaptive model on `curvePoints` log-SNRs.
    member this.Evaluate(x: float[,], y: float[,], repeats: int, seed: int, pointwiseVariant: string, curvePoints: int) : MmgEvaluation =
        Data.validate 2 x y
        let from =
            match pointwiseVariant with
            | null | "" -> ModelEvaluation.NoPointwise
            | "mmg" | "mmg-orthogonal" -> ModelEvaluation.FixedModel
            | "mmg-adaptive" | "mmg-orthogonal-adaptive" | "mmg-debiased" -> ModelEvaluation.AdaptiveModel
            | other -> invalidArg "variant" (sprintf "unknown MMG variant '%s'." other)
        let xs, ys = this.Prepare(x, y)
        use xs = xs
        use ys = ys
        let rows = min xs.shape.[0] 2000L
        use xc = xs.narrow (0L, 0L, rows)
        use yc = ys.narrow (0L, 0L, rows)
        ModelEvaluation.evaluate
            (fun net q g -> Mmse.pointwise (Network.asDenoiser net) q g repeats 4096 xs ys)
            (fun net g grid -> Mmse.curves (Network.asDenoiser net) g grid xc yc)
            fixedNet adaptiveNet fixedQ adaptiveQ seed from curvePoints

    /// Permutation test of H0: I(X;Y) = 0 on rows the model did not train on. The statistic is
    /// the difference-form estimate of the adaptive model (how much y *helps* the denoiser; the
    /// orthogonal form measures how much y *changes* it, which a wrongly paired y does even more,
    /// so it cannot serve); it is recomputed with y's rows permuted
    /// `permutations` times, with the same (a, ε) draws every time (common random numbers), so
    /// only the pairing of x and y changes. Under H0 the pairs (x, y) and (x, π(y)) have the same
    /// distribution and the model is independent of these rows, so the p-value
    /// (1 + #{T_π ≥ T}) / (1 + permutations) is exact. Returns (p-value, observed statistic).
    member this.PermutationTest(x: float[,], y: float[,], permutations: int, seed: int) : float * float =
        Checks.requirePositiveInt "permutations" permutations
        Data.validate 2 x y
        let xs, ys = this.Prepare(x, y)
        use xs = xs
        use ys = ys
        adaptiveNet.eval ()
        let den = Network.asDenoiser adaptiveNet
        let statistic (yy: Tensor) =
            use g = new torch.Generator(uint64 seed)
            let d, o = Mmse.pointwise den adaptiveQ g 2 4096 xs yy
            use d = d
            use o = o
            d.mean().item<float> ()
        let observed = statistic ys
        let n = int ys.shape.[0]
        let mutable atLeast = 0
        for k in 1 .. permutations do
            use idx = torch.tensor (Data.permutation (seed + 1000 * k) n |> Array.map int64, device = ys.device)
            use yp = ys.index_select (0L, idx)
            if statistic yp >= observed then atLeast <- atLeast + 1
        float (1 + atLeast) / float (1 + permutations), observed

    /// Saves the model as one folder (model.json, fixed.bin, adaptive.bin), written to a temporary
    /// folder and renamed into place (ModelFiles.save): an interrupted save leaves the old model
    /// or the new one, never a mix. model.json records a format version, the kind (mi) and the weights' SHA-256.
    member _.Save(dir: string) =
        ModelFiles.save dir (ModelFiles.info shape stdX stdY fixedQ adaptiveQ settings) (ModelFiles.writeNetworks fixedNet adaptiveNet)

    /// Loads a model saved by Save; refuses (one line) a folder whose model.json is missing,
    /// not JSON, of another format version or of a conditional-MI model, or whose weights do not
    /// match their checksums.
    static member Load(dir: string, device: torch.Device) =
        let info = ModelFiles.read dir
        let shape = ModelFiles.shapeOf info
        let fixedQ, adaptiveQ = ModelFiles.densities info
        let stdX, stdY = ModelFiles.standardizers info
        let fixedNet, adaptiveNet = ModelFiles.loadNetworks dir device (fun () -> new DenoiserNet(shape))
        new MmgModel(shape, fixedNet, adaptiveNet, fixedQ, adaptiveQ, stdX, stdY, device, info.Settings)

    interface IDisposable with
        member _.Dispose() =
            fixedNet.Dispose()
            adaptiveNet.Dispose()

/// The MMG estimator (all five variants from one training run); `variant` picks the headline.
type MmgEstimator(variant: string, options: EstimatorOptions) =
    do
        if not (Array.contains variant MmgEstimator.Variants) then
            invalidArg "variant" (sprintf "unknown MMG variant '%s'; use one of %s." variant (String.Join(", ", MmgEstimator.Variants)))
        Estimation.requireKnownOptions variant MmgEstimator.OptionKeys options
        // every option's range, before anything trains
        MmgProfiles.resolve options 1 1 |> ignore
        MmgFitOptions.read options |> ignore

    /// Below this MMSE-gap area (nats) of the preliminary model the log-SNR density is not adapted.
    static member AdaptThreshold = AdaptiveDensity.threshold

    /// The estimator-specific options (EstimatorOptions.Extra) MMG reads; others are refused.
    static member OptionKeys =
        [ "adapt-steps"; "normal-scores"; "width"; "repeats"; "ema-decay"; "weight-decay"; "drop-probability"; "plateau-patience"; "linear-base"; "zero-init"; "y-embedding"; "input-features"; "v-prediction"; "gated"; "norm"; "blocks"; "cosine"; "validation"; "patience"; "stop-score"; "overtime"; "defensive-share"; "train-weighted"; "folds"; "permutations" ]

    /// The variant names, default last.
    /// `mmg-debiased` is ½(difference + orthogonal) of the adaptive model: on held-out rows a
    /// model's estimation error δ (independent of those rows) moves the two forms in opposite
    /// directions, difference ≈ I − E‖δ‖², orthogonal ≈ I + E‖δ‖², so their mean cancels it to
    /// first order (docs/accuracy.md); on independent data it is ≈ 0 where the orthogonal form,
    /// ≥ 0 by construction, reports the overfitting as information. Where the rows show the
    /// other failure, a conditional path shrunk towards the unconditional one (difference
    /// significantly above orthogonal, as at high MI), it is rescaled (Mmse.debiased).
    static member Variants = [| "mmg"; "mmg-adaptive"; "mmg-orthogonal"; "mmg-orthogonal-adaptive"; "mmg-debiased" |]

    member _.Variant = variant
    member _.Options = options

    /// The adapted log-SNR density from the preliminary model's curves (LogSnr.fitToGap on the
    /// orthogonal gap, which is smooth and non-negative; see docs/profiles.md).
    static member AdaptDensity(net: DenoiserNet, q: LogSnrDensity, x: Tensor, y: Tensor, points: int, seed: int) =
        let grid, og = MmgEstimator.GapCurve(net, q, x, y, points, seed)
        AdaptiveDensity.fromGap q grid og

    /// The orthogonal gap of a network on `points` log-SNR values across q's range, on (up to
    /// 2 000 of) the rows given.
    static member GapCurve(net: DenoiserNet, q: LogSnrDensity, x: Tensor, y: Tensor, points: int, seed: int) =
        MmgFit.gapCurve MmgFit.denoiser net q x [| y |] points seed

    /// Trains on (x, y) (already validated, raw units) and returns the model.
    member _.Fit(x: float[,], y: float[,], progress: Action<TrainingProgress>) : MmgModel =
        let p = MmgProfiles.resolve options (Array2D.length2 x) (Array2D.length2 y)
        Data.validate p.BatchSize x y
        let f = MmgFit.run MmgFit.denoiser (MmgFitOptions.read options) p x [| y |] [] progress
        new MmgModel(f.Shape, f.FixedNet, f.AdaptiveNet, f.FixedQ, f.AdaptiveQ, f.Standardizers.[0], f.Standardizers.[1], f.Device, f.Settings)

    /// Split, train on the training rows, evaluate all variants on the test rows. With the option
    /// `folds` = K ≥ 2 (and always when pointwise values are wanted: K = 5 unless set) this is
    /// K-fold cross-fitting instead: fold k is scored by a model trained on the other K − 1 folds
    /// (seed Seed + k), so every input row gets a pointwise value from a model that never saw it;
    /// each variant is the mean over all rows, and the interval is a Student-t interval over the K
    /// fold estimates (training, data and Monte Carlo variability), widened to at least the
    /// pooled Monte Carlo interval. With one split the interval is the Monte Carlo one only. With
    /// the option `permutations` = B > 0 the result carries the p-value of the permutation test of
    /// independence on the held-out rows (MmgModel.PermutationTest). Returns the last fold's model.
    member this.EstimateWithModel(x: float[,], y: float[,], progress: Action<TrainingProgress>, wantPointwise: bool) : EstimatorResult * MmgModel =
        let watch = Diagnostics.Stopwatch.StartNew()
        Data.validate 4 x y
        let p = MmgProfiles.resolve options (Array2D.length2 x) (Array2D.length2 y)
        let n = Array2D.length1 x
        let folds = Estimation.extraInt options "folds" (if wantPointwise then 5 else 1)
        let permutations = Estimation.extraInt options "permutations" 0
        if folds < 1 then invalidArg "folds" (sprintf "folds must be at least 1 (1 = one train/test split), got %d." folds)
        if permutations < 0 then invalidArg "permutations" (sprintf "permutations must be 0 (no test) or positive, got %d." permutations)
        let parts =
            if folds = 1 then [| Data.split options.Seed p.TestFraction n |]
            else
                let fs = Data.folds options.Seed folds n
                fs |> Array.mapi (fun k test -> Array.concat [ for j in 0 .. folds - 1 do if j <> k then fs.[j] ], test)
        let pick (rows: int[]) (m: float[,]) = Array2D.init rows.Length (Array2D.length2 m) (fun i j -> m.[rows.[i], j])
        let minTrain = parts |> Array.map (fst >> Array.length) |> Array.min
        if minTrain < p.BatchSize then
            invalidArg "x" (sprintf "%d rows leave %d training rows after holding out %s for the estimate, fewer than the batch size %d; give more rows or a smaller batch size." n minTrain (if folds = 1 then sprintf "%.0f%%" (100.0 * p.TestFraction) else sprintf "one of %d folds" folds) p.BatchSize)
        let names = MmgEstimator.Variants
        let pointwise = Array.create (if wantPointwise then n else 0) nan
        let mutable model = Unchecked.defaultof<MmgModel>
        let evaluations =
            parts
            |> Array.mapi (fun k (train, test) ->
                if not (isNull (box model)) then (model :> IDisposable).Dispose()
                let foldOptions = { options with Seed = options.Seed + k }
                let m = MmgEstimator(variant, foldOptions).Fit(pick train x, pick train y, progress)
                model <- m
                let ev = m.Evaluate(pick test x, pick test y, p.Repeats, options.Seed + k + 11, (if wantPointwise then variant else ""), p.CurvePoints)
                if wantPointwise then test |> Array.iteri (fun i row -> pointwise.[row] <- ev.Pointwise.[i])
                let pValue = if permutations > 0 then fst (m.PermutationTest(pick test x, pick test y, permutations, options.Seed + k + 13)) else nan
                ev, test.Length, pValue)
        let variantOf (ev: MmgEvaluation) i = [| ev.Mmg; ev.MmgAdaptive; ev.MmgOrthogonal; ev.MmgOrthogonalAdaptive; ev.MmgDebiased |].[i]
        // pooled over folds: the mean over all scored rows and its Monte Carlo standard error
        let pooled i =
            let total = evaluations |> Array.sumBy (fun (_, c, _) -> float c)
            let mean = (evaluations |> Array.sumBy (fun (ev, c, _) -> float c * (variantOf ev i).Mean)) / total
            let se = sqrt (evaluations |> Array.sumBy (fun (ev, c, _) -> (float c * (variantOf ev i).StdError) ** 2.0)) / total
            { Name = names.[i]; Estimate = mean; StdError = se }
        let variants = Array.init names.Length pooled
        let headIndex = Array.IndexOf(names, variant)
        let head = variants.[headIndex]
        let interval =
            let mc = 1.96 * head.StdError
            if folds = 1 then ModelEvaluation.interval variants headIndex mc "monte-carlo"
            else
                let ests = evaluations |> Array.map (fun (ev, _, _) -> (variantOf ev headIndex).Mean)
                let m = Array.average ests
                let sd = sqrt ((ests |> Array.sumBy (fun e -> (e - m) ** 2.0)) / float (folds - 1))
                let t975 = MathNet.Numerics.Distributions.StudentT.InvCDF(0.0, 1.0, float (folds - 1), 0.975)
                let half = max mc (t975 * sd / sqrt (float folds))
                ModelEvaluation.interval variants headIndex half (sprintf "cross-fit-%d" folds)
        // one p-value per fold; combined conservatively (Bonferroni over the folds)
        let pValue =
            if permutations = 0 then nan
            else min 1.0 (float folds * (evaluations |> Array.map (fun (_, _, pv) -> pv) |> Array.min))
        let ev0, _, _ = evaluations.[evaluations.Length - 1]
        let settings = Dictionary<string, string>(model.Settings)
        settings.["seed"] <- string options.Seed
        settings.["folds"] <- string folds
        settings.["debiased_scale"] <- String.Join(" ", evaluations |> Array.map (fun (ev, _, _) -> ev.DebiasedScale.ToString("0.###", Globalization.CultureInfo.InvariantCulture)))
        if folds = 1 then
            let train, test = parts.[0]
            settings.["train_rows"] <- string train.Length
            settings.["test_rows"] <- string test.Length
        else settings.["scored_rows"] <- string n
        if permutations > 0 then settings.["permutations"] <- string permutations
        { Estimator = variant
          Estimate = head.Estimate
          StdError = head.StdError
          Seconds = watch.Elapsed.TotalSeconds
          Variants = variants
          Curves = Some ev0.Curves
          Pointwise = pointwise
          Interval = Some interval
          IndependencePValue = pValue
          Settings = settings },
        model

    interface IMiEstimator with
        member _.Name = variant
        member this.Estimate(x, y, progress) =
            let r, m = this.EstimateWithModel(x, y, progress, false)
            (m :> IDisposable).Dispose()
            r
