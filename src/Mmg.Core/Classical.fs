namespace Mmg.Core

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.Globalization
open System.Threading.Tasks

/// Neighbour counts behind one KSG-1 estimate, indexed by row: Epsilon.[i] is the max-norm
/// distance from row i to its k-th nearest other row in the joint (x, y) space; CountX.[i] and
/// CountY.[i] are the numbers of other rows strictly closer than Epsilon.[i] in x alone and in
/// y alone.
type NeighbourCounts =
    { K: int
      Epsilon: float[]
      CountX: int[]
      CountY: int[] }

/// An exact k-d tree over n points of dimension d (a flat row-major array), queried in the
/// max-norm. Nodes carry the tight bounding box of their points, so both pruning tests below
/// (a box cannot hold anything closer; a box lies entirely inside the radius) compare the same
/// rounded coordinate differences a brute-force scan would compute: results are exact, not
/// approximate.
[<Sealed>]
type MaxNormKdTree(data: float[], dim: int) =
    let n = if dim > 0 then data.Length / dim else 0
    do
        if dim <= 0 then invalidArg "dim" (sprintf "dim must be > 0, got %d." dim)
        if data.Length <> n * dim then
            invalidArg "data" (sprintf "data has %d values, which is not a multiple of dim = %d." data.Length dim)
        if n = 0 then invalidArg "data" "the tree needs at least one point."

    static let leafSize = 12

    // perm.[p] is the original row of tree position p; pts holds the coordinates in tree order.
    let perm = Array.init n id
    let starts = ResizeArray<int>()
    let ends = ResizeArray<int>()
    let lefts = ResizeArray<int>()
    let rights = ResizeArray<int>()
    let los = ResizeArray<float>()
    let his = ResizeArray<float>()

    let build () =
        let keys = Array.zeroCreate<float> n
        let rec node (s: int) (e: int) : int =
            let id = starts.Count
            starts.Add s
            ends.Add e
            lefts.Add -1
            rights.Add -1
            let mutable widest = 0
            let mutable width = -1.0
            for j in 0 .. dim - 1 do
                let mutable lo = Double.PositiveInfinity
                let mutable hi = Double.NegativeInfinity
                for p in s .. e - 1 do
                    let v = data.[perm.[p] * dim + j]
                    if v < lo then lo <- v
                    if v > hi then hi <- v
                los.Add lo
                his.Add hi
                if hi - lo > width then
                    width <- hi - lo
                    widest <- j
            if e - s > leafSize && width > 0.0 then
                for p in s .. e - 1 do
                    keys.[p] <- data.[perm.[p] * dim + widest]
                Array.Sort(keys, perm, s, e - s)
                let mid = s + (e - s) / 2
                let l = node s mid
                let r = node mid e
                lefts.[id] <- l
                rights.[id] <- r
            id
        node 0 n |> ignore

    do build ()

    let pts = Array.init (n * dim) (fun k -> data.[perm.[k / dim] * dim + k % dim])
    let nodeStart = starts.ToArray()
    let nodeEnd = ends.ToArray()
    let nodeLeft = lefts.ToArray()
    let nodeRight = rights.ToArray()
    let nodeLo = los.ToArray()
    let nodeHi = his.ToArray()

    /// Max-norm distance from the query (q.[qo .. qo+dim−1]) to the node's box; 0 inside it.
    member private _.BoxDistance(node: int, q: float[], qo: int) =
        let b = node * dim
        let mutable d = 0.0
        for j in 0 .. dim - 1 do
            let v = q.[qo + j]
            let lo = nodeLo.[b + j]
            let hi = nodeHi.[b + j]
            let g = if v < lo then lo - v elif v > hi then v - hi else 0.0
            if g > d then d <- g
        d

    /// The largest max-norm distance from the query to any corner of the node's box.
    member private _.BoxFarthest(node: int, q: float[], qo: int) =
        let b = node * dim
        let mutable d = 0.0
        for j in 0 .. dim - 1 do
            let v = q.[qo + j]
            let g = max (v - nodeLo.[b + j]) (nodeHi.[b + j] - v)
            if g > d then d <- g
        d

    member private _.PointDistance(p: int, q: float[], qo: int) =
        let b = p * dim
        let mutable d = 0.0
        for j in 0 .. dim - 1 do
            let g = abs (pts.[b + j] - q.[qo + j])
            if g > d then d <- g
        d

    member _.Count = n
    member _.Dim = dim

    /// The k smallest max-norm distances from the query to the points other than row `self`
    /// (pass −1 to exclude none), written sorted ascending into best.[0 .. k−1]; returns how
    /// many were found (k unless the tree holds fewer points).
    member this.Nearest(q: float[], qo: int, self: int, best: float[], k: int) : int =
        if k < 1 || isNull best || best.Length < k then
            invalidArg "k" (sprintf "k must be at least 1 and best must hold k values; got k = %d and %d values." k (if isNull best then 0 else best.Length))
        let mutable filled = 0
        // boxDist: the node's box distance, computed once by the parent.
        let rec visit (node: int) (boxDist: float) =
            if filled < k || boxDist < best.[k - 1] then
                let l = nodeLeft.[node]
                if l < 0 then
                    for p in nodeStart.[node] .. nodeEnd.[node] - 1 do
                        if perm.[p] <> self then
                            let d = this.PointDistance(p, q, qo)
                            if filled < k || d < best.[k - 1] then
                                // insertion into the sorted prefix
                                let mutable i = (if filled < k then filled else k - 1)
                                while i > 0 && best.[i - 1] > d do
                                    best.[i] <- best.[i - 1]
                                    i <- i - 1
                                best.[i] <- d
                                if filled < k then filled <- filled + 1
                else
                    let r = nodeRight.[node]
                    let dl = this.BoxDistance(l, q, qo)
                    let dr = this.BoxDistance(r, q, qo)
                    if dl <= dr then
                        visit l dl
                        visit r dr
                    else
                        visit r dr
                        visit l dl
        visit 0 (this.BoxDistance(0, q, qo))
        filled

    /// The number of points (the query's own row included, if it is in the tree) at max-norm
    /// distance strictly less than radius.
    member this.CountWithin(q: float[], qo: int, radius: float) : int =
        let rec visit (node: int) =
            if this.BoxDistance(node, q, qo) >= radius then 0
            elif this.BoxFarthest(node, q, qo) < radius then nodeEnd.[node] - nodeStart.[node]
            else
                let l = nodeLeft.[node]
                if l < 0 then
                    let mutable c = 0
                    for p in nodeStart.[node] .. nodeEnd.[node] - 1 do
                        if this.PointDistance(p, q, qo) < radius then c <- c + 1
                    c
                else visit l + visit nodeRight.[node]
        visit 0

