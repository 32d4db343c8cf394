namespace Mmg.Core

open System
open System.Collections.Generic
open System.Globalization
open TorchSharp

/// Training progress handed to callbacks (the CLI draws a progress bar from it).
type TrainingProgress =
    { /// What is being trained, e.g. "denoiser", "denoiser (adaptive q)", "critic".
      Phase: string
      Step: int
      TotalSteps: int
      /// Latest (smoothed) training loss.
      Loss: float
      ItersPerSecond: float }

/// Options every estimator understands. A zero / NaN / empty value means "the estimator's own
/// default" (see docs/estimators.md); estimator-specific settings go in Extra by name.
type EstimatorOptions =
    { Seed: int
      /// "cpu" or "cuda".
      Device: string
      /// "default", "paper" or "quick" (neural estimators; see docs/profiles.md).
      Profile: string
      Steps: int
      BatchSize: int
      LearningRate: float
      /// Fraction of rows held out for estimation (neural estimators); 0 = default.
      TestFraction: float
      Extra: IReadOnlyDictionary<string, string> }

    static member Default =
        { Seed = 0
          Device = "cpu"
          Profile = "default"
          Steps = 0
          BatchSize = 0
          LearningRate = Double.NaN
          TestFraction = 0.0
          Extra = Dictionary<string, string>() }

/// A named value with its standard error (one variant of an estimator).
type NamedEstimate =
    { Name: string
      Estimate: float
      StdError: float }

/// MMSE curves in ε-space on a log-SNR grid (nats-consistent: MI = ½∫ Gap da).
type MmseCurves =
    { LogSnr: float[]
      Unconditional: float[]
      Conditional: float[]
      /// Unconditional − Conditional (difference form) at each grid point.
      Gap: float[]
      /// The orthogonal-form gap E‖ε̂_y − ε̂‖² at each grid point.
      OrthogonalGap: float[] }

/// An interval for the estimate and what it accounts for.
type EstimateInterval =
    { Low: float
      High: float
      /// Nominal coverage, e.g. 0.95.
      Level: float
      /// What the interval accounts for, e.g. "forms+monte-carlo" (the model error an MMG model's
      /// two forms reveal, plus the evaluation's Monte Carlo error), "forms+cross-fit-5" (the same
      /// plus training and data variability over 5 folds) or "monte-carlo" alone.
      Method: string }

/// What every estimator returns. Estimate in nats; StdError is the estimator's own uncertainty
/// (NaN where it has none, e.g. a deterministic closed form).
type EstimatorResult =
    { Estimator: string
      Estimate: float
      StdError: float
      Seconds: float
      /// All variants computed in the same run (MMG computes its four at once); may be empty.
      Variants: NamedEstimate[]
      Curves: MmseCurves option
      /// Per-test-row MI where the estimator supports it (MMG), else empty.
      Pointwise: float[]
      /// An interval for the estimate where the estimator offers one (MMG), else None.
      Interval: EstimateInterval option
      /// p-value of a test of H0: I(X;Y) = 0 where the estimator offers one (MMG), else NaN.
      IndependencePValue: float
      /// Every setting actually used, as text, for reports and reproducibility.
      Settings: IReadOnlyDictionary<string, string> }

/// The one interface every MI estimator implements. x is [n; dx], y is [n; dy] (rows = samples).
/// Implementations validate their input with Data.validate and throw ArgumentException.
type IMiEstimator =
    abstract Name: string
    abstract Estimate: x: float[,] * y: float[,] * progress: Action<TrainingProgress> -> EstimatorResult

