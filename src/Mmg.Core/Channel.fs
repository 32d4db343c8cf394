namespace Mmg.Core

open TorchSharp
type Tensor = torch.Tensor

/// A noise predictor ε̂(z, a, y). z has shape [n; dx], a (log-SNR) shape [n]; y is Some [n; dy]
/// for the conditional prediction or None for the unconditional one. Returns [n; dx].
/// A trained network and the closed-form Gaussian oracle are both Denoisers, so the estimator
/// code does not know which one it runs with.
type Denoiser = Tensor -> Tensor -> Tensor option -> Tensor

/// Tensor arithmetic whose Scalars are owned. In TorchSharp 0.107, `a + b` passes an implicit
/// Scalar alpha = 1, and a tensor–double operator an implicit Scalar of the double, that
/// nothing keeps alive during the native call: the .NET finalizer can free it mid-call, and
/// libtorch then fails in Scalar::toFloat (seen twice in long runs). Each function here is the
/// operator it replaces, bit for bit; the per-step training and evaluation code uses them.
module Ops =
    /// 1 as the alpha of add/sub: a static, alive (and never finalised) for the process.
    let private one = (1.0).ToScalar()

    /// a + b.
    let add (a: Tensor) (b: Tensor) : Tensor = a.add (b, one)

    /// a − b (TorchSharp's sub takes no alpha, so `-` is already safe; here so that the code
    /// that uses Ops reads alike).
    let sub (a: Tensor) (b: Tensor) : Tensor = a.sub b

    /// t + v.
    let addScalar (t: Tensor) (v: float) : Tensor =
        use s = v.ToScalar()
        t.add (s, one)

    /// t − v.
    let subScalar (t: Tensor) (v: float) : Tensor =
        use s = v.ToScalar()
        t.sub s

    /// t · v.
    let mulScalar (t: Tensor) (v: float) : Tensor =
        use s = v.ToScalar()
        t.mul s

    /// t / v.
    let divScalar (t: Tensor) (v: float) : Tensor =
        use s = v.ToScalar()
        t.div s

    /// s + v·I for a square matrix s (a ridge before a solve or a factorisation); the identity
    /// has s's dtype and device.
    let addRidge (s: Tensor) (v: float) : Tensor =
        use eye = torch.eye(s.shape.[0], dtype = s.dtype, device = s.device)
        use ridge = mulScalar eye v
        add s ridge

/// The variance-preserving Gaussian noise channel in log-SNR a = log γ:
/// z = sqrt(sigmoid a)·x + sqrt(sigmoid −a)·ε.
module Channel =
    /// sqrt(sigmoid a), the signal coefficient α(a).
    let signalScale (a: Tensor) : Tensor = torch.sigmoid(a).sqrt ()

    /// sqrt(sigmoid −a), the noise coefficient σ(a); α² + σ² = 1.
    let noiseScale (a: Tensor) : Tensor = torch.sigmoid(a.neg ()).sqrt ()

    /// z = α(a)·x + σ(a)·ε, row by row. a: [n]; eps and x: [n; d].
    let noisy (a: Tensor) (eps: Tensor) (x: Tensor) : Tensor =
        Checks.requireRank "x" 2 x
        Checks.requireSameShape "x" x "eps" eps
        Checks.requireRank "a" 1 a
        if a.shape.[0] <> x.shape.[0] then
            invalidArg "a" (sprintf "a has shape %s but x has %d rows (shape %s); a needs one log-SNR per row." (Checks.shapeText a) x.shape.[0] (Checks.shapeText x))
        use a2 = a.unsqueeze 1L
        use s = signalScale a2
        use n = noiseScale a2
        use sx = s * x
        use ne = n * eps
        Ops.add sx ne
