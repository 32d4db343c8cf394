namespace Mmg.Core

/// Every conditional-MI estimator by name, behind ICmiEstimator.
module CmiRegistry =
    /// The names: the MMG-CMI variants, then the Frenzel–Pompe KSG and the Gaussian baseline.
    let names : string list = List.ofArray CmiEstimator.Variants @ [ "ksg-cmi"; "gaussian-cmi" ]

    /// The default conditional-MI estimator.
    let defaultName = "mmg-cmi-orthogonal-adaptive"

    /// Whether name is an MMG-CMI variant (all five come from one training run).
    let isMmg (name: string) = Array.contains name CmiEstimator.Variants

    /// Whether name is a conditional-MI estimator.
    let isCmi (name: string) = List.contains name names

    /// A new conditional-MI estimator by name; MI-only estimators get a clear error.
    let create (name: string) (options: EstimatorOptions) : ICmiEstimator =
        match name with
        | n when isMmg n -> CmiEstimator(n, options) :> ICmiEstimator
        | "ksg-cmi" -> ConditionalKsg.KsgCmiEstimator(options) :> ICmiEstimator
        | "gaussian-cmi" -> ConditionalKsg.GaussianCmiEstimator(options) :> ICmiEstimator
        | other when List.contains other Registry.names ->
            invalidArg "estimator" (sprintf "'%s' estimates I(X;Y) only and cannot condition on Z; for I(X;Y|Z) use one of: %s." other (String.concat ", " names))
        | other -> invalidArg "estimator" (sprintf "unknown conditional-MI estimator '%s'; known: %s." other (String.concat ", " names))
