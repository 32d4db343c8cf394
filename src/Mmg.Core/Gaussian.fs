namespace Mmg.Core

open System
open TorchSharp

/// Closed forms for a jointly Gaussian (X, Y) with covariance S (rows/columns: the dimX
/// coordinates of X first, then those of Y): exact MI, exact MMSE curves and the exact (linear)
/// optimal denoisers. This is the reference that defines "correct" for every estimator path.
/// Covariances are float64 tensors [d; d].
module Gaussian =
    let private f64 = torch.ScalarType.Float64

    /// A [rows; cols] float64 tensor from a .NET 2-D array.
    let ofArray2D (m: float[,]) : Tensor =
        let r, c = Array2D.length1 m, Array2D.length2 m
        let flat = Array.init (r * c) (fun k -> m.[k / c, k % c])
        use t = torch.tensor(flat, dtype = f64)
        t.reshape(int64 r, int64 c)

    /// Checks that cov is a symmetric positive-definite [d; d] matrix and 1 ≤ dimX < d.
    let validate (dimX: int) (cov: Tensor) =
        Checks.requireRank "covariance" 2 cov
        let d = int cov.shape.[0]
        if cov.shape.[1] <> cov.shape.[0] then
            invalidArg "covariance" (sprintf "covariance must be square, but has shape %s." (Checks.shapeText cov))
        if dimX < 1 || dimX >= d then
            invalidArg "dimX" (sprintf "dimX must be between 1 and %d (the covariance is %dx%d, X and Y each need at least one coordinate), got %d." (d - 1) d d dimX)
        use c = cov.``to`` f64
        if not (torch.isfinite(c).all().item<bool> ()) then
            invalidArg "covariance" (sprintf "covariance %s contains NaN or infinite entries." (Checks.shapeText cov))
        use asym = (c - c.t ()).abs().max ()
        use scale = c.abs().max ()
        let asymV, scaleV = asym.item<float> (), scale.item<float> ()
        if asymV > 1e-9 * max scaleV 1.0 then
            invalidArg "covariance" (sprintf "covariance must be symmetric; the largest |S_ij − S_ji| is %g." asymV)
        use ev = torch.linalg.eigvalsh c
        let minEv = ev.min().item<float> ()
        if not (minEv > 1e-12 * max scaleV 1e-300) then
            invalidArg "covariance" (sprintf "covariance must be positive definite; its smallest eigenvalue is %g." minEv)

    let private block (rows: int * int) (cols: int * int) (cov: Tensor) =
        let (r0, r1), (c0, c1) = rows, cols
        cov.index(torch.TensorIndex.Slice(int64 r0, int64 r1), torch.TensorIndex.Slice(int64 c0, int64 c1)).``to``(f64)

    /// (S_xx, S_xy, S_yy).
    let blocks (dimX: int) (cov: Tensor) =
        validate dimX cov
        let d = int cov.shape.[0]
        block (0, dimX) (0, dimX) cov, block (0, dimX) (dimX, d) cov, block (dimX, d) (dimX, d) cov

    /// B = S_xy S_yy⁻¹, so that E[X | Y = y] = m_x + B (y − m_y). Shape [dx; dy].
    let regression (dimX: int) (cov: Tensor) : Tensor =
        let sxx, sxy, syy = blocks dimX cov
        use _ = sxx
        use _ = sxy
        use _ = syy
        use bt = torch.linalg.solve (syy, sxy.t ())
        bt.t().contiguous ()

    /// S_x|y = S_xx − S_xy S_yy⁻¹ S_yx.
    let conditionalCovariance (dimX: int) (cov: Tensor) : Tensor =
        let sxx, sxy, syy = blocks dimX cov
        use _ = sxx
        use _ = sxy
        use _ = syy
        use bt = torch.linalg.solve (syy, sxy.t ())
        use prod = sxy.matmul bt
        let r = sxx - prod
        // symmetrise away round-off
        use rt = r.t ()
        use s = r + rt
        r.Dispose()
        s / 2.0

    /// log det of a symmetric positive-definite matrix, via Cholesky.
    let logDet (m: Tensor) : float =
        use l = torch.linalg.cholesky (m.``to`` f64)
        use d = l.diagonal ()
        use ld = d.log ()
        2.0 * ld.sum().item<float> ()

    /// Exact I(X;Y) in nats: ½ (log det S_xx + log det S_yy − log det S).
    let mutualInformation (dimX: int) (cov: Tensor) : float =
        let sxx, sxy, syy = blocks dimX cov
        use _ = sxx
        use _ = sxy
        use _ = syy
        0.5 * (logDet sxx + logDet syy - logDet cov)

    /// Exact pointwise MI log p(x, y) / (p(x) p(y)) of each row of (x [n; dimX], y [n; dy]) for
    /// the zero-mean Gaussian with covariance cov: ½(log det S_xx + log det S_yy − log det S)
    /// − ½(wᵀS⁻¹w − xᵀS_xx⁻¹x − yᵀS_yy⁻¹y) with w = (x, y). Returns [n] float64; its mean over
    /// samples of the distribution is the MI.
    let pointwiseMutualInformation (dimX: int) (cov: Tensor) (x: Tensor) (y: Tensor) : Tensor =
        validate dimX cov
        Checks.requireSameRows "x" x "y" y
        let sxx, sxy, syy = blocks dimX cov
        use _ = sxx
        use _ = sxy
        use _ = syy
        use scope = torch.NewDisposeScope()
        let quad (s: Tensor) (v: Tensor) =
            let v64 = v.``to`` f64
            (v64 * torch.linalg.solve(s.``to`` f64, v64.t ()).t ()).sum 1L
        let w = torch.cat ([| x.``to`` f64; y.``to`` f64 |], 1L)
        let constant = mutualInformation dimX cov
        let r = (quad cov w - quad sxx x - quad syy y) * -0.5 + constant
        r.MoveToOuterDisposeScope()

    /// ε-space MMSE of x ~ N(m, s) at log-SNR a: γ·tr(s (I + γ s)⁻¹) = Σᵢ sigmoid(a + log λᵢ(s)).
    /// a: any shape; result has a's shape, float64.
    let mmseEpsOf (s: Tensor) (a: Tensor) : Tensor =
        use ev = torch.linalg.eigvalsh (s.``to`` f64)
        use logEv = ev.log ()
        use a64 = a.``to`` f64
        use shaped = a64.unsqueeze -1L
        use sg = torch.sigmoid (shaped + logEv)
        sg.sum -1L

    /// x-space MMSE tr(s (I + γ s)⁻¹) at log-SNR a (γ = eᵃ).
    let mmseXOf (s: Tensor) (a: Tensor) : Tensor =
        use e = mmseEpsOf s a
        use a64 = a.``to`` f64
        use ea = (a64.neg ()).exp ()
        e * ea

    /// Exact unconditional x-space MMSE curve mmse_x(a).
    let mmseX (dimX: int) (cov: Tensor) (a: Tensor) : Tensor =
        let sxx, sxy, syy = blocks dimX cov
        use _ = sxy
        use _ = syy
        use _ = sxx
        mmseXOf sxx a

    /// Exact conditional x-space MMSE curve mmse_x|y(a).
    let mmseXGivenY (dimX: int) (cov: Tensor) (a: Tensor) : Tensor =
        use c = conditionalCovariance dimX cov
        mmseXOf c a

    /// Exact ε-space MMSE gap mmse_ε,x(a) − mmse_ε,x|y(a) = eᵃ (mmse_x − mmse_x|y); ≥ 0.
    let gapEps (dimX: int) (cov: Tensor) (a: Tensor) : Tensor =
        let sxx, sxy, syy = blocks dimX cov
        use _ = sxy
        use _ = syy
        use _ = sxx
        use c = conditionalCovariance dimX cov
        use u = mmseEpsOf sxx a
        use k = mmseEpsOf c a
        u - k

    /// The exact optimal ε-predictor for x ~ N(mean(y), s):
    /// ε̂ = σ (α² s + σ² I)⁻¹ (z − α·mean), batched over rows (a differs per row).
    let private linearEps (s: Tensor) (mean: Tensor) (z: Tensor) (a: Tensor) : Tensor =
        use z64 = z.``to`` f64
        use a64 = a.``to`` f64
        let dx = s.shape.[0]
        use alpha = Channel.signalScale a64
        use sigma = Channel.noiseScale a64
        use a2 = (alpha * alpha).view(-1L, 1L, 1L)
        use s2 = (sigma * sigma).view(-1L, 1L, 1L)
        use eye = torch.eye(dx, dtype = f64)
        use m = a2 * s.unsqueeze 0L + s2 * eye.unsqueeze 0L
        use centred = z64 - alpha.unsqueeze 1L * mean
        use sol = torch.linalg.solve (m, centred.unsqueeze -1L)
        use sq = sol.squeeze -1L
        sigma.unsqueeze 1L * sq

    /// The oracle on CPU tensors (see oracle).
    let private oracleCpu (dimX: int) (cov: Tensor) : Denoiser =
        validate dimX cov
        let sxx, sxy, syy = blocks dimX cov
        syy.Dispose()
        sxy.Dispose()
        let cond = conditionalCovariance dimX cov
        let b = regression dimX cov
        let dx = int64 dimX
        let dy = cov.shape.[0] - dx
        fun z a y ->
            Checks.requireRank "z" 2 z
            if z.shape.[1] <> dx then
                invalidArg "z" (sprintf "z has shape %s but the oracle's X has %d coordinates." (Checks.shapeText z) dimX)
            Checks.requireRank "a" 1 a
            if a.shape.[0] <> z.shape.[0] then
                invalidArg "a" (sprintf "a has shape %s but z has shape %s; one log-SNR per row." (Checks.shapeText a) (Checks.shapeText z))
            match y with
            | None ->
                use zero = torch.zeros([| z.shape.[0]; dx |], dtype = f64)
                linearEps sxx zero z a
            | Some y ->
                Checks.requireRank "y" 2 y
                Checks.requireSameRows "z" z "y" y
                if y.shape.[1] <> dy then
                    invalidArg "y" (sprintf "y has shape %s but the oracle's Y has %d coordinates." (Checks.shapeText y) dy)
                use y64 = y.``to`` f64
                use mean = y64.matmul (b.t ())
                linearEps cond mean z a

    /// The oracle denoiser of a zero-mean jointly Gaussian (X, Y) with covariance cov: the exact
    /// E[ε | z] and E[ε | z, y]. Works in float64 on the CPU and returns its prediction on z's
    /// device, so it is usable wherever a learned denoiser is (CPU or CUDA inputs alike; on the
    /// CPU no copy is made).
    let oracle (dimX: int) (cov: Tensor) : Denoiser =
        let cpu = oracleCpu dimX cov
        fun z a y ->
            if z.device_type = DeviceType.CPU then cpu z a y
            else
                use zc = z.cpu ()
                use ac = a.cpu ()
                use yc = match y with Some t -> t.cpu () | None -> null
                use r = cpu zc ac (if isNull yc then None else Some yc)
                r.``to`` z.device

    /// n samples of the zero-mean Gaussian with covariance cov, split into (x [n; dimX], y [n; d − dimX]).
    let sample (generator: torch.Generator) (n: int) (dimX: int) (cov: Tensor) : Tensor * Tensor =
        validate dimX cov
        Checks.requirePositiveInt "n" n
        let d = cov.shape.[0]
        use l = torch.linalg.cholesky (cov.``to`` f64)
        use e = torch.randn([| int64 n; d |], dtype = f64, generator = generator)
        use xy = e.matmul (l.t ())
        xy.narrow(1L, 0L, int64 dimX).contiguous (), xy.narrow(1L, int64 dimX, d - int64 dimX).contiguous ()

    // ---- covariance algebra used to state the MI laws ----

    /// Covariance of (M X, Y) for a [dx; dx] matrix M.
    let mapX (m: Tensor) (dimX: int) (cov: Tensor) : Tensor =
        validate dimX cov
        let d = cov.shape.[0]
        if m.shape <> [| int64 dimX; int64 dimX |] then
            invalidArg "m" (sprintf "the map of X must be [%d;%d], got %s." dimX dimX (Checks.shapeText m))
        use eye = torch.eye(d - int64 dimX, dtype = f64)
        use t = torch.block_diag (m.``to`` f64, eye)
        use tc = t.matmul (cov.``to`` f64)
        tc.matmul (t.t ())

    /// Covariance of (X, A Y + N) for A [k; dy] and independent noise N ~ N(0, noise) with noise [k; k].
    /// Returns the new covariance; X keeps its dimX coordinates.
    let mapY (a: Tensor) (noise: Tensor) (dimX: int) (cov: Tensor) : Tensor =
        validate dimX cov
        let dy = cov.shape.[0] - int64 dimX
        if a.dim () <> 2L || a.shape.[1] <> dy then
            invalidArg "a" (sprintf "the map of Y must be [k;%d], got %s." dy (Checks.shapeText a))
        let k = a.shape.[0]
        if noise.shape <> [| k; k |] then
            invalidArg "noise" (sprintf "the noise covariance must be [%d;%d], got %s." k k (Checks.shapeText noise))
        use eye = torch.eye(int64 dimX, dtype = f64)
        use t = torch.block_diag (eye, a.``to`` f64)
        use tc = t.matmul (cov.``to`` f64)
        use mapped = tc.matmul (t.t ())
        use zx = torch.zeros([| int64 dimX; int64 dimX |], dtype = f64)
        use pad = torch.block_diag (zx, noise.``to`` f64)
        mapped + pad

    /// Covariance of ([X1, X2], [Y1, Y2]) for independent pairs (X1, Y1) and (X2, Y2).
    /// Returns (dimX1 + dimX2, covariance).
    let independentPair (dimX1: int) (cov1: Tensor) (dimX2: int) (cov2: Tensor) : int * Tensor =
        validate dimX1 cov1
        validate dimX2 cov2
        let d1, d2 = int cov1.shape.[0], int cov2.shape.[0]
        // index order: X1, X2, Y1, Y2
        let order = Array.concat [ [| 0 .. dimX1 - 1 |]; [| d1 .. d1 + dimX2 - 1 |]; [| dimX1 .. d1 - 1 |]; [| d1 + dimX2 .. d1 + d2 - 1 |] ]
        use bd = torch.block_diag (cov1.``to`` f64, cov2.``to`` f64)
        use idx = torch.tensor(order |> Array.map int64)
        use rows = bd.index_select (0L, idx)
        dimX1 + dimX2, rows.index_select (1L, idx)