/// The classical estimators beside MMG: KSG-1 (k nearest neighbours) and the Gaussian/CCA
/// closed form. Plain double arrays, no tensors. See docs/estimators-classical.md.
module Classical =
    /// Default number of neighbours for KSG.
    [<Literal>]
    let DefaultK = 5

    /// Euler–Mascheroni constant γ = −ψ(1).
    [<Literal>]
    let EulerGamma = 0.57721566490153286

    /// ψ, the digamma function (one implementation for the whole core: Special.digamma).
    let digamma (x: float) : float = Special.digamma x

    /// Row-major copy of a 2-D array with every column standardised to mean 0 and sample
    /// standard deviation 1 (n − 1 in the denominator). Columns with zero spread are only centred
    /// (callers reject them beforehand with Data.validate).
    let standardizeColumns (m: float[,]) : float[] =
        let n, d = Array2D.length1 m, Array2D.length2 m
        let out = Array.zeroCreate<float> (n * d)
        for j in 0 .. d - 1 do
            let mutable mean = 0.0
            for i in 0 .. n - 1 do
                mean <- mean + m.[i, j]
            mean <- mean / float n
            let mutable ss = 0.0
            for i in 0 .. n - 1 do
                let c = m.[i, j] - mean
                ss <- ss + c * c
            let sd = if n > 1 then Math.Sqrt(ss / float (n - 1)) else 0.0
            let scale = if sd > 0.0 then 1.0 / sd else 1.0
            for i in 0 .. n - 1 do
                out.[i * d + j] <- (m.[i, j] - mean) * scale
        out

    let private concatRows (n: int) (a: float[]) (da: int) (b: float[]) (db: int) =
        let d = da + db
        let out = Array.zeroCreate<float> (n * d)
        for i in 0 .. n - 1 do
            Array.blit a (i * da) out (i * d) da
            Array.blit b (i * db) out (i * d + da) db
        out

    let private requireK (n: int) (k: int) =
        if k < 1 then invalidArg "k" (sprintf "k must be at least 1, got %d." k)
        if k >= n then
            invalidArg "k" (sprintf "k = %d must be less than the number of rows n = %d (each row needs k other rows as neighbours)." k n)

    /// Neighbour counts on already-prepared row-major data (x: n×dx, y: n×dy), for each k in ks:
    /// one k-d tree in the joint space (kNN distance, the query's own row excluded) and one in each
    /// marginal space (strict range counts). Rows run in parallel; the result is deterministic.
    let private countsFlat (n: int) (xs: float[]) (dx: int) (ys: float[]) (dy: int) (ks: int[]) : NeighbourCounts[] =
        let joint = concatRows n xs dx ys dy
        let dz = dx + dy
        let tz = MaxNormKdTree(joint, dz)
        let tx = MaxNormKdTree(xs, dx)
        let ty = MaxNormKdTree(ys, dy)
        let kmax = Array.max ks
        let eps = ks |> Array.map (fun _ -> Array.zeroCreate<float> n)
        let cx = ks |> Array.map (fun _ -> Array.zeroCreate<int> n)
        let cy = ks |> Array.map (fun _ -> Array.zeroCreate<int> n)
        let chunk = max 64 (n / (8 * max 1 Environment.ProcessorCount))
        Parallel.ForEach(
            Partitioner.Create(0, n, chunk),
            fun (lo: int, hi: int) ->
                let best = Array.zeroCreate<float> kmax
                for i in lo .. hi - 1 do
                    tz.Nearest(joint, i * dz, i, best, kmax) |> ignore
                    for a in 0 .. ks.Length - 1 do
                        let e = best.[ks.[a] - 1]
                        eps.[a].[i] <- e
                        // CountWithin includes row i itself whenever e > 0 (its distance 0 < e).
                        let self = if e > 0.0 then 1 else 0
                        cx.[a].[i] <- tx.CountWithin(xs, i * dx, e) - self
                        cy.[a].[i] <- ty.CountWithin(ys, i * dy, e) - self
        )
        |> ignore
        Array.init ks.Length (fun a -> { K = ks.[a]; Epsilon = eps.[a]; CountX = cx.[a]; CountY = cy.[a] })

    /// KSG-1 neighbour counts of (x, y) after per-column standardisation (standardizeColumns),
    /// found with k-d trees. Exposed so that tests can compare them with a brute-force scan.
    /// Ties: Epsilon is the k-th smallest distance as a value (which of several equidistant rows
    /// counts as "the" k-th does not matter), and marginal counts use strict "<", so rows exactly
    /// at distance Epsilon in x (or y) are not counted; with k or more exact duplicates of a joint
    /// row, Epsilon is 0 and both counts are 0.
    let neighbourCounts (k: int) (x: float[,]) (y: float[,]) : NeighbourCounts =
        Data.validate 2 x y
        let n = Array2D.length1 x
        requireK n k
        let xs = standardizeColumns x
        let ys = standardizeColumns y
        (countsFlat n xs (Array2D.length2 x) ys (Array2D.length2 y) [| k |]).[0]

    /// Per-row KSG-1 terms ψ(k) + ψ(N) − ψ(n_x+1) − ψ(n_y+1); their mean is the estimate.
    let ksgTerms (counts: NeighbourCounts) : float[] =
        let n = counts.Epsilon.Length
        let psi = Array.init (n + 1) (fun m -> if m = 0 then nan else digamma (float m))
        let c = digamma (float counts.K) + digamma (float n)
        Array.init n (fun i -> c - psi.[counts.CountX.[i] + 1] - psi.[counts.CountY.[i] + 1])

    let private meanAndSe (terms: float[]) =
        let n = terms.Length
        let mutable s = 0.0
        for t in terms do
            s <- s + t
        let mean = s / float n
        let mutable ss = 0.0
        for t in terms do
            ss <- ss + (t - mean) * (t - mean)
        let se = if n > 1 then Math.Sqrt(ss / float (n - 1) / float n) else nan
        mean, se

    /// Parses "3,5,10" into distinct ascending ks.
    let private parseKs (text: string) : int[] =
        let parts = text.Split([| ','; ';'; ' ' |], StringSplitOptions.RemoveEmptyEntries)
        if parts.Length = 0 then invalidArg "ks" (sprintf "option 'ks' must list integers such as \"3,5,10\", got '%s'." text)
        parts
        |> Array.map (fun p ->
            match Int32.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture) with
            | true, v -> v
            | _ -> invalidArg "ks" (sprintf "option 'ks' must list integers such as \"3,5,10\"; '%s' in '%s' is not one." p text))
        |> Array.distinct
        |> Array.sort

    let private ksText (ks: int[]) = String.Join(",", ks)

    /// The KSG-1 estimator (Kraskov, Stögbauer, Grassberger 2004, estimator 1):
    /// I = ψ(k) + ψ(N) − ⟨ψ(n_x+1) + ψ(n_y+1)⟩ in the max-norm, after standardising every column.
    /// Options (Extra): "k" (default 5) or "ks" (e.g. "3,5,10": the mean of the estimates for
    /// each k, each reported as a variant "k=3", …). StdError is the standard deviation of the
    /// per-row terms over √N — approximate, since the terms share neighbours and are not
    /// independent. No randomness: the same input always gives the same result.
    type KsgEstimator(options: EstimatorOptions) =
        let extra = if isNull (box options.Extra) then null else options.Extra
        let ksOption =
            match extra with
            | null -> None
            | e ->
                match e.TryGetValue "ks" with
                | true, t when not (String.IsNullOrWhiteSpace t) -> Some(parseKs t)
                | _ -> None
        let k = Estimation.extraInt options "k" DefaultK
        do
            if k < 1 then invalidArg "k" (sprintf "option 'k' must be at least 1, got %d." k)
            match ksOption with
            | Some ks when ks.[0] < 1 -> invalidArg "ks" (sprintf "every k in option 'ks' must be at least 1, got %s." (ksText ks))
            | Some _ when not (isNull extra) && extra.ContainsKey "k" ->
                invalidArg "ks" "give either option 'k' or option 'ks', not both."
            | _ -> ()

        interface IMiEstimator with
            member _.Name = "ksg"

            member _.Estimate(x, y, _progress) =
                let watch = Stopwatch.StartNew()
                Data.validate 2 x y
                let n = Array2D.length1 x
                let dx, dy = Array2D.length2 x, Array2D.length2 y
                let ks = defaultArg ksOption [| k |]
                requireK n (Array.max ks)
                let xs = standardizeColumns x
                let ys = standardizeColumns y
                let counts = countsFlat n xs dx ys dy ks
                let perK = counts |> Array.map ksgTerms
                let terms = Array.init n (fun i -> (perK |> Array.sumBy (fun t -> t.[i])) / float ks.Length)
                let estimate, se = meanAndSe terms
                let variants =
                    if ksOption.IsNone then [||]
                    else
                        perK
                        |> Array.mapi (fun a t ->
                            let m, s = meanAndSe t
                            { Name = sprintf "k=%d" ks.[a]; Estimate = m; StdError = s })
                watch.Stop()
                { Estimator = "ksg"
                  Estimate = estimate
                  StdError = se
                  Seconds = watch.Elapsed.TotalSeconds
                  Variants = variants
                  Curves = None
                  Pointwise = [||]
                  Interval = None
                  IndependencePValue = nan
                  Settings =
                    Estimation.settings
                        [ (if ksOption.IsSome then "ks", box (ksText ks) else "k", box k)
                          "variant", box "KSG-1"
                          "norm", box "max"
                          "standardize", box "per column: mean 0, sample sd 1"
                          "ties", box "epsilon = k-th smallest joint distance; marginal counts strictly < epsilon"
                          "neighbourSearch", box "exact k-d trees"
                          "stdError", box "sd(per-row terms)/sqrt(n), approximate"
                          "n", box n
                          "dimX", box dx
                          "dimY", box dy
                          "threads", box Environment.ProcessorCount ] }

    /// The KSG-1 estimator with the given options (see KsgEstimator).
    let ksg (options: EstimatorOptions) : IMiEstimator = KsgEstimator(options) :> IMiEstimator

    // ---------------------------------------------------------------------------------------
    // Gaussian / CCA

    /// Lower Cholesky factor of the leading d×d block of a row-major matrix a (stride d); fails
    /// with ArgumentException(argName) when a pivot is not clearly positive.
    let private cholesky (argName: string) (what: string) (a: float[]) (d: int) : float[] =
        let l = Array.zeroCreate<float> (d * d)
        for j in 0 .. d - 1 do
            let mutable s = a.[j * d + j]
            for p in 0 .. j - 1 do
                s <- s - l.[j * d + p] * l.[j * d + p]
            if not (s > 1e-12 * a.[j * d + j]) then
                invalidArg argName (sprintf "%s is singular (Cholesky pivot %g at coordinate %d): some columns are exact linear combinations of others, so the Gaussian MI is undefined or infinite." what s j)
            let ljj = Math.Sqrt s
            l.[j * d + j] <- ljj
            for i in j + 1 .. d - 1 do
                let mutable t = a.[i * d + j]
                for p in 0 .. j - 1 do
                    t <- t - l.[i * d + p] * l.[j * d + p]
                l.[i * d + j] <- t / ljj
        l

    let private logDetOfCholesky (l: float[]) (d: int) =
        let mutable s = 0.0
        for j in 0 .. d - 1 do
            s <- s + Math.Log l.[j * d + j]
        2.0 * s

    let private subMatrix (a: float[]) (d: int) (r0: int) (c0: int) (rows: int) (cols: int) =
        Array.init (rows * cols) (fun k -> a.[(r0 + k / cols) * d + c0 + k % cols])

    /// Solves L·X = B in place for lower-triangular L (d×d) and B (d×m), both row-major.
    let private forwardSolve (l: float[]) (d: int) (b: float[]) (m: int) =
        for c in 0 .. m - 1 do
            for i in 0 .. d - 1 do
                let mutable t = b.[i * m + c]
                for p in 0 .. i - 1 do
                    t <- t - l.[i * d + p] * b.[p * m + c]
                b.[i * m + c] <- t / l.[i * d + i]

    /// The joint sample correlation matrix (row-major, (dx+dy)², x coordinates first).
    let sampleCorrelation (x: float[,]) (y: float[,]) : float[] =
        let n = Array2D.length1 x
        let dx, dy = Array2D.length2 x, Array2D.length2 y
        let d = dx + dy
        let z = concatRows n (standardizeColumns x) dx (standardizeColumns y) dy
        let r = Array.zeroCreate<float> (d * d)
        for i in 0 .. n - 1 do
            let o = i * d
            for a in 0 .. d - 1 do
                let za = z.[o + a]
                for b in 0 .. a do
                    r.[a * d + b] <- r.[a * d + b] + za * z.[o + b]
        for a in 0 .. d - 1 do
            for b in 0 .. a do
                let v = r.[a * d + b] / float (n - 1)
                r.[a * d + b] <- v
                r.[b * d + a] <- v
        r

    /// (MI, Σ r_i²) of a joint correlation (or covariance) matrix: MI = ½(log det R_xx + log det R_yy
    /// − log det R) = −½ Σ log(1 − r_i²), and Σ r_i² = ‖L_x⁻¹ R_xy L_y⁻ᵀ‖²_F (the squared canonical
    /// correlations), all via Cholesky factors.
    let gaussianMiOfMatrix (dx: int) (dy: int) (r: float[]) : float * float =
        let d = dx + dy
        if dx < 1 || dy < 1 then invalidArg "dx" (sprintf "dx and dy must be at least 1, got %d and %d." dx dy)
        if isNull r || r.Length <> d * d then
            invalidArg "r" (sprintf "r must hold (dx+dy)² = %d values, got %d." (d * d) (if isNull r then 0 else r.Length))
        let rxx = subMatrix r d 0 0 dx dx
        let ryy = subMatrix r d dx dx dy dy
        let lx = cholesky "x" "the sample covariance of x" rxx dx
        let ly = cholesky "y" "the sample covariance of y" ryy dy
        let l = cholesky "y" "the joint sample covariance of (x, y) (y is an exact linear function of x, or the reverse)" r d
        let mi = 0.5 * (logDetOfCholesky lx dx + logDetOfCholesky ly dy - logDetOfCholesky l d)
        // M = Lx⁻¹ Rxy (dx×dy); C = M Ly⁻ᵀ, i.e. Cᵀ = Ly⁻¹ Mᵀ.
        let m = subMatrix r d 0 dx dx dy
        forwardSolve lx dx m dy
        let mt = Array.init (dy * dx) (fun k -> m.[(k % dx) * dy + k / dx])
        forwardSolve ly dy mt dx
        let sumR2 = mt |> Array.sumBy (fun v -> v * v)
        max mi 0.0, sumR2

    /// The Gaussian/CCA estimator: the MI of a Gaussian with the sample covariance,
    /// −½ Σ log(1 − r_i²) over the canonical correlations r_i, computed as
    /// ½(log det R_xx + log det R_yy − log det R) of the sample correlation matrix (exactly
    /// invariant to per-column affine maps). It sees only linear dependence. StdError: the delta
    /// method under Gaussianity, Var ≈ Σ r_i² / n (canonical correlations are asymptotically
    /// independent with Var r_i ≈ (1 − r_i²)²/n), plus the null-case term dx·dy/(2n²)
    /// (2n·Î ~ χ²(dx·dy) at independence) so that it does not collapse to 0 there. Needs
    /// n > dx + dy rows. No options, no randomness.
    type CcaEstimator(options: EstimatorOptions) =
        do ignore options

        interface IMiEstimator with
            member _.Name = "cca"

            member _.Estimate(x, y, _progress) =
                let watch = Stopwatch.StartNew()
                Data.validate 2 x y
                let n = Array2D.length1 x
                let dx, dy = Array2D.length2 x, Array2D.length2 y
                if n <= dx + dy then
                    invalidArg "x" (sprintf "only %d rows for %d + %d columns; the Gaussian/CCA estimate needs more rows than columns (at least %d)." n dx dy (dx + dy + 1))
                let r = sampleCorrelation x y
                let mi, sumR2 = gaussianMiOfMatrix dx dy r
                let nf = float n
                let se = Math.Sqrt(sumR2 / nf + float (dx * dy) / (2.0 * nf * nf))
                watch.Stop()
                { Estimator = "cca"
                  Estimate = mi
                  StdError = se
                  Seconds = watch.Elapsed.TotalSeconds
                  Variants = [||]
                  Curves = None
                  Pointwise = [||]
                  Interval = None
                  IndependencePValue = nan
                  Settings =
                    Estimation.settings
                        [ "method", box "Gaussian plug-in: -1/2 sum log(1 - r_i^2) via log-determinants of the sample correlation matrix"
                          "covariance", box "sample, n - 1 denominator"
                          "stdError", box "delta method under Gaussianity: sqrt(sum r_i^2 / n + dx*dy / (2 n^2))"
                          "sumSquaredCanonicalCorrelations", box sumR2
                          "n", box n
                          "dimX", box dx
                          "dimY", box dy ] }

    /// The Gaussian/CCA estimator (see CcaEstimator); it has no options of its own.
    let cca (options: EstimatorOptions) : IMiEstimator = CcaEstimator(options) :> IMiEstimator

    // ---------------------------------------------------------------------------------------
    // Benchmark

    /// n samples of the bivariate normal with correlation rho (Box–Muller on System.Random(seed)),
    /// as n×1 arrays (x, y).
    let bivariateNormal (rho: float) (n: int) (seed: int) : float[,] * float[,] =
        if not (rho > -1.0 && rho < 1.0) then invalidArg "rho" (sprintf "rho must lie strictly between -1 and 1, got %g." rho)
        if n < 1 then invalidArg "n" (sprintf "n must be at least 1, got %d." n)
        let rng = Random(seed)
        let gauss () =
            let u1, u2 = 1.0 - rng.NextDouble(), rng.NextDouble()
            Math.Sqrt(-2.0 * Math.Log u1) * Math.Cos(2.0 * Math.PI * u2)
        let x = Array2D.zeroCreate<float> n 1
        let y = Array2D.zeroCreate<float> n 1
        let c = Math.Sqrt(1.0 - rho * rho)
        for i in 0 .. n - 1 do
            let a = gauss ()
            let b = gauss ()
            x.[i, 0] <- a
            y.[i, 0] <- rho * a + c * b
        x, y

    /// A benchmark, not a test: KSG (k = 5) on n samples of the bivariate normal with ρ = 0.75
    /// (true MI −½ log(1 − 0.75²) ≈ 0.4133 nats). Returns (estimate, seconds for the estimate
    /// alone, sampling excluded).
    let benchmarkKsg (n: int) (seed: int) : float * float =
        let x, y = bivariateNormal 0.75 n seed
        let watch = Stopwatch.StartNew()
        let r = (ksg EstimatorOptions.Default).Estimate(x, y, null)
        watch.Stop()
        r.Estimate, watch.Elapsed.TotalSeconds
