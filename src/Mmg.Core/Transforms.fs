namespace Mmg.Core

open System
open System.Globalization

/// Special functions on plain doubles for the benchmark tasks and the KSG estimators: log-gamma,
/// digamma, erfc and the standard normal CDF, survival function and density. Thin wrappers over
/// MathNet.Numerics (SpecialFunctions, Distributions.Normal) that keep this module's argument
/// checks and error messages; MathNet types stay inside Mmg.Core.
module Special =
    open MathNet.Numerics
    open MathNet.Numerics.Distributions

    /// log Γ(x) for x > 0 (MathNet's SpecialFunctions.GammaLn).
    let lgamma (x: float) : float =
        if Double.IsNaN x then nan
        elif not (x > 0.0) then invalidArg "x" (sprintf "lgamma is defined here for x > 0 only, got %g." x)
        else SpecialFunctions.GammaLn x

    /// The digamma function ψ(x) = d/dx log Γ(x) for x > 0 (MathNet's SpecialFunctions.DiGamma).
    let digamma (x: float) : float =
        if Double.IsNaN x then nan
        elif not (x > 0.0) then invalidArg "x" (sprintf "digamma is defined here for x > 0 only, got %g." x)
        else SpecialFunctions.DiGamma x

    /// The complementary error function (MathNet's SpecialFunctions.Erfc).
    let erfc (x: float) : float = SpecialFunctions.Erfc x

    /// The standard normal CDF Φ(x).
    let normalCdf (x: float) : float = Normal.CDF(0.0, 1.0, x)

    /// The standard normal upper tail 1 − Φ(x) = erfc(x/√2)/2, accurate in the far tail.
    let normalSurvival (x: float) : float = 0.5 * SpecialFunctions.Erfc(x / Constants.Sqrt2)

    /// The standard normal density φ(x).
    let normalPdf (x: float) : float = Normal.PDF(0.0, 1.0, x)

