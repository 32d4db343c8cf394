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

    /// Per-column mean and standard deviation, fit on the rows given (the training split).
    type Standardizer =
        { Mean: float[]
          Std: float[] }

    /// Fits a standardiser; columns with zero spread keep a unit std so nothing divides by 0.
    let fitStandardizer (t: Tensor) : Standardizer =
        Checks.requireRank "t" 2 t
        use t64 = t.``to`` torch.ScalarType.Float64
        use m = t64.mean([| 0L |])
        use s = t64.std(0L)
        let sd = s.data<float>().ToArray() |> Array.map (fun v -> if v > 0.0 && not (Double.IsNaN v) then v else 1.0)
        { Mean = m.data<float>().ToArray(); Std = sd }

    /// (t − mean) / std, column by column, in t's dtype.
    let standardize (s: Standardizer) (t: Tensor) : Tensor =
        Checks.requireRank "t" 2 t
        if int t.shape.[1] <> s.Mean.Length then
            invalidArg "t" (sprintf "the standardiser was fit on %d columns but t has shape %s." s.Mean.Length (Checks.shapeText t))
        use m = torch.tensor(s.Mean, dtype = t.dtype, device = t.device)
        use sd = torch.tensor(s.Std, dtype = t.dtype, device = t.device)
        use c = t - m
        c / sd
