namespace Mmg.Core

open System
open System.Globalization
open MathNet.Numerics.LinearAlgebra

/// One benchmark task: a named sampler of (X, Y) with its exact mutual information.
type BenchmarkTask =
    { /// bmi's task id, e.g. "multinormal-sparse-3-3-2-2.0".
      Id: string
      /// bmi's display name, e.g. "Multinormal 3 × 3 (2-pair)".
      Name: string
      /// The base family: "normal", "multinormal-dense", "multinormal-sparse", "additive-uniform",
      /// "bimodal", "student-t" (transforms keep their base's family).
      Family: string
      DimX: int
      DimY: int
      /// I(X;Y) in nats, computed from the closed form of the base distribution.
      TrueMI: float
      /// The parameters and transforms, as "name=value" text separated by "; ".
      Parameters: string
      /// Sample n seed → (x [n; DimX], y [n; DimY]); deterministic in the seed.
      Sample: int -> int -> float[,] * float[,] }
    override this.ToString() = sprintf "%s (%d×%d, MI %.4f nats)" this.Id this.DimX this.DimY this.TrueMI

/// The 40 benchmark tasks of Czyż et al. 2023 ("Beyond Normal", the `bmi` package's
/// BENCHMARK_TASKS), in bmi's order, with bmi's ids, dimensions and ground truths; plus the
/// sparse 3×3 family at any strength for the high-MI experiment. See docs/benchmark.md.
module Tasks =
    // ---------- sampling helpers (plain arrays, one System.Random per call) ----------
    // The normal and gamma samplers stay hand-written: they fix the seeded task samples (and every
    // recorded benchmark result); MathNet's samplers draw other streams from the same seed.

    let private normal (rng: Random) =
        let u1 = 1.0 - rng.NextDouble()
        let u2 = rng.NextDouble()
        Math.Sqrt(-2.0 * Math.Log u1) * Math.Cos(2.0 * Math.PI * u2)

    /// n×d standard normals (Box–Muller, both outputs used).
    let normals (rng: Random) (n: int) (d: int) : float[,] =
        let out = Array2D.zeroCreate n d
        let total = n * d
        let mutable k = 0
        while k < total do
            let u1 = 1.0 - rng.NextDouble()
            let u2 = rng.NextDouble()
            let r = Math.Sqrt(-2.0 * Math.Log u1)
            out.[k / d, k % d] <- r * Math.Cos(2.0 * Math.PI * u2)
            if k + 1 < total then out.[(k + 1) / d, (k + 1) % d] <- r * Math.Sin(2.0 * Math.PI * u2)
            k <- k + 2
        out

    /// Gamma(shape, 1) by Marsaglia–Tsang (with the U^(1/shape) boost for shape under 1).
    let rec private gamma (rng: Random) (shape: float) : float =
        if shape < 1.0 then
            let g = gamma rng (shape + 1.0)
            g * Math.Pow(1.0 - rng.NextDouble(), 1.0 / shape)
        else
            let d = shape - 1.0 / 3.0
            let c = 1.0 / Math.Sqrt(9.0 * d)
            let mutable result = nan
            while Double.IsNaN result do
                let z = normal rng
                let v = 1.0 + c * z
                if v > 0.0 then
                    let v3 = v * v * v
                    let u = 1.0 - rng.NextDouble()
                    if Math.Log u < 0.5 * z * z + d - d * v3 + d * Math.Log v3 then result <- d * v3
            result

    /// The Cholesky factorisation of a symmetric positive-definite matrix (MathNet.Numerics); fails
    /// with ArgumentException("covariance") naming the smallest eigenvalue.
    let private choleskyOf (s: float[,]) : Factorization.Cholesky<float> =
        let d = Array2D.length1 s
        if Array2D.length2 s <> d then invalidArg "covariance" (sprintf "the covariance must be square, got %dx%d." d (Array2D.length2 s))
        let m = Matrix<float>.Build.DenseOfArray s
        try m.Cholesky()
        with :? ArgumentException ->
            let smallest = m.Evd(Symmetricity.Symmetric).EigenValues |> Seq.map (fun v -> v.Real) |> Seq.min
            invalidArg "covariance" (sprintf "the covariance is not positive definite (smallest eigenvalue %g)." smallest)

    /// Lower Cholesky factor of a symmetric positive-definite matrix.
    let cholesky (s: float[,]) : float[,] = (choleskyOf s).Factor.ToArray()

    /// log det of a symmetric positive-definite matrix, from its Cholesky factor.
    let logDet (s: float[,]) : float = (choleskyOf s).DeterminantLn

    /// rows of z times Lᵀ (z [n; d], L lower [d; d]).
    let mulLowerT (l: float[,]) (z: float[,]) : float[,] =
        let n, d = Array2D.length1 z, Array2D.length2 z
        let out = Array2D.zeroCreate n d
        let row = Array.zeroCreate d
        for r in 0 .. n - 1 do
            for k in 0 .. d - 1 do row.[k] <- z.[r, k]
            for i in 0 .. d - 1 do
                let mutable acc = 0.0
                for k in 0 .. i do
                    acc <- acc + l.[i, k] * row.[k]
                out.[r, i] <- acc
        out

    let private splitColumns (dimX: int) (m: float[,]) : float[,] * float[,] =
        let n, d = Array2D.length1 m, Array2D.length2 m
        Array2D.init n dimX (fun r c -> m.[r, c]), Array2D.init n (d - dimX) (fun r c -> m.[r, dimX + c])

    let private checkN (n: int) = Checks.requirePositiveInt "n" n

    /// The most values (rows × (dimX + dimY)) one call of a sampler may produce: 10⁸ doubles
    /// (800 MB). Larger requests are refused before anything is allocated.
    [<Literal>]
    let MaxValues = 100_000_000

    /// The task with its sampler refusing n < 1 and n·(dimX + dimY) > MaxValues up front.
    let private limited (t: BenchmarkTask) : BenchmarkTask =
        let inner = t.Sample
        let d = t.DimX + t.DimY
        { t with
            Sample =
                fun n seed ->
                    if n < 1 then invalidArg "n" (sprintf "the number of samples must be at least 1, got %d." n)
                    if int64 n * int64 d > int64 MaxValues then
                        invalidArg "n" (sprintf "%d samples of task %s (%d columns) are %d values, more than the limit of %d (800 MB); ask for at most %d samples." n t.Id d (int64 n * int64 d) MaxValues (MaxValues / d))
                    inner n seed }

    /// Python's str() of a float for ids: "2.0", "0.75", "0.1".
    let private py (v: float) =
        if v = Math.Round v && Math.Abs v < 1e15 then v.ToString("0.0", CultureInfo.InvariantCulture)
        else v.ToString("R", CultureInfo.InvariantCulture)

    // ---------- ground truths from formulas ----------

    /// Exact Gaussian MI of a covariance: ½ (log det S_xx + log det S_yy − log det S), by logDet
    /// on plain arrays (the same value as Mmg.Core.Gaussian's, without loading libtorch, so that
    /// listing the tasks stays fast).
    let gaussianMI (dimX: int) (cov: float[,]) : float =
        let d = Array2D.length1 cov
        if Array2D.length2 cov <> d then invalidArg "cov" (sprintf "cov must be square, got %dx%d." d (Array2D.length2 cov))
        if dimX < 1 || dimX >= d then invalidArg "dimX" (sprintf "dimX must be between 1 and %d, got %d." (d - 1) dimX)
        let sxx = Array2D.init dimX dimX (fun i j -> cov.[i, j])
        let syy = Array2D.init (d - dimX) (d - dimX) (fun i j -> cov.[dimX + i, dimX + j])
        0.5 * (logDet sxx + logDet syy - logDet cov)

    /// Exact MI of a multivariate Student-t with ν degrees of freedom and dispersion matrix
    /// `dispersion` (Arellano-Valle, Contreras-Reyes and Genton 2013): the Gaussian MI of the
    /// dispersion plus a correction in log-gamma and digamma that depends only on ν, dimX, dimY.
    let studentMI (dimX: int) (nu: float) (dispersion: float[,]) : float =
        Checks.requirePositive "nu" nu
        let d = Array2D.length1 dispersion
        let dimY = d - dimX
        let h (k: int) =
            // the non-Gaussian part of the entropy of a k-dimensional t (up to terms that cancel)
            let a = (nu + float k) / 2.0
            Special.lgamma (nu / 2.0) - Special.lgamma a + a * (Special.digamma a - Special.digamma (nu / 2.0))
        gaussianMI dimX dispersion + h dimX + h dimY - h d

    /// MI of Y = X + N with X ~ U(0, 1) and N ~ U(−ε, ε): h(Y) − log 2ε, which is ε − log 2ε for
    /// ε ≤ 1/2 and 1/(4ε) for ε ≥ 1/2.
    let additiveUniformMI (epsilon: float) : float =
        Checks.requirePositive "epsilon" epsilon
        if epsilon <= 0.5 then epsilon - Math.Log(2.0 * epsilon) else 1.0 / (4.0 * epsilon)

    // ---------- covariances ----------

    /// [[1, ρ], [ρ, 1]].
    let bivariateCovariance (rho: float) = array2D [ [ 1.0; rho ]; [ rho; 1.0 ] ]

    /// Every variance 1, every other entry offDiag (bmi's "dense").
    let denseCovariance (dimX: int) (dimY: int) (offDiag: float) =
        let d = dimX + dimY
        Array2D.init d d (fun i j -> if i = j then 1.0 else offDiag)

    /// bmi's sparse latent-variable parametrisation (α = β = 0, ε = 1, λ = η = strength): the first
    /// nInteracting pairs (X_i, Y_i) share a latent Z_i with weight λ, every coordinate has unit noise
    /// and the others an extra independent term of weight η = λ, so all variances are 1 + λ². Returned
    /// as the correlation matrix: corr(X_i, Y_i) = λ²/(1 + λ²) for i under nInteracting, 0 elsewhere.
    let sparseCorrelation (dimX: int) (dimY: int) (nInteracting: int) (strength: float) =
        if nInteracting < 0 || nInteracting > min dimX dimY then
            invalidArg "nInteracting" (sprintf "nInteracting must be between 0 and min(dimX, dimY) = %d, got %d." (min dimX dimY) nInteracting)
        let d = dimX + dimY
        let lam2 = strength * strength
        let cov = Array2D.zeroCreate d d
        for i in 0 .. d - 1 do
            cov.[i, i] <- 1.0 + lam2 // ε² + λ² (interacting) or ε² + η² with η = λ (the rest)
        for i in 0 .. nInteracting - 1 do
            cov.[i, dimX + i] <- lam2
            cov.[dimX + i, i] <- lam2
        Array2D.init d d (fun i j -> cov.[i, j] / Math.Sqrt(cov.[i, i] * cov.[j, j]))

    // ---------- base tasks ----------

    let private gaussianTask (id: string) (name: string) (family: string) (parameters: string) (dimX: int) (cov: float[,]) : BenchmarkTask =
        let d = Array2D.length1 cov
        let l = cholesky cov
        { Id = id
          Name = name
          Family = family
          DimX = dimX
          DimY = d - dimX
          TrueMI = gaussianMI dimX cov
          Parameters = parameters
          Sample =
            fun n seed ->
                checkN n
                let rng = Random(seed)
                normals rng n d |> mulLowerT l |> splitColumns dimX }

    /// Binormal 1 × 1 with correlation rho ("1v1-normal-0.75").
    let bivariateNormal (rho: float) =
        if not (rho > -1.0 && rho < 1.0) then invalidArg "rho" (sprintf "rho must lie strictly between -1 and 1, got %g." rho)
        gaussianTask (sprintf "1v1-normal-%s" (py rho)) "Binormal 1 × 1" "normal" (sprintf "correlation=%s" (py rho)) 1 (bivariateCovariance rho)

    /// Multinormal dimX × dimY, all correlations offDiag ("multinormal-dense-5-5-0.5").
    let multinormalDense (dimX: int) (dimY: int) (offDiag: float) =
        Checks.requirePositiveInt "dimX" dimX
        Checks.requirePositiveInt "dimY" dimY
        gaussianTask (sprintf "multinormal-dense-%d-%d-%s" dimX dimY (py offDiag)) (sprintf "Multinormal %d × %d (dense)" dimX dimY)
            "multinormal-dense" (sprintf "off_diag=%s" (py offDiag)) dimX (denseCovariance dimX dimY offDiag)

    /// Multinormal dimX × dimY with nInteracting interacting pairs of the given strength
    /// ("multinormal-sparse-3-3-2-2.0").
    let multinormalSparse (dimX: int) (dimY: int) (nInteracting: int) (strength: float) =
        Checks.requirePositiveInt "dimX" dimX
        Checks.requirePositiveInt "dimY" dimY
        Checks.requireFinite "strength" strength
        let name = if nInteracting = 2 then sprintf "Multinormal %d × %d (2-pair)" dimX dimY else sprintf "Multinormal %d × %d (sparse)" dimX dimY
        let rho = strength * strength / (1.0 + strength * strength)
        gaussianTask (sprintf "multinormal-sparse-%d-%d-%d-%s" dimX dimY nInteracting (py strength)) name "multinormal-sparse"
            (sprintf "n_interacting=%d; strength=%s; pair correlation=%s" nInteracting (py strength) (rho.ToString("G6", CultureInfo.InvariantCulture)))
            dimX (sparseCorrelation dimX dimY nInteracting strength)

    /// Student-t dimX × dimY with identity dispersion and ν = df ("student-identity-2-2-1").
    let studentIdentity (dimX: int) (dimY: int) (df: int) =
        Checks.requirePositiveInt "dimX" dimX
        Checks.requirePositiveInt "dimY" dimY
        Checks.requirePositiveInt "df" df
        let d = dimX + dimY
        let nu = float df
        let identity = Array2D.init d d (fun i j -> if i = j then 1.0 else 0.0)
        { Id = sprintf "student-identity-%d-%d-%d" dimX dimY df
          Name = sprintf "Student-t %d × %d (dof=%d)" dimX dimY df
          Family = "student-t"
          DimX = dimX
          DimY = dimY
          TrueMI = studentMI dimX nu identity
          Parameters = sprintf "dof=%d; dispersion=identity" df
          Sample =
            fun n seed ->
                checkN n
                let rng = Random(seed)
                let z = normals rng n d
                for r in 0 .. n - 1 do
                    // t = z / sqrt(W/ν), W ~ χ²_ν = 2·Gamma(ν/2)
                    let w = 2.0 * gamma rng (nu / 2.0)
                    let scale = Math.Sqrt(nu / w)
                    for c in 0 .. d - 1 do
                        z.[r, c] <- z.[r, c] * scale
                splitColumns dimX z }

    /// X ~ U(0, 1), Y = X + U(−ε, ε) ("1v1-additive-0.1").
    let additiveNoise (epsilon: float) =
        Checks.requirePositive "epsilon" epsilon
        { Id = sprintf "1v1-additive-%s" (py epsilon)
          Name = sprintf "Uniform 1 × 1 (additive noise=%s)" (py epsilon)
          Family = "additive-uniform"
          DimX = 1
          DimY = 1
          TrueMI = additiveUniformMI epsilon
          Parameters = sprintf "epsilon=%s" (py epsilon)
          Sample =
            fun n seed ->
                checkN n
                let rng = Random(seed)
                let x = Array2D.zeroCreate n 1
                let y = Array2D.zeroCreate n 1
                for r in 0 .. n - 1 do
                    let v = rng.NextDouble()
                    x.[r, 0] <- v
                    y.[r, 0] <- v + epsilon * (2.0 * rng.NextDouble() - 1.0)
                x, y }

    // ---------- transforms of tasks ----------

    /// A task with x ↦ fx(x) and y ↦ fy(y) applied to each sample (new dims allowed); MI unchanged.
    let private transformed (idPrefix: string) (name: string) (parameter: string) (dimX: int) (dimY: int) (fx: float[,] -> float[,]) (fy: float[,] -> float[,]) (b: BenchmarkTask) =
        { b with
            Id = idPrefix + "-" + b.Id
            Name = name
            DimX = dimX
            DimY = dimY
            Parameters = b.Parameters + "; " + parameter
            Sample =
                fun n seed ->
                    let x, y = b.Sample n seed
                    fx x, fy y }

    let private elementwise (f: float -> float) (m: float[,]) = Array2D.map f m

    let private rowwise (f: float[] -> float[]) (m: float[,]) =
        let n, d = Array2D.length1 m, Array2D.length2 m
        let out = Array2D.zeroCreate n d
        for r in 0 .. n - 1 do
            let row = f (Array.init d (fun c -> m.[r, c]))
            for c in 0 .. d - 1 do out.[r, c] <- row.[c]
        out

    /// Φ applied to every coordinate of X and Y ("normal_cdf-…").
    let normalCdf (b: BenchmarkTask) =
        transformed "normal_cdf" (sprintf "Normal CDF @ %s" b.Name) "transform=normal_cdf" b.DimX b.DimY (elementwise Special.normalCdf) (elementwise Special.normalCdf) b

    /// x·sqrt|x| on every coordinate ("half_cube-…").
    let halfCube (b: BenchmarkTask) =
        transformed "half_cube" (sprintf "Half-cube @ %s" b.Name) "transform=half_cube" b.DimX b.DimY (elementwise Transforms.halfCube) (elementwise Transforms.halfCube) b

    /// asinh on every coordinate ("asinh-…").
    let asinh (b: BenchmarkTask) =
        transformed "asinh" (sprintf "Asinh @ %s" b.Name) "transform=asinh" b.DimX b.DimY (elementwise Transforms.asinh) (elementwise Transforms.asinh) b

    /// The wiggly maps, wigglyX on X and wigglyY on Y ("wiggly-…").
    let wiggly (b: BenchmarkTask) =
        transformed "wiggly" (sprintf "Wiggly @ %s" b.Name) "transform=wiggly" b.DimX b.DimY (elementwise Transforms.wigglyX) (elementwise Transforms.wigglyY) b

    /// The spiral on X in the plane (0, 1) and on Y in the plane (1, 2), with speed/dim on each side
    /// (bmi's normalised speed with speed = 1; dimX ≥ 2, dimY ≥ 3) ("spiral-…").
    let spiral (speed: float) (b: BenchmarkTask) =
        if b.DimX < 2 then invalidArg "b" (sprintf "the spiral needs dimX ≥ 2 (a plane to rotate), but %s has dimX = %d." b.Id b.DimX)
        if b.DimY < 3 then invalidArg "b" (sprintf "the spiral needs dimY ≥ 3 (it rotates the plane (1, 2)), but %s has dimY = %d." b.Id b.DimY)
        let sx, sy = speed / float b.DimX, speed / float b.DimY
        let text (v: float) = v.ToString("G6", CultureInfo.InvariantCulture)
        transformed "spiral" (sprintf "Spiral @ %s" b.Name)
            (sprintf "transform=spiral (speed=%s, x: plane (0,1) speed %s, y: plane (1,2) speed %s)" (py speed) (text sx) (text sy))
            b.DimX b.DimY (rowwise (Transforms.spiral sx 0 1)) (rowwise (Transforms.spiral sy 1 2)) b

    /// Bimodal 1 × 1: the binormal pushed through Φ and then the quantile functions of the mixtures
    /// 0.3 N(0,1) + 0.7 N(5,1) (X) and 0.5 N(−1,1) + 0.5 N(3,1) (Y) ("1v1-bimodal-0.75").
    let bimodal (rho: float) =
        let b = bivariateNormal rho
        { b with
            Id = sprintf "1v1-bimodal-%s" (py rho)
            Name = "Bimodal gaussians 1 × 1"
            Family = "bimodal"
            Parameters = b.Parameters + "; X quantile of 0.3 N(0,1) + 0.7 N(5,1); Y quantile of 0.5 N(-1,1) + 0.5 N(3,1)"
            Sample =
                fun n seed ->
                    let x, y = b.Sample n seed
                    elementwise (Transforms.mixtureQuantileOfNormal Transforms.bimodalMixtureX) x,
                    elementwise (Transforms.mixtureQuantileOfNormal Transforms.bimodalMixtureY) y }

    /// Swiss roll 2 × 1: X (a uniform on [0, 1]) embedded in the plane by Transforms.swissRoll
    /// ("swissroll_x-…"); the base must have dimX = 1.
    let swissRollX (b: BenchmarkTask) =
        if b.DimX <> 1 then invalidArg "b" (sprintf "the swiss roll embeds a 1-dimensional X, but %s has dimX = %d." b.Id b.DimX)
        let embed (m: float[,]) =
            let n = Array2D.length1 m
            let out = Array2D.zeroCreate n 2
            for r in 0 .. n - 1 do
                let a, c = Transforms.swissRoll m.[r, 0]
                out.[r, 0] <- a
                out.[r, 1] <- c
            out
        transformed "swissroll_x" "Swiss roll 2 × 1" "transform=swissroll (X only)" 2 b.DimY embed id b

    // ---------- the list ----------

    /// bmi's constants: binormal correlation, dense off-diagonal, sparse strength, spiral speed.
    [<Literal>]
    let GaussianCorrelation = 0.75

    [<Literal>]
    let DenseOffDiagonal = 0.5

    [<Literal>]
    let SparseStrength = 2.0

    [<Literal>]
    let SpiralSpeed = 1.0

    let private build () : BenchmarkTask list =
        let binormal = bivariateNormal GaussianCorrelation
        let uniform = normalCdf binormal
        let bistudent = studentIdentity 1 1 1
        let oneDim =
            [ binormal
              uniform
              additiveNoise 0.1
              additiveNoise 0.75
              bimodal GaussianCorrelation
              wiggly binormal
              halfCube binormal
              bistudent
              asinh bistudent ]
        let embeddings = [ swissRollX uniform ]
        let sparse d = multinormalSparse d d 2 SparseStrength
        let multinormal =
            [ for d in [ 2; 3; 5; 25; 50 ] -> multinormalDense d d DenseOffDiagonal ]
            @ [ for d in [ 2; 3; 5; 25 ] -> sparse d ]
        let student =
            [ for d, df in [ 2, 1; 2, 2; 3, 2; 3, 3; 5, 2; 5, 3 ] -> studentIdentity d d df ]
        let bases = [ sparse 3; sparse 5; sparse 25 ]
        let transformedTasks =
            [ yield! bases |> List.map normalCdf
              yield! bases |> List.map halfCube
              yield! bases |> List.map (spiral SpiralSpeed)
              yield! bases |> List.map (normalCdf >> spiral SpiralSpeed)
              for d, df in [ 2, 1; 3, 2; 5, 2 ] -> asinh (studentIdentity d d df) ]
        oneDim @ embeddings @ multinormal @ student @ transformedTasks

    /// The 40 standard tasks, in bmi's order (one-dimensional, embeddings, multinormal, Student-t, transformed).
    let all : BenchmarkTask list = build () |> List.map limited

    /// The task with this id (exact match, surrounding spaces ignored), if any.
    let tryFind (id: string) : BenchmarkTask option =
        if isNull id then None
        else
            let key = id.Trim()
            all |> List.tryFind (fun t -> t.Id = key)

    let private editDistance (a: string) (b: string) =
        let d = Array2D.init (a.Length + 1) (b.Length + 1) (fun i j -> if i = 0 then j elif j = 0 then i else 0)
        for i in 1 .. a.Length do
            for j in 1 .. b.Length do
                let cost = if a.[i - 1] = b.[j - 1] then 0 else 1
                d.[i, j] <- min (min (d.[i - 1, j] + 1) (d.[i, j - 1] + 1)) (d.[i - 1, j - 1] + cost)
        d.[a.Length, b.Length]

    /// The task with this id; an ArgumentException naming the id and the closest known ids otherwise.
    let find (id: string) : BenchmarkTask =
        match tryFind id with
        | Some t -> t
        | None ->
            let key = if isNull id then "" else id.Trim()
            let close =
                all
                |> List.map (fun t -> t.Id, (if key.Length > 0 && t.Id.Contains(key, StringComparison.OrdinalIgnoreCase) then 0 else editDistance key t.Id))
                |> List.sortBy snd
                |> List.truncate 5
                |> List.map fst
            invalidArg "id" (sprintf "unknown task id '%s'; the closest known ids are: %s (see `mmg tasks` for all %d)." key (String.Join(", ", close)) (all |> List.length))

    // ---------- the high-MI family (paper §5.2) ----------

    /// Total MI (nats) of the 3×3 sparse task with 2 interacting pairs at this strength:
    /// −log(1 − ρ²) with ρ = λ²/(1 + λ²).
    let sparseMiOfStrength (strength: float) : float =
        Checks.requireFinite "strength" strength
        let lam2 = strength * strength
        let rho = lam2 / (1.0 + lam2)
        // 1 − ρ² = (1 − ρ)(1 + ρ), 1 − ρ = 1/(1 + λ²)
        -Math.Log((1.0 + rho) / (1.0 + lam2))

    /// The strength λ ≥ 0 whose 2-pair sparse task has total MI `mi` nats (the inverse of
    /// sparseMiOfStrength): ρ = sqrt(1 − e^(−mi)), λ = sqrt(ρ/(1 − ρ)).
    let strengthForMi (mi: float) : float =
        Checks.requirePositive "mi" mi
        let oneMinusRho2 = Math.Exp(-mi)
        let rho = Math.Sqrt(-Double.ExpM1(-mi))
        let oneMinusRho = oneMinusRho2 / (1.0 + rho)
        Math.Sqrt(rho / oneMinusRho)

    /// The 3×3 sparse multinormal with 2 interacting pairs at `strength`, optionally transformed:
    /// transform is "none", "half_cube" or "spiral". Ids follow bmi ("spiral-multinormal-sparse-3-3-2-5.0").
    let highMi (transform: string) (strength: float) : BenchmarkTask =
        Checks.requirePositive "strength" strength
        let b = multinormalSparse 3 3 2 strength
        match (if isNull transform then "" else transform.Trim().ToLowerInvariant()) with
        | "none" | "" -> limited b
        | "half_cube" | "half-cube" -> limited (halfCube b)
        | "spiral" -> limited (spiral SpiralSpeed b)
        | other -> invalidArg "transform" (sprintf "unknown transform '%s'; use none, half_cube or spiral." other)
