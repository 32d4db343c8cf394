namespace Mmg.Core

/// Every estimator by name, behind IMiEstimator.
module Registry =
    /// The estimator names, MMG variants first.
    let names : string list = List.ofArray MmgEstimator.Variants @ Minde.names @ [ "ksg"; "cca" ] @ Critics.names

    /// The default estimator.
    let defaultName = "mmg-debiased"

    /// Whether `name` is an MMG variant (trains a denoiser; has curves, pointwise MI, a model).
    let isMmg (name: string) = Array.contains name MmgEstimator.Variants

    /// A new estimator by name.
    let create (name: string) (options: EstimatorOptions) : IMiEstimator =
        match name with
        | n when isMmg n -> MmgEstimator(n, options) :> IMiEstimator
        | "minde-c" -> MindeConditional(options) :> IMiEstimator
        | "minde-j" -> MindeJoint(options) :> IMiEstimator
        | "ksg" -> Classical.ksg options
        | "cca" -> Classical.cca options
        | n when List.contains n Critics.names -> Critics.create n options
        | other -> invalidArg "estimator" (sprintf "unknown estimator '%s'; known: %s." other (String.concat ", " names))