/// The MI-preserving maps the benchmark tasks apply to each side (all injective, most
/// coordinate-wise). They act on one value or one row; the tasks map them over samples.
module Transforms =
    /// x·sqrt|x|, a signed x^(3/2).
    let halfCube (v: float) = v * Math.Sqrt(Math.Abs v)

    /// Inverse of halfCube: sign(v)·|v|^(2/3).
    let halfCubeInverse (v: float) = float (Math.Sign v) * Math.Pow(Math.Abs v, 2.0 / 3.0)

    /// asinh.
    let asinh (v: float) = Math.Asinh v

    /// The wiggly map for X: x + 0.4 sin x + 0.2 sin(1.7x + 1) + 0.03 sin(3.3x − 2.5); its derivative is ≥ 0.16.
    let wigglyX (v: float) = v + 0.4 * Math.Sin v + 0.2 * Math.Sin(1.7 * v + 1.0) + 0.03 * Math.Sin(3.3 * v - 2.5)

    /// The wiggly map for Y: y − 0.4 sin(0.4y) + 0.17 sin(1.3y + 3.5) + 0.02 sin(4.3y − 2.5); its derivative is ≥ 0.5.
    let wigglyY (v: float) = v - 0.4 * Math.Sin(0.4 * v) + 0.17 * Math.Sin(1.3 * v + 3.5) + 0.02 * Math.Sin(4.3 * v - 2.5)

    /// A Gaussian mixture on the line: (weight, mean) pairs, unit variances. Its CDF is Σ w Φ(x − m).
    type Mixture = (float * float) list

    /// The bimodal X marginal: 0.3·N(0, 1) + 0.7·N(5, 1).
    let bimodalMixtureX : Mixture = [ 0.3, 0.0; 0.7, 5.0 ]

    /// The bimodal Y marginal: 0.5·N(−1, 1) + 0.5·N(3, 1).
    let bimodalMixtureY : Mixture = [ 0.5, -1.0; 0.5, 3.0 ]

    /// CDF of a mixture.
    let mixtureCdf (m: Mixture) (x: float) =
        let mutable acc = 0.0
        for w, mu in m do
            acc <- acc + w * Special.normalCdf (x - mu)
        acc

    /// Upper tail of a mixture.
    let mixtureSurvival (m: Mixture) (x: float) =
        let mutable acc = 0.0
        for w, mu in m do
            acc <- acc + w * Special.normalSurvival (x - mu)
        acc

    /// Density of a mixture.
    let mixturePdf (m: Mixture) (x: float) =
        let mutable acc = 0.0
        for w, mu in m do
            acc <- acc + w * Special.normalPdf (x - mu)
        acc

    /// The mixture quantile of Φ(z): the x with F(x) = Φ(z), found by safeguarded Newton steps on
    /// log F (z ≤ 0) or on −log(1 − F) (z > 0), so both tails keep full precision. The root is
    /// bracketed by [min mean + z, max mean + z].
    let mixtureQuantileOfNormal (m: Mixture) (z: float) : float =
        if Double.IsNaN z || Double.IsInfinity z then invalidArg "z" (sprintf "z must be finite, got %g." z)
        let means = m |> List.map snd
        let mutable lo = List.min means + z
        let mutable hi = List.max means + z
        let lower = z <= 0.0
        let logTarget = if lower then Math.Log(Special.normalCdf z) else Math.Log(Special.normalSurvival z)
        // g is increasing in x, zero at the root; g' = pdf / tail
        let g (x: float) =
            if lower then
                let f = mixtureCdf m x
                Math.Log f - logTarget, mixturePdf m x / f
            else
                let s = mixtureSurvival m x
                logTarget - Math.Log s, mixturePdf m x / s
        let mutable x = 0.5 * (lo + hi)
        let mutable fin = false
        let mutable iter = 0
        while not fin && iter < 200 do
            iter <- iter + 1
            let gv, dg = g x
            if Math.Abs gv <= 1e-15 then fin <- true
            else
                if gv > 0.0 then hi <- x else lo <- x
                let newton = x - gv / dg
                let inBracket = newton > lo && newton < hi && not (Double.IsNaN newton)
                let next = if inBracket then newton else 0.5 * (lo + hi)
                // Newton converges quadratically: once a step is below 1e-9 the next error is ~1e-18
                if (inBracket && Math.Abs(next - x) <= 1e-9 * (1.0 + Math.Abs x)) || hi - lo <= 1e-14 * (1.0 + Math.Abs x) then fin <- true
                x <- next
        x

    /// The swiss-roll embedding of u ∈ [0, 1] into the plane: t = 1.5π(1 + 2u), (t cos t, t sin t) / 21.
    let swissRoll (u: float) : float * float =
        let t = 1.5 * Math.PI * (1.0 + 2.0 * u)
        t * Math.Cos t / 21.0, t * Math.Sin t / 21.0

    /// The spiral: the rotation exp(θ·A) of the row, A the so(d) generator with A[i,j] = 1,
    /// A[j,i] = −1, θ = speed·‖row‖². It keeps ‖row‖, so it is inverted by spiralInverse.
    let spiral (speed: float) (i: int) (j: int) (row: float[]) : float[] =
        if not (0 <= i && i < j && j < row.Length) then
            invalidArg "j" (sprintf "the spiral's plane (%d, %d) must satisfy 0 ≤ i < j < %d (the row length)." i j row.Length)
        let r2 = Array.sumBy (fun v -> v * v) row
        let th = speed * r2
        let c, s = Math.Cos th, Math.Sin th
        let out = Array.copy row
        out.[i] <- c * row.[i] + s * row.[j]
        out.[j] <- -s * row.[i] + c * row.[j]
        out

    /// The inverse of spiral (rotation by −θ; θ depends only on the norm, which the spiral keeps).
    let spiralInverse (speed: float) (i: int) (j: int) (row: float[]) : float[] = spiral -speed i j row
