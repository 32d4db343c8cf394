namespace Mmg.Core

open System
open TorchSharp

/// A sampling density q(a) over log-SNR, used for importance sampling of the MMSE-gap integral.
type LogSnrDensity =
    /// a = loc + scale·logit(p), p ~ U(sigmoid(−clip), sigmoid(clip)); support [loc − scale·clip, loc + scale·clip].
    | Logistic of loc: float * scale: float * clip: float
    /// a ~ U(lo, hi).
    | Uniform of lo: float * hi: float
    /// The defensive mixture (1 − share)·inner + share·U(range of inner): importance weights
    /// 1/q are at most (hi − lo)/share however thin inner's tails are.
    | Defensive of inner: LogSnrDensity * share: float

/// Log-SNR densities: constructors with checks, sampler, density, CDF, importance weights, and the
/// adaptive fits (paper §4.1).
module LogSnr =
    /// The paper's fixed density (Table 3): location 2, scale 3, clip 4, support [−10, 14].
    let paperDefault = Logistic(2.0, 3.0, 4.0)

    let private sigmoid (u: float) = 1.0 / (1.0 + Math.Exp(-u))

    /// A truncated logistic; scale and clip must be > 0.
    let logistic (loc: float) (scale: float) (clip: float) =
        Checks.requireFinite "loc" loc
        Checks.requirePositive "scale" scale
        Checks.requirePositive "clip" clip
        Logistic(loc, scale, clip)

    /// A uniform density on [lo, hi]; needs lo < hi.
    let uniform (lo: float) (hi: float) =
        Checks.requireFinite "lo" lo
        Checks.requireFinite "hi" hi
        if not (lo < hi) then invalidArg "hi" (sprintf "uniform log-SNR density needs lo < hi, got lo = %g, hi = %g." lo hi)
        Uniform(lo, hi)

    /// The defensive mixture (1 − share)·inner + share·U(range of inner); share in (0, 1).
    /// Mixing a share of the uniform on the same support into an adapted density is defensive
    /// importance sampling: the weight of a draw in a thin tail is bounded by (hi − lo)/share,
    /// at the cost of at most a factor 1/(1 − share) in variance where inner fits the integrand.
    let defensive (inner: LogSnrDensity) (share: float) =
        match inner with
        | Defensive _ -> invalidArg "inner" "a defensive mixture of a defensive mixture is not supported; mix the inner density once."
        | _ -> ()
        if not (share > 0.0 && share < 1.0) then invalidArg "share" (sprintf "the defensive share must lie in (0, 1), got %g." share)
        Defensive(inner, share)

    /// Checks a density built without the constructors (e.g. a union case written directly).
    let rec validate (q: LogSnrDensity) =
        match q with
        | Logistic(m, s, c) -> logistic m s c |> ignore
        | Uniform(lo, hi) -> uniform lo hi |> ignore
        | Defensive(inner, share) -> validate inner; defensive inner share |> ignore

    /// The support [lo, hi] of q.
    let rec range (q: LogSnrDensity) =
        match q with
        | Logistic(m, s, c) -> (m - s * c, m + s * c)
        | Uniform(lo, hi) -> (lo, hi)
        | Defensive(inner, _) -> range inner

    /// Human-readable form, as reported in settings.
    let rec describe (q: LogSnrDensity) =
        match q with
        | Logistic(m, s, c) -> sprintf "logistic(loc=%.4g, scale=%.4g, clip=%.4g)" m s c
        | Uniform(lo, hi) -> sprintf "uniform(%.4g, %.4g)" lo hi
        | Defensive(inner, share) -> sprintf "%.4g·%s + %.4g·uniform(range)" (1.0 - share) (describe inner) share

    /// Flat numeric form for model files: [0; loc; scale; clip], [1; lo; hi], [2; share; inner…].
    let rec toArray (q: LogSnrDensity) : float[] =
        match q with
        | Logistic(m, s, c) -> [| 0.0; m; s; c |]
        | Uniform(lo, hi) -> [| 1.0; lo; hi |]
        | Defensive(inner, share) -> Array.append [| 2.0; share |] (toArray inner)

    /// Inverse of toArray; checks the values.
    let rec ofArray (a: float[]) : LogSnrDensity =
        match a with
        | [| 0.0; m; s; c |] -> logistic m s c
        | [| 1.0; lo; hi |] -> uniform lo hi
        | _ when a.Length > 2 && a.[0] = 2.0 -> defensive (ofArray a.[2..]) a.[1]
        | _ -> invalidArg "a" (sprintf "not a saved log-SNR density: [%s]." (a |> Array.map string |> String.concat "; "))

    /// n draws of a ~ q as a tensor [n] of the given dtype.
    let rec sample (generator: torch.Generator) (dtype: torch.ScalarType) (n: int) (q: LogSnrDensity) : Tensor =
        validate q
        Checks.requirePositiveInt "n" n
        match q with
        | Logistic(m, s, c) ->
            let lo, hi = sigmoid -c, sigmoid c
            use u = torch.rand([| int64 n |], dtype = torch.ScalarType.Float64, generator = generator)
            use scaled = Ops.mulScalar u (hi - lo)
            use p = Ops.addScalar scaled lo
            use negP = p.neg ()
            use oneMinusP = Ops.addScalar negP 1.0
            use ratio = p / oneMinusP
            use logit = torch.log ratio
            use stretched = Ops.mulScalar logit s
            use a = Ops.addScalar stretched m
            a.``to`` dtype
        | Uniform(lo, hi) ->
            use u = torch.rand([| int64 n |], dtype = torch.ScalarType.Float64, generator = generator)
            use scaled = Ops.mulScalar u (hi - lo)
            use a = Ops.addScalar scaled lo
            a.``to`` dtype
        | Defensive(inner, share) ->
            // Each draw comes from the uniform with probability `share`, else from inner.
            let lo, hi = range inner
            use fromInner = sample generator dtype n inner
            use fromUniform = sample generator dtype n (Uniform(lo, hi))
            use pick = torch.rand([| int64 n |], dtype = torch.ScalarType.Float64, generator = generator)
            use threshold = torch.tensor(share, dtype = torch.ScalarType.Float64)
            use isUniform = pick.lt threshold
            torch.where (isUniform, fromUniform, fromInner)

    /// q(a), zero outside the support. Same shape and dtype as a.
    let rec density (q: LogSnrDensity) (a: Tensor) : Tensor =
        validate q
        let lo, hi = range q
        use inside = a.ge(torch.tensor(lo, dtype = a.dtype)).logical_and(a.le(torch.tensor(hi, dtype = a.dtype)))
        use raw =
            match q with
            | Defensive(inner, share) ->
                use d = density inner a
                use shrunk = Ops.mulScalar d (1.0 - share)
                Ops.addScalar shrunk (share / (hi - lo))
            | Logistic(m, s, c) ->
                use centred = Ops.subScalar a m
                use u = Ops.divScalar centred s
                use su = torch.sigmoid u
                use negU = u.neg ()
                use sn = torch.sigmoid negU
                use product = su * sn
                Ops.divScalar product (s * Math.Tanh(c / 2.0))
            | Uniform(lo, hi) ->
                use o = torch.ones_like a
                Ops.mulScalar o (1.0 / (hi - lo))
        torch.where (inside, raw, torch.zeros_like raw)

    /// Cumulative distribution of q at a (0 below the support, 1 above).
    let rec cdf (q: LogSnrDensity) (a: Tensor) : Tensor =
        validate q
        let lo, hi = range q
        use clamped = a.clamp(torch.tensor(lo, dtype = a.dtype), torch.tensor(hi, dtype = a.dtype))
        match q with
        | Defensive(inner, share) ->
            use c = cdf inner a
            use u = (clamped - lo) / (hi - lo)
            c * (1.0 - share) + u * share
        | Logistic(m, s, c) ->
            use u = (clamped - m) / s
            use su = torch.sigmoid u
            (su - sigmoid -c) / (sigmoid c - sigmoid -c)
        | Uniform(lo, hi) -> (clamped - lo) / (hi - lo)

    /// Importance weights 1/q(a); finite on the support (q > 0 there), +∞ outside it.
    let weights (q: LogSnrDensity) (a: Tensor) : Tensor =
        use d = density q a
        d.reciprocal ()

    /// First point at which a curve sampled on an increasing grid reaches `level` (linear
    /// interpolation between grid points), or None if it never does.
    let crossing (grid: float[]) (values: float[]) (level: float) : float option =
        if grid.Length <> values.Length then
            invalidArg "values" (sprintf "grid has %d points but values has %d; they must match." grid.Length values.Length)
        if grid.Length < 2 then invalidArg "grid" (sprintf "a curve needs at least 2 grid points, got %d." grid.Length)
        let below v = v < level
        let start = below values.[0]
        let i = [| 1 .. values.Length - 1 |] |> Array.tryFind (fun i -> below values.[i] <> start)
        i |> Option.map (fun i ->
            let v0, v1 = values.[i - 1], values.[i]
            let t = if v1 = v0 then 0.0 else (level - v0) / (v1 - v0)
            grid.[i - 1] + t * (grid.[i] - grid.[i - 1]))

    /// The paper's adaptive heuristic (§4.1): location at the log-SNR where the conditional MMSE
    /// curve crosses d/2, scale = distance from there to the d/4 crossing. The curve is in
    /// ε-space, mmse_ε(a) = γ·mmse_x(γ), which rises from 0 to d for any continuous X: unlike
    /// the x-space curve (which starts at tr Cov(X|Y) and misses d/2 whenever that is below d/2)
    /// it always has both crossings. `clip` is kept as given. Fails if a crossing is missing.
    let fitFromCrossings (grid: float[]) (mmseEpsConditional: float[]) (dim: int) (clip: float) =
        Checks.requirePositiveInt "dim" dim
        Checks.requirePositive "clip" clip
        let half = crossing grid mmseEpsConditional (float dim / 2.0)
        let quarter = crossing grid mmseEpsConditional (float dim / 4.0)
        match half, quarter with
        | Some h, Some q when abs (h - q) > 0.0 -> logistic h (abs (h - q)) clip
        | _ ->
            invalidArg "mmseEpsConditional" (sprintf "the curve on [%g, %g] does not cross both d/2 = %g and d/4 = %g; widen the grid." grid.[0] grid.[grid.Length - 1] (float dim / 2.0) (float dim / 4.0))

    /// Quantile of the area under a non-negative curve (trapezoid rule): the a at which the
    /// cumulative area reaches `fraction` of the total.
    let areaQuantile (grid: float[]) (values: float[]) (fraction: float) =
        let v = values |> Array.map (fun x -> max x 0.0)
        let cum = Array.zeroCreate grid.Length
        for i in 1 .. grid.Length - 1 do
            cum.[i] <- cum.[i - 1] + 0.5 * (v.[i] + v.[i - 1]) * (grid.[i] - grid.[i - 1])
        let total = cum.[cum.Length - 1]
        if total <= 0.0 then None else crossing grid (cum |> Array.map (fun c -> c / total)) fraction

    /// Our adaptive fit (the one the adaptive variants use): a truncated logistic matched to the
    /// MMSE gap itself, since the ideal importance density is proportional to the integrand.
    /// Location = the gap's area median; scale from its interquartile range (for a logistic,
    /// IQR = 2·s·ln 3); clip so that the support covers the central 99% of the area plus one
    /// scale unit, and never less than `minClip`. Because the support follows the gap, it grows
    /// with MI (docs/design.md §1). Returns `fallback` when the gap has no positive area.
    let fitToGap (grid: float[]) (gap: float[]) (minScale: float) (minClip: float) (fallback: LogSnrDensity) =
        Checks.requirePositive "minScale" minScale
        Checks.requirePositive "minClip" minClip
        let qf = areaQuantile grid gap
        match qf 0.5, qf 0.25, qf 0.75, qf 0.005, qf 0.995 with
        | Some med, Some q1, Some q3, Some lo, Some hi ->
            let scale = max minScale ((q3 - q1) / (2.0 * Math.Log 3.0))
            let clip = max minClip (max (med - lo) (hi - med) / scale + 1.0)
            logistic med scale clip
        | _ -> fallback
