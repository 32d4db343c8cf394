namespace Mmg.Core

open System
open System.Globalization

/// One conditional-MI benchmark task: a named sampler of (X, Y, Z) with its exact I(X;Y|Z).
type CmiTask =
    { /// e.g. "cmi-collider-1-1-1-0.5", "half_cube-cmi-sparse-3-3-5".
      Id: string
      Name: string
      /// "confounder", "chain", "collider", "cmi-dense", "cmi-sparse" (transforms keep it).
      Family: string
      DimX: int
      DimY: int
      DimZ: int
      /// I(X;Y|Z) in nats, exact (closed form of the Gaussian base; the transforms are injective
      /// per coordinate and keep it).
      TrueCMI: float
      /// I(X;Y) in nats, exact, for contrast (a confounder has CMI 0 but MI > 0, a collider the reverse).
      TrueMI: float
      Parameters: string
      /// Sample n seed → (x [n; DimX], y [n; DimY], z [n; DimZ]); deterministic in the seed.
      Sample: int -> int -> float[,] * float[,] * float[,] }
    override this.ToString() = sprintf "%s (%d×%d|%d, CMI %.4f nats)" this.Id this.DimX this.DimY this.DimZ this.TrueCMI

/// The conditional-MI task family (issue 14), all with exact ground truth: a confounder and a
/// chain (CMI 0, MI > 0), a collider (MI 0, CMI > 0), dense and sparse Gaussian blocks with
/// dim_z ∈ {1, 5, 10}, and injective per-coordinate transforms of some of them. See
/// docs/conditional-mi.md.
module CmiTasks =
    let private text (v: float) = v.ToString("0.0##", CultureInfo.InvariantCulture)

    /// Exact I(X;Y|Z) and I(X;Y) of a covariance ordered (X, Y, Z):
    /// ½ (log det Σ_XZ + log det Σ_YZ − log det Σ_Z − log det Σ_XYZ) and Tasks.gaussianMI of Σ_XY,
    /// by Tasks.logDet on plain arrays (the value of ConditionalGaussian.conditionalMutualInformation,
    /// tested, without loading libtorch, so that `mmg tasks` stays libtorch-free as on main).
    let truths (dimX: int) (dimY: int) (cov: float[,]) : float * float =
        let d = Array2D.length1 cov
        let logDet (idx: int[]) =
            if idx.Length = 0 then 0.0
            else Tasks.logDet (Array2D.init idx.Length idx.Length (fun i j -> cov.[idx.[i], idx.[j]]))
        let xs, ys, zs = [| 0 .. dimX - 1 |], [| dimX .. dimX + dimY - 1 |], [| dimX + dimY .. d - 1 |]
        // round-off of the log-determinants (≈ 1e-16) is not information: report exact zeros
        let clean v = if abs v < 1e-12 then 0.0 else v
        let cmi = 0.5 * (logDet (Array.append xs zs) + logDet (Array.append ys zs) - logDet zs - logDet [| 0 .. d - 1 |])
        let mi = Tasks.gaussianMI dimX (Array2D.init (dimX + dimY) (dimX + dimY) (fun i j -> cov.[i, j]))
        clean cmi, clean mi

    /// Covariance L·Lᵀ + diag(noise) of a linear latent-variable model.
    let latentCovariance (loading: float[,]) (noise: float[]) : float[,] =
        let d, k = Array2D.length1 loading, Array2D.length2 loading
        if noise.Length <> d then invalidArg "noise" (sprintf "noise has %d entries for %d coordinates." noise.Length d)
        Array2D.init d d (fun i j ->
            let mutable s = if i = j then noise.[i] else 0.0
            for m in 0 .. k - 1 do
                s <- s + loading.[i, m] * loading.[j, m]
            s)

    /// A zero-mean Gaussian task with covariance cov over (X, Y, Z).
    let gaussian (id: string) (name: string) (family: string) (parameters: string) (dimX: int) (dimY: int) (cov: float[,]) : CmiTask =
        let d = Array2D.length1 cov
        let dimZ = d - dimX - dimY
        if dimX < 1 || dimY < 1 || dimZ < 0 then invalidArg "cov" (sprintf "a %dx%d covariance cannot hold dimX = %d and dimY = %d." d d dimX dimY)
        let l = Tasks.cholesky cov
        let cmi, mi = truths dimX dimY cov
        { Id = id
          Name = name
          Family = family
          DimX = dimX
          DimY = dimY
          DimZ = dimZ
          TrueCMI = cmi
          TrueMI = mi
          Parameters = parameters
          Sample =
            fun n seed ->
                Checks.requirePositiveInt "n" n
                let m = Tasks.normals (Random seed) n d |> Tasks.mulLowerT l
                Array2D.init n dimX (fun r c -> m.[r, c]), Array2D.init n dimY (fun r c -> m.[r, dimX + c]), Array2D.init n dimZ (fun r c -> m.[r, dimX + dimY + c]) }

    /// Confounder: Z ~ N(0, I_d) drives X_i = Z_i + s·N and Y_i = Z_i + s·N (d × d | d):
    /// X ⊥ Y | Z, so CMI = 0, while MI = −d/2 · log(1 − 1/(1 + s²)²) > 0.
    let confounder (d: int) (noise: float) =
        Checks.requirePositiveInt "d" d
        Checks.requirePositive "noise" noise
        let loading = Array2D.init (3 * d) d (fun i m -> if i % d = m then 1.0 else 0.0)
        let cov = latentCovariance loading (Array.init (3 * d) (fun i -> if i < 2 * d then noise * noise else 0.0))
        gaussian (sprintf "cmi-confounder-%d-%d-%d-%s" d d d (text noise)) (sprintf "Confounder %d × %d | %d" d d d) "confounder"
            (sprintf "X = Z + %s N, Y = Z + %s N" (text noise) (text noise)) d d cov

    /// Chain X → Z → Y: X ~ N(0, 1), Z = X + N, Y = Z + N (1 × 1 | 1): CMI = 0, MI = ½ log(3/2)
    /// (corr(X, Y)² = 1/3).
    let chain () =
        // order (X, Y, Z): var X = 1, var Z = 2, var Y = 3; cov(X, Z) = cov(X, Y) = 1, cov(Y, Z) = 2
        let cov = array2D [ [ 1.0; 1.0; 1.0 ]; [ 1.0; 3.0; 2.0 ]; [ 1.0; 2.0; 2.0 ] ]
        gaussian "cmi-chain-1-1-1" "Chain X → Z → Y" "chain" "X ~ N(0,1), Z = X + N, Y = Z + N" 1 1 cov

    /// Collider: X, Y independent N(0, 1), Z = X + Y + s·N (1 × 1 | 1): MI = 0, and given Z the
    /// partial correlation is −1/(1 + s²), so CMI = −½ log(1 − 1/(1 + s²)²).
    let collider (noise: float) =
        Checks.requirePositive "noise" noise
        let s2 = noise * noise
        let cov = array2D [ [ 1.0; 0.0; 1.0 ]; [ 0.0; 1.0; 1.0 ]; [ 1.0; 1.0; 2.0 + s2 ] ]
        gaussian (sprintf "cmi-collider-1-1-1-%s" (text noise)) "Collider X → Z ← Y" "collider" (sprintf "Z = X + Y + %s N" (text noise)) 1 1 cov

    /// Dense: every coordinate of (X, Y, Z) has variance 1 and every pair correlation rho
    /// (dimX × dimY | dimZ).
    let dense (dimX: int) (dimY: int) (dimZ: int) (rho: float) =
        let d = dimX + dimY + dimZ
        let cov = Array2D.init d d (fun i j -> if i = j then 1.0 else rho)
        gaussian (sprintf "cmi-dense-%d-%d-%d-%s" dimX dimY dimZ (text rho)) (sprintf "Dense %d × %d | %d" dimX dimY dimZ) "cmi-dense"
            (sprintf "all correlations %s" (text rho)) dimX dimY cov

    /// Sparse (3 × 3 | dimZ): Z ~ N(0, I); X_i = Z_(i mod dimZ) + e, Y_i = Z_(i mod dimZ) + e for
    /// i = 0, 1, 2, and the first two pairs also share a latent U_i with weight 1; unit noise e
    /// on every X and Y. Given Z only the two U-pairs remain, each with correlation ½, so
    /// CMI = −log(3/4) whatever dimZ is; the other Z coordinates are irrelevant.
    let sparse (dimZ: int) =
        Checks.requirePositiveInt "dimZ" dimZ
        let d = 6 + dimZ
        // latents: Z_0..Z_(dimZ−1), then U_0, U_1
        let loading =
            Array2D.init d (dimZ + 2) (fun i m ->
                if i < 6 then
                    let k = i % 3
                    if m < dimZ then (if m = k % dimZ then 1.0 else 0.0)
                    else (if k < 2 && m - dimZ = k then 1.0 else 0.0)
                else (if m = i - 6 then 1.0 else 0.0))
        let cov = latentCovariance loading (Array.init d (fun i -> if i < 6 then 1.0 else 0.0))
        gaussian (sprintf "cmi-sparse-3-3-%d" dimZ) (sprintf "Sparse 3 × 3 | %d" dimZ) "cmi-sparse" "2 pairs share a latent; Z_(i mod dz) drives X_i and Y_i" 3 3 cov

    /// A task with f applied to every coordinate of X, Y and Z (f injective): CMI unchanged.
    let transformed (prefix: string) (label: string) (f: float -> float) (b: CmiTask) =
        { b with
            Id = prefix + "-" + b.Id
            Name = sprintf "%s @ %s" label b.Name
            Parameters = b.Parameters + "; transform=" + prefix
            Sample =
                fun n seed ->
                    let x, y, z = b.Sample n seed
                    Array2D.map f x, Array2D.map f y, Array2D.map f z }

    let halfCube = transformed "half_cube" "Half-cube" Transforms.halfCube
    let normalCdf = transformed "normal_cdf" "Normal CDF" Special.normalCdf
    let asinh = transformed "asinh" "Asinh" Transforms.asinh

    let private build () =
        [ confounder 1 1.0
          confounder 3 0.5
          chain ()
          collider 0.5
          dense 2 2 1 0.5
          dense 2 2 5 0.5
          dense 2 2 10 0.5
          sparse 1
          sparse 5
          sparse 10
          halfCube (confounder 1 1.0)
          asinh (collider 0.5)
          normalCdf (dense 2 2 5 0.5)
          halfCube (sparse 5) ]

    /// The conditional-MI tasks, in the order of docs/conditional-mi.md.
    let all : CmiTask list = build ()

    /// The task with this id, if any.
    let tryFind (id: string) = if isNull id then None else all |> List.tryFind (fun t -> t.Id = id.Trim())

    /// Whether id names a conditional-MI task.
    let isCmi (id: string) = (tryFind id).IsSome

    /// The task with this id; an ArgumentException listing the ids otherwise.
    let find (id: string) =
        match tryFind id with
        | Some t -> t
        | None -> invalidArg "id" (sprintf "unknown conditional-MI task '%s'; the CMI tasks are: %s." id (String.Join(", ", all |> List.map (fun t -> t.Id))))