/// Helpers shared by estimator implementations.
module Estimation =
    /// The torch device for "cpu" / "cuda". Nothing else in Mmg branches on the device.
    let device (name: string) : torch.Device =
        match (if isNull name then "cpu" else name.Trim().ToLowerInvariant()) with
        | "" | "cpu" -> torch.CPU
        | "cuda" ->
            if torch.cuda.is_available () then torch.CUDA
            else invalidArg "device" "device 'cuda' was requested but CUDA is not available (this build references TorchSharp-cpu unless built with -p:TorchBackend=cuda, and a GPU must be present)."
        | other -> invalidArg "device" (sprintf "unknown device '%s'; use cpu or cuda." other)

    /// Sets the number of CPU threads torch uses; 0 = the default, 1. The networks here are
    /// small: on 2 cores, 2 threads trained no faster than 1 at widths 64 and 128, and more
    /// threads than free cores slow training down 5–20× (docs/performance.md). Returns the
    /// number set.
    let setThreads (requested: int) =
        let n = if requested > 0 then requested else 1
        torch.set_num_threads n
        n

    /// Former option names → the names read now. Every option name is kebab-case, as the CLI's
    /// own options are; these four were camelCase until the names were unified. The former name
    /// is still read (and refused together with the new one), and `renamedIn` lets a front end
    /// say that it changed.
    let renamedOptions : IReadOnlyDictionary<string, string> =
        dict [ "allowDiscrete", "allow-discrete"; "dropDuplicates", "drop-duplicates"
               "evalEvery", "eval-every"; "validationFraction", "validation-fraction" ]
        |> fun d -> Dictionary<string, string>(d) :> IReadOnlyDictionary<string, string>

    /// The value given for option `key` under its name or its former name (renamedOptions).
    let private given (extra: IReadOnlyDictionary<string, string>) (key: string) =
        match extra.TryGetValue key with
        | true, text -> Some text
        | _ ->
            renamedOptions
            |> Seq.tryPick (fun (KeyValue(former, now)) ->
                if now = key then (match extra.TryGetValue former with | true, text -> Some text | _ -> None) else None)

    /// The former option names in Extra, as "former → now" (empty when none).
    let renamedIn (extra: IReadOnlyDictionary<string, string>) : string[] =
        if isNull extra then [||]
        else extra.Keys |> Seq.filter renamedOptions.ContainsKey |> Seq.map (fun k -> sprintf "%s → %s" k renamedOptions.[k]) |> Array.ofSeq

    /// An estimator-specific option from Extra, parsed with the invariant culture, or the default.
    let extraFloat (options: EstimatorOptions) (key: string) (fallback: float) =
        match options.Extra with
        | null -> fallback
        | extra ->
            match given extra key with
            | Some text ->
                match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
                | true, v -> v
                | _ -> invalidArg key (sprintf "option '%s' must be a number, got '%s'." key text)
            | None -> fallback

    /// Raises ArgumentException for an Extra key the estimator does not read (a misspelt option
    /// would otherwise be silently ignored), naming the key and the options it does read. A
    /// former name (renamedOptions) counts as its new one; both together are refused.
    let requireKnownOptions (estimator: string) (known: string list) (options: EstimatorOptions) =
        match options.Extra with
        | null -> ()
        | extra ->
            for KeyValue(key, _) in extra do
                let now = match renamedOptions.TryGetValue key with | true, n -> n | _ -> key
                if not (List.contains now known) then
                    let offer = if List.isEmpty known then "it takes no estimator-specific options" else sprintf "it reads %s" (String.Join(", ", known))
                    invalidArg key (sprintf "unknown option '%s' for %s; %s." key estimator offer)
                if now <> key && extra.ContainsKey now then
                    invalidArg key (sprintf "option '%s' is the former name of '%s'; give only '%s'." key now now)

    /// A text option from Extra (trimmed, lower case), or the default when absent or blank.
    let extraString (options: EstimatorOptions) (key: string) (fallback: string) =
        match options.Extra with
        | null -> fallback
        | extra ->
            match given extra key with
            | Some text when not (String.IsNullOrWhiteSpace text) -> text.Trim().ToLowerInvariant()
            | _ -> fallback

    /// A switch with a default rule from Extra: "1" → Some true (on), "0" → Some false (off),
    /// "auto" or absent → None (the rule `auto` describes decides); anything else is refused.
    let autoSwitch (options: EstimatorOptions) (key: string) (auto: string) : bool option =
        match extraString options key "auto" with
        | "auto" -> None
        | "1" -> Some true
        | "0" -> Some false
        | v -> invalidArg key (sprintf "option '%s' must be 1 (on), 0 (off) or auto (%s), got '%s'." key auto v)

    /// A true/false option from Extra (true/1/yes, false/0/no), or the default.
    let extraBool (options: EstimatorOptions) (key: string) (fallback: bool) =
        match options.Extra with
        | null -> fallback
        | extra ->
            match given extra key with
            | Some t ->
                match t.Trim().ToLowerInvariant() with
                | "true" | "1" | "yes" -> true
                | "false" | "0" | "no" -> false
                | _ -> invalidArg key (sprintf "option '%s' must be true or false, got '%s'." key t)
            | None -> fallback

    /// An integer option from Extra, or the default.
    let extraInt (options: EstimatorOptions) (key: string) (fallback: int) =
        let v = extraFloat options key (float fallback)
        if v <> Math.Round v then invalidArg key (sprintf "option '%s' must be an integer, got %g." key v)
        int v

    /// value if it is set (> 0), else fallback.
    let orDefault (value: int) (fallback: int) = if value > 0 then value else fallback

    /// value if it is a positive number, else fallback.
    let orDefaultF (value: float) (fallback: float) = if value > 0.0 && not (Double.IsNaN value) then value else fallback

    /// Text for a settings dictionary.
    let text (v: obj) =
        match v with
        | :? float as f -> f.ToString("R", CultureInfo.InvariantCulture)
        | :? float32 as f -> f.ToString("R", CultureInfo.InvariantCulture)
        | null -> ""
        | o -> Convert.ToString(o, CultureInfo.InvariantCulture)

    /// A settings dictionary from (name, value) pairs.
    let settings (pairs: (string * obj) list) : IReadOnlyDictionary<string, string> =
        let d = Dictionary<string, string>()
        for k, v in pairs do d.[k] <- text v
        d :> IReadOnlyDictionary<string, string>

    /// The result of an estimator that reports a number, its standard error, its variants (may
    /// be empty) and settings, and no curves, pointwise values, interval or test.
    let result (name: string) (estimate: float) (stdError: float) (seconds: float) (variants: NamedEstimate[]) (settings: IReadOnlyDictionary<string, string>) : EstimatorResult =
        { Estimator = name
          Estimate = estimate
          StdError = stdError
          Seconds = seconds
          Variants = variants
          Curves = None
          Pointwise = [||]
          Interval = None
          IndependencePValue = nan
          Settings = settings }

    /// Reports progress every `every` steps and at the last one; tolerates a null callback.
    type ProgressReporter(phase: string, total: int, callback: Action<TrainingProgress>, ?every: int) =
        let every = defaultArg every (max 1 (total / 200))
        let watch = Diagnostics.Stopwatch.StartNew()
        member _.Report(step: int, loss: float) =
            if not (isNull callback) && (step % every = 0 || step = total) then
                let secs = max watch.Elapsed.TotalSeconds 1e-9
                callback.Invoke
                    { Phase = phase
                      Step = step
                      TotalSteps = total
                      Loss = loss
                      ItersPerSecond = float step / secs }
