namespace Mmg.Core

open System
open TorchSharp

/// Paired samples as the core sees them after validation: float32 tensors x [n; dx], y [n; dy].
/// Validation, the train/test split and standardisation (fit on the training rows only).
module Data =
    /// Checks a pair of sample matrices and fails with one line that names what and where:
    /// empty input, unequal row counts, too few rows, NaN/±Inf (row and column), constant columns,
    /// and columns whose standardisation overflows (mean or variance not finite in double, e.g.
    /// values near 1e308). Rows are reported 0-based as in the arrays; columns as X0.., Y0..
    /// (bmi's names).
    let validate (minRows: int) (x: float[,]) (y: float[,]) =
        if isNull x then nullArg "x"
        if isNull y then nullArg "y"
        let nx, ny = Array2D.length1 x, Array2D.length1 y
        let dx, dy = Array2D.length2 x, Array2D.length2 y
        if nx = 0 || dx = 0 then invalidArg "x" (sprintf "x is empty (%d rows, %d columns); it needs at least one column and %d rows." nx dx minRows)
        if ny = 0 || dy = 0 then invalidArg "y" (sprintf "y is empty (%d rows, %d columns); it needs at least one column and %d rows." ny dy minRows)
        if nx <> ny then invalidArg "y" (sprintf "x has %d rows but y has %d; every sample needs both an x and a y." nx ny)
        if nx < minRows then
            invalidArg "x" (sprintf "only %d rows; this estimator needs at least %d (lower the batch size or give more samples)." nx minRows)
        let check (name: string) (m: float[,]) =
            for i in 0 .. Array2D.length1 m - 1 do
                for j in 0 .. Array2D.length2 m - 1 do
                    let v = m.[i, j]
                    if Double.IsNaN v || Double.IsInfinity v then
                        invalidArg name (sprintf "%s%d has the non-finite value %g in row %d; remove or impute it." (name.ToUpperInvariant()) j v i)
            for j in 0 .. Array2D.length2 m - 1 do
                let first = m.[0, j]
                let mutable constant = true
                let mutable i = 1
                while constant && i < Array2D.length1 m do
                    if m.[i, j] <> first then constant <- false
                    i <- i + 1
                if constant then
                    invalidArg name (sprintf "column %s%d is constant (every value is %g); it carries no information, drop it." (name.ToUpperInvariant()) j first)
                let n = Array2D.length1 m
                let mutable sum = 0.0
                let mutable big, bigRow = 0.0, 0
                for i in 0 .. n - 1 do
                    sum <- sum + m.[i, j]
                    if abs m.[i, j] > big then
                        big <- abs m.[i, j]
                        bigRow <- i
                let mean = sum / float n
                let mutable ss = 0.0
                for i in 0 .. n - 1 do
                    let d = m.[i, j] - mean
                    ss <- ss + d * d
                if not (Double.IsFinite mean && Double.IsFinite ss) then
                    invalidArg name (sprintf "column %s%d cannot be standardised: its values are too large (%g in row %d), so its mean or variance overflows; rescale the column (e.g. divide it by a power of 10)." (name.ToUpperInvariant()) j m.[bigRow, j] bigRow)
        check "x" x
        check "y" y

    /// A float32 [rows; cols] tensor of a 2-D array.
    /// Values beyond float32's range (|v| > 3.4e38) are refused: they would become ±∞.
    let toTensor (m: float[,]) : Tensor =
        let r, c = Array2D.length1 m, Array2D.length2 m
        for i in 0 .. r - 1 do
            for j in 0 .. c - 1 do
                if abs m.[i, j] > float Single.MaxValue then
                    invalidArg "m" (sprintf "the value %g (column %d) is beyond the float32 range (±3.4e38) in which the networks train; rescale the column." m.[i, j] j)
        let flat = Array.init (r * c) (fun k -> float32 m.[k / c, k % c])
        use t = torch.tensor(flat, dtype = torch.ScalarType.Float32)
        t.reshape(int64 r, int64 c)

    /// A 2-D array of a [rows; cols] tensor.
    let toArray2D (t: Tensor) : float[,] =
        Checks.requireRank "t" 2 t
        use c = t.``to``(torch.ScalarType.Float64).cpu().contiguous ()
        let r, k = int t.shape.[0], int t.shape.[1]
        let flat = c.data<float>().ToArray()
        Array2D.init r k (fun i j -> flat.[i * k + j])

    /// A random permutation of 0..n−1 drawn from rng (Fisher–Yates).
    let shuffle (rng: Random) (n: int) : int[] =
        let perm = Array.init n id
        for i in n - 1 .. -1 .. 1 do
            let j = rng.Next(i + 1)
            let t = perm.[i]
            perm.[i] <- perm.[j]
            perm.[j] <- t
        perm

    /// A seeded random permutation of 0..n−1 (Fisher–Yates with System.Random(seed)).
    let permutation (seed: int) (n: int) : int[] = shuffle (Random seed) n

    /// The mean of v and its standard error, the sample standard deviation (n − 1) over √n;
    /// NaN standard error for fewer than two values.
    let meanAndStdError (v: float[]) =
        let m = Array.average v
        let ss = v |> Array.sumBy (fun t -> (t - m) * (t - m))
        m, (if v.Length > 1 then Math.Sqrt(ss / float (v.Length - 1) / float v.Length) else nan)

    /// A seeded random permutation of 0..n−1 split into (train, test) index arrays; the test part
    /// has round(n·testFraction) rows, at least 1 and at most n − 1.
    let split (seed: int) (testFraction: float) (n: int) : int[] * int[] =
        if not (testFraction > 0.0 && testFraction < 1.0) then
            invalidArg "testFraction" (sprintf "testFraction must lie strictly between 0 and 1, got %g." testFraction)
        if n < 2 then invalidArg "n" (sprintf "a train/test split needs at least 2 rows, got %d." n)
        let perm = permutation seed n
        let nTest = min (n - 1) (max 1 (int (Math.Round(float n * testFraction))))
        perm.[nTest..], perm.[.. nTest - 1]

    /// The rows 0..n−1 in `k` seeded random folds of (nearly) equal size, each sorted; every
    /// row is in exactly one fold.
    let folds (seed: int) (k: int) (n: int) : int[][] =
        if k < 2 || k > n then invalidArg "k" (sprintf "cross-fitting needs 2 ≤ folds ≤ rows, got %d folds for %d rows." k n)
        let perm = permutation seed n
        Array.init k (fun f -> perm |> Array.indexed |> Array.filter (fun (i, _) -> i % k = f) |> Array.map snd |> Array.sort)

    /// Rows of a tensor by index.
    let rows (index: int[]) (t: Tensor) : Tensor =
        use idx = torch.tensor(index |> Array.map int64)
        t.index_select (0L, idx)

    /// A strictly increasing, continuous map of one column to normal scores, fit on the training
    /// rows: piecewise linear through `Knots` (training values, increasing) → `Scores` (Φ⁻¹ of
    /// their mid-ranks), and beyond the end knots z_end ± log(1 + m·|v − v_end|) with m the end
    /// slope, so the map stays injective and far outliers stay moderate. An injective map of X
    /// (or of Y) leaves I(X;Y) unchanged, so the estimator's target is the same while heavy
    /// tails, bounded columns and monotone warps (Φ, cubes, asinh) reach the network as Gaussian
    /// marginals. Empty knots: the identity.
    type MarginalScores =
        { Knots: float[]
          Scores: float[] }

    /// The normal-scores map of a column (at most `maxKnots` knots, evenly spaced in rank among
    /// the distinct values, first and last always kept).
    let fitMarginalScores (maxKnots: int) (column: float[]) : MarginalScores =
        if maxKnots < 2 then invalidArg "maxKnots" (sprintf "a marginal map needs at least 2 knots, got %d." maxKnots)
        let sorted = Array.sort column
        let n = sorted.Length
        // distinct values with the mean 0-based rank of their ties
        let values, ranks = ResizeArray<float>(), ResizeArray<float>()
        let mutable i = 0
        while i < n do
            let mutable j = i
            while j + 1 < n && sorted.[j + 1] = sorted.[i] do j <- j + 1
            values.Add sorted.[i]
            ranks.Add(0.5 * float (i + j))
            i <- j + 1
        if values.Count < 2 then { Knots = [||]; Scores = [||] }
        else
            let m = values.Count
            let k = min maxKnots m
            let picks = Array.init k (fun t -> int (Math.Round(float t * float (m - 1) / float (k - 1)))) |> Array.distinct
            let z r = MathNet.Numerics.Distributions.Normal.InvCDF(0.0, 1.0, (r + 0.5) / float n)
            { Knots = picks |> Array.map (fun t -> values.[t]); Scores = picks |> Array.map (fun t -> z ranks.[t]) }

    /// The map as a function (see MarginalScores); its end slopes are computed once.
    let marginalScorer (s: MarginalScores) : float -> float =
        let k = s.Knots
        let last = k.Length - 1
        if last < 1 then id
        else
            // end slopes over (up to) the last 8 segments: smoother than one segment's
            let span = min 8 last
            let loSlope = (s.Scores.[span] - s.Scores.[0]) / (k.[span] - k.[0])
            let hiSlope = (s.Scores.[last] - s.Scores.[last - span]) / (k.[last] - k.[last - span])
            fun v ->
                if v <= k.[0] then s.Scores.[0] - Math.Log(1.0 + loSlope * (k.[0] - v))
                elif v >= k.[last] then s.Scores.[last] + Math.Log(1.0 + hiSlope * (v - k.[last]))
                else
                    let mutable lo, hi = 0, last
                    while hi - lo > 1 do
                        let mid = (lo + hi) / 2
                        if k.[mid] <= v then lo <- mid else hi <- mid
                    let w = (v - k.[lo]) / (k.[hi] - k.[lo])
                    s.Scores.[lo] + w * (s.Scores.[hi] - s.Scores.[lo])

    /// The map applied to one value (see MarginalScores).
    let marginalScore (s: MarginalScores) (v: float) = marginalScorer s v

    /// Per-column normal-scores maps (none: `[||]`) and then mean and standard deviation, fit on
    /// the rows given (the training split).
    type Standardizer =
        { Mean: float[]
          Std: float[]
          /// One map per column, or empty for none (MarginalScores).
          Marginals: MarginalScores[] }

    // a tensor's values as float64, row-major (no tensor the caller holds is disposed: `to` and
    // `cpu` may return their receiver)
    let private valuesOf (t: Tensor) : float[] =
        let on = if t.device_type = DeviceType.CPU then t.alias () else t.cpu ()
        use on = on
        let as64 = if on.dtype = torch.ScalarType.Float64 then on.alias () else on.``to`` torch.ScalarType.Float64
        use as64 = as64
        as64.data<float>().ToArray()

    /// The columns of a float tensor through per-column normal-scores maps (float64 on the CPU;
    /// returns a new tensor of t's dtype on t's device).
    let private applyMarginalsTo (maps: MarginalScores[]) (v: float[]) (t: Tensor) : Tensor =
        let cols = maps.Length
        let scorers = maps |> Array.map marginalScorer
        let out = v |> Array.mapi (fun i x -> scorers.[i % cols] x)
        use r = torch.tensor(out, dtype = t.dtype, device = t.device)
        r.reshape(t.shape.[0], t.shape.[1])

    let private applyMarginals (maps: MarginalScores[]) (t: Tensor) : Tensor = applyMarginalsTo maps (valuesOf t) t

    /// The shape statistics of a column that decide whether it gets normal scores under the
    /// `auto` choice (needsNormalScores), both 1 for a Gaussian column:
    /// `Tail` = (q₉₉ − q₀₁) / (q₇₅ − q₂₅) relative to the Gaussian's 3.449 (a uniform column
    /// 0.58, a two-component mixture ≈ 0.6, Student-t with 2 degrees of freedom ≈ 2.4, Cauchy ≈ 9;
    /// quantiles, so a few extreme rows do not move it), and `Squeeze` = standard deviation /
    /// (IQR / 1.349), how much a few extreme rows inflate the standardisation's scale over the
    /// bulk's (Student-t 2 d.f. 2–9 on 8 000 rows, Cauchy 20–160); `Skew` = (q₉₀ + q₁₀ − 2 q₅₀) /
    /// (q₉₀ − q₁₀), Kelly's quantile skewness (0 for a symmetric column, 0.47 for an exponential,
    /// 0.57 for a log-normal with σ = 1). NaN when the IQR is 0.
    type ColumnShape = { Tail: float; Squeeze: float; Skew: float }

    let private quantileOfSorted (s: float[]) (p: float) =
        let h = p * float (s.Length - 1)
        let i = int h
        if i + 1 < s.Length then s.[i] + (h - float i) * (s.[i + 1] - s.[i]) else s.[i]

    /// The shape statistics of a column (ColumnShape).
    let columnShape (column: float[]) : ColumnShape =
        if column.Length < 2 then { Tail = nan; Squeeze = nan; Skew = nan }
        else
            let s = Array.sort column
            let q = quantileOfSorted s
            let iqr = q 0.75 - q 0.25
            let zq p = MathNet.Numerics.Distributions.Normal.InvCDF(0.0, 1.0, p)
            let gaussIqr = zq 0.75 - zq 0.25
            if not (iqr > 0.0) then { Tail = nan; Squeeze = nan; Skew = nan }
            else
                let mean = Array.average column
                let sd = sqrt (column |> Array.averageBy (fun v -> (v - mean) * (v - mean)))
                { Tail = (q 0.99 - q 0.01) / iqr / ((zq 0.99 - zq 0.01) / gaussIqr)
                  Squeeze = sd / (iqr / gaussIqr)
                  Skew = (q 0.9 + q 0.1 - 2.0 * q 0.5) / (q 0.9 - q 0.1) }

    /// Tail below this (ColumnShape): a light-tailed, bounded or multimodal column: mapped by `auto`.
    /// On n rows the bound is lowered to 1 − 6/√n when that is lower: four standard deviations of a
    /// Gaussian column's Tail (≈ 1.5/√n, measured), so that a Gaussian column of a few hundred rows
    /// is not mapped by chance.
    let LightTail = 0.9
    /// Squeeze above this (ColumnShape): a column whose standard deviation is set by a few extreme
    /// rows (the bulk would sit within ±0.05 after standardising): mapped by `auto`.
    let ExtremeSqueeze = 15.0
    /// |Skew| above this (ColumnShape): a skewed column, e.g. a monotone warp of a symmetric one
    /// (exp, a power): mapped by `auto`. On n rows raised to 4.2/√n when that is higher (four
    /// standard deviations of a Gaussian column's Skew, ≈ 1.05/√n).
    let Skewed = 0.2

    /// The `auto` choice of normal scores for a column: map it when the plain standardisation
    /// misrepresents its bulk — light or bounded tails (Tail < LightTail), a scale set by a few
    /// extreme rows (Squeeze > ExtremeSqueeze) or a skewed bulk (|Skew| > Skewed) — and leave
    /// Gaussian-like and moderately heavy, symmetric tails (Student-t with 2+ d.f., the
    /// half-cube) as they are, where the maps cost accuracy (docs/accuracy.md, ninth round). The
    /// bounds allow for the sampling error of a Gaussian column's shape on few rows (LightTail,
    /// Skewed). A column with IQR 0 is left as it is.
    let needsNormalScores (column: float[]) : bool =
        let s = columnShape column
        let root = sqrt (float column.Length)
        s.Tail < min LightTail (1.0 - 6.0 / root) || s.Squeeze > ExtremeSqueeze || abs s.Skew > max Skewed (4.2 / root)

    /// Fits a standardiser with normal-scores maps of at most `knots` knots (knots > 0) on the
    /// columns `pick` selects (the others keep the identity; none picked: no maps at all);
    /// columns with zero spread keep a unit std so nothing divides by 0.
    let fitStandardizerPicking (knots: int) (pick: float[] -> bool) (t: Tensor) : Standardizer =
        Checks.requireRank "t" 2 t
        use t64 = t.``to`` torch.ScalarType.Float64
        // the values are read once: to choose and fit the maps and to apply them (a block with
        // no columns, e.g. an empty z, has nothing to map)
        let marginals, mapped =
            if knots <= 0 || t.shape.[1] = 0L || t.shape.[0] = 0L then [||], t64.alias ()
            else
                let v = valuesOf t64
                let cols = int t.shape.[1]
                let column j = Array.init (int t.shape.[0]) (fun i -> v.[i * cols + j])
                let maps =
                    Array.init cols (fun j ->
                        let c = column j
                        if pick c then fitMarginalScores knots c else { Knots = [||]; Scores = [||] })
                if maps |> Array.forall (fun m -> m.Knots.Length = 0) then [||], t64.alias ()
                else maps, applyMarginalsTo maps v t64
        use mapped = mapped
        use m = mapped.mean([| 0L |])
        use s = mapped.std(0L)
        let sd = s.data<float>().ToArray() |> Array.map (fun v -> if v > 0.0 && not (Double.IsNaN v) then v else 1.0)
        { Mean = m.data<float>().ToArray(); Std = sd; Marginals = marginals }

    /// Fits a standardiser with normal-scores maps of at most `knots` knots on every column
    /// (knots > 0) or none (knots ≤ 0).
    let fitStandardizerWith (knots: int) (t: Tensor) : Standardizer = fitStandardizerPicking knots (fun _ -> true) t

    /// Fits a standardiser (mean and standard deviation only).
    let fitStandardizer (t: Tensor) : Standardizer = fitStandardizerWith 0 t

    /// (map(t) − mean) / std, column by column, in t's dtype.
    let standardize (s: Standardizer) (t: Tensor) : Tensor =
        Checks.requireRank "t" 2 t
        if int t.shape.[1] <> s.Mean.Length then
            invalidArg "t" (sprintf "the standardiser was fit on %d columns but t has shape %s." s.Mean.Length (Checks.shapeText t))
        use mapped = if s.Marginals.Length = 0 then t.alias () else applyMarginals s.Marginals t
        use m = torch.tensor(s.Mean, dtype = t.dtype, device = t.device)
        use sd = torch.tensor(s.Std, dtype = t.dtype, device = t.device)
        use c = mapped - m
        c / sd
