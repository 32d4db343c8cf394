namespace Mmg.Core

// FS0009: NativePtr.stackalloc (the search stacks of KdSearch live on the thread's stack).
#nowarn "9"

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.Globalization
open System.Threading.Tasks
open Microsoft.FSharp.NativeInterop

/// Neighbour counts behind one KSG-1 estimate, indexed by row: Epsilon.[i] is the max-norm
/// distance from row i to its k-th nearest other row in the joint (x, y) space; CountX.[i] and
/// CountY.[i] are the numbers of other rows strictly closer than Epsilon.[i] in x alone and in
/// y alone.
type NeighbourCounts =
    { K: int
      Epsilon: float[]
      CountX: int[]
      CountY: int[] }

/// The flat arrays of a MaxNormKdTree, in tree order: node b's box is Lo/Hi.[b·Dim ..
/// b·Dim + Dim − 1] and its points are tree positions Start.[b] .. End.[b] − 1; Left.[b] < 0
/// marks a leaf; Perm.[p] is the original row of tree position p and Pts its coordinates
/// (row-major); Depth is the number of levels below the root.
[<NoEquality; NoComparison>]
type internal KdLayout =
    { Dim: int
      Lo: float[]
      Hi: float[]
      Left: int[]
      Right: int[]
      Start: int[]
      End: int[]
      Perm: int[]
      Pts: float[]
      Depth: int }

/// The two searches of MaxNormKdTree as inline functions with an explicit stack, so that a
/// caller's loop over all query rows holds the whole search in one method, compiled with full
/// optimisation at its first call. That matters for a one-shot estimate: .NET first runs a
/// method unoptimised (tier 0) and optimises it only after about 30 calls and a 100 ms pause, or,
/// inside one long-running call, by on-stack replacement after some 10⁴ loop iterations; a small
/// search method called once per row therefore stays unoptimised for most of an estimate. A
/// method with loops that allocates on the stack (stackalloc, as the callers here do for the
/// search stack) is compiled optimised straight away, since on-stack replacement cannot handle
/// stack allocation. (F# does not emit MethodImplOptions.AggressiveOptimization, which would
/// otherwise be the way to ask for that.)
module internal KdSearch =
    /// Max-norm distance from the query (q.[qo .. qo+dim−1]) to node b's box; 0 inside it.
    let inline boxDistance (t: KdLayout) (node: int) (q: float[]) (qo: int) =
        let dim = t.Dim
        let lo = t.Lo
        let hi = t.Hi
        let b = node * dim
        let mutable d = 0.0
        for j in 0 .. dim - 1 do
            let v = q.[qo + j]
            let l = lo.[b + j]
            let h = hi.[b + j]
            let g = if v < l then l - v elif v > h then v - h else 0.0
            if g > d then d <- g
        d

    /// The k smallest max-norm distances from the query to the points other than row `self`
    /// (−1: none excluded), sorted ascending into best.[0 .. k−1]; returns how many were found.
    /// stack and stackDist hold at least Depth + 2 values (scratch; enough, since each level
    /// above the current node leaves at most one sibling pending and a node pushes two children).
    let inline nearest (t: KdLayout) (q: float[]) (qo: int) (self: int) (best: float[]) (k: int) (stack: Span<int>) (stackDist: Span<float>) : int =
        let dim = t.Dim
        let left = t.Left
        let right = t.Right
        let starts = t.Start
        let ends = t.End
        let perm = t.Perm
        let pts = t.Pts
        let mutable filled = 0
        let mutable sp = 1
        stack.[0] <- 0
        stackDist.[0] <- boxDistance t 0 q qo
        while sp > 0 do
            sp <- sp - 1
            let node = stack.[sp]
            // a box no closer than the current k-th distance cannot improve it
            if filled < k || stackDist.[sp] < best.[k - 1] then
                let l = left.[node]
                if l < 0 then
                    for p in starts.[node] .. ends.[node] - 1 do
                        if perm.[p] <> self then
                            let b = p * dim
                            let mutable d = 0.0
                            for j in 0 .. dim - 1 do
                                let g = Math.Abs(pts.[b + j] - q.[qo + j])
                                if g > d then d <- g
                            if filled < k || d < best.[k - 1] then
                                // insertion into the sorted prefix
                                let mutable i = (if filled < k then filled else k - 1)
                                while i > 0 && best.[i - 1] > d do
                                    best.[i] <- best.[i - 1]
                                    i <- i - 1
                                best.[i] <- d
                                if filled < k then filled <- filled + 1
                else
                    // the nearer child is popped (visited) first
                    let r = right.[node]
                    let dl = boxDistance t l q qo
                    let dr = boxDistance t r q qo
                    if dl <= dr then
                        stack.[sp] <- r
                        stackDist.[sp] <- dr
                        stack.[sp + 1] <- l
                        stackDist.[sp + 1] <- dl
                    else
                        stack.[sp] <- l
                        stackDist.[sp] <- dl
                        stack.[sp + 1] <- r
                        stackDist.[sp + 1] <- dr
                    sp <- sp + 2
        filled

    /// The number of points (the query's own row included, if it is in the tree) at max-norm
    /// distance strictly less than radius. stack holds at least Depth + 2 values (scratch).
    /// Its traversal repeats nearest's on purpose: both are the KSG inner loops, inline and
    /// closure-free over Span scratch; a shared traversal taking the per-node work as a function
    /// would add an indirect call per visited node.
    let inline countWithin (t: KdLayout) (q: float[]) (qo: int) (radius: float) (stack: Span<int>) : int =
        let dim = t.Dim
        let lo = t.Lo
        let hi = t.Hi
        let left = t.Left
        let starts = t.Start
        let ends = t.End
        let pts = t.Pts
        let mutable c = 0
        let mutable sp = 1
        stack.[0] <- 0
        while sp > 0 do
            sp <- sp - 1
            let node = stack.[sp]
            // nearest and farthest max-norm distance from the query to the node's box
            let b = node * dim
            let mutable near = 0.0
            let mutable far = 0.0
            for j in 0 .. dim - 1 do
                let v = q.[qo + j]
                let l = lo.[b + j]
                let h = hi.[b + j]
                let g = if v < l then l - v elif v > h then v - h else 0.0
                if g > near then near <- g
                let f = max (v - l) (h - v)
                if f > far then far <- f
            if near >= radius then ()
            elif far < radius then c <- c + (ends.[node] - starts.[node])
            else
                let l = left.[node]
                if l < 0 then
                    for p in starts.[node] .. ends.[node] - 1 do
                        let pb = p * dim
                        let mutable d = 0.0
                        for j in 0 .. dim - 1 do
                            let g = abs (pts.[pb + j] - q.[qo + j])
                            if g > d then d <- g
                        if d < radius then c <- c + 1
                else
                    stack.[sp] <- t.Right.[node]
                    stack.[sp + 1] <- l
                    sp <- sp + 2
        c

/// An exact k-d tree over n points of dimension d (a flat row-major array), queried in the
/// max-norm. Nodes carry the tight bounding box of their points, so both pruning tests below
/// (a box cannot hold anything closer; a box lies entirely inside the radius) compare the same
/// rounded coordinate differences a brute-force scan would compute: results are exact, not
/// approximate. Hand-written: MathNet.Numerics has no neighbour search, and KSG needs exact
/// max-norm counts at the measured speed of docs/estimators-classical.md (quickselect splits).
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
    let mutable depth = 0

    let build () =
        let keys = Array.zeroCreate<float> n
        let rec node (s: int) (e: int) (level: int) : int =
            let id = starts.Count
            if level > depth then depth <- level
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
                let mid = s + (e - s) / 2
                // Partial sort (quickselect): keys[s..mid−1] ≤ keys[mid] ≤ keys[mid+1..e−1]; the
                // split only needs the median in place, which is O(n) instead of a full sort.
                let mutable lo = s
                let mutable hi = e - 1
                while lo < hi do
                    // three-way partition around the middle key (ties stay O(n)):
                    // [lo, lt) < pivot, [lt, gt] = pivot, (gt, hi] > pivot
                    let pivot = keys.[lo + (hi - lo) / 2]
                    let mutable lt = lo
                    let mutable gt = hi
                    let mutable p = lo
                    while p <= gt do
                        let kp = keys.[p]
                        if kp < pivot then
                            keys.[p] <- keys.[lt]
                            keys.[lt] <- kp
                            let u = perm.[p]
                            perm.[p] <- perm.[lt]
                            perm.[lt] <- u
                            lt <- lt + 1
                            p <- p + 1
                        elif kp > pivot then
                            keys.[p] <- keys.[gt]
                            keys.[gt] <- kp
                            let u = perm.[p]
                            perm.[p] <- perm.[gt]
                            perm.[gt] <- u
                            gt <- gt - 1
                        else p <- p + 1
                    if mid < lt then hi <- lt - 1
                    elif mid > gt then lo <- gt + 1
                    else lo <- hi
                let l = node s mid (level + 1)
                let r = node mid e (level + 1)
                lefts.[id] <- l
                rights.[id] <- r
            id
        node 0 n 0 |> ignore

    do build ()

    let layout =
        let pts = Array.zeroCreate<float> (n * dim)
        for p in 0 .. n - 1 do
            Array.blit data (perm.[p] * dim) pts (p * dim) dim
        { Dim = dim
          Lo = los.ToArray()
          Hi = his.ToArray()
          Left = lefts.ToArray()
          Right = rights.ToArray()
          Start = starts.ToArray()
          End = ends.ToArray()
          Perm = perm
          Pts = pts
          Depth = depth }

    member _.Count = n
    member _.Dim = dim

    /// The flat arrays, for the row loops of Classical (KdSearch).
    member internal _.Layout = layout

    /// The k smallest max-norm distances from the query to the points other than row `self`
    /// (pass −1 to exclude none), written sorted ascending into best.[0 .. k−1]; returns how
    /// many were found (k unless the tree holds fewer points).
    member _.Nearest(q: float[], qo: int, self: int, best: float[], k: int) : int =
        if k < 1 || isNull best || best.Length < k then
            invalidArg "k" (sprintf "k must be at least 1 and best must hold k values; got k = %d and %d values." k (if isNull best then 0 else best.Length))
        // the search stacks (see KdSearch); stackalloc stays in this method, never in a helper
        let m = depth + 2
        let stack = Span<int>(NativePtr.toVoidPtr (NativePtr.stackalloc<int> m), m)
        let stackDist = Span<float>(NativePtr.toVoidPtr (NativePtr.stackalloc<float> m), m)
        KdSearch.nearest layout q qo self best k stack stackDist

    /// The number of points (the query's own row included, if it is in the tree) at max-norm
    /// distance strictly less than radius.
    member _.CountWithin(q: float[], qo: int, radius: float) : int =
        let m = depth + 2
        let stack = Span<int>(NativePtr.toVoidPtr (NativePtr.stackalloc<int> m), m)
        KdSearch.countWithin layout q qo radius stack

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

    /// Sorts a in place, ascending (for arrays without NaN, the same values as Array.Sort). A
    /// heapsort: one method whose loops are optimised after a few hundred iterations by on-stack
    /// replacement, where Array.Sort's recursive helpers run unoptimised for a whole one-shot
    /// estimate (a cold 10 000-value Array.Sort took 10–40 ms here; see KdSearch).
    let private sortInPlace (a: float[]) =
        let n = a.Length
        // sift v down from position root within a.[0 .. size−1]
        let mutable size = n
        let mutable next = n / 2 - 1
        let mutable v = 0.0
        let mutable root = 0
        // first heapify (next ≥ 0), then move the maximum to the end, one position at a time
        while size > 1 do
            if next >= 0 then
                root <- next
                v <- a.[root]
                next <- next - 1
            else
                size <- size - 1
                v <- a.[size]
                a.[size] <- a.[0]
                root <- 0
            let mutable sifting = true
            while sifting do
                let mutable child = 2 * root + 1
                if child >= size then sifting <- false
                else
                    if child + 1 < size && a.[child + 1] > a.[child] then child <- child + 1
                    if a.[child] > v then
                        a.[root] <- a.[child]
                        root <- child
                    else sifting <- false
            a.[root] <- v

    /// The number of values v_j in the ascending array s with abs(v − v_j) < r, exactly as a scan
    /// computes it: fl(v − v_j) = −fl(v_j − v), and fl(v_j − v) is non-decreasing in v_j, so the
    /// rows that pass form one run of s, found by two binary searches on that same predicate.
    /// Inline, so that it runs inside the caller's loop over rows (see KdSearch).
    let inline private countSorted (s: float[]) (v: float) (r: float) =
        if not (r > 0.0) then 0
        else
            // a: first j with fl(s_j − v) > −r; b: first j with fl(s_j − v) ≥ r (both predicates are
            // false then true along s).
            let mutable lo = 0
            let mutable hi = s.Length
            while lo < hi do
                let mid = (lo + hi) >>> 1
                if s.[mid] - v > -r then hi <- mid else lo <- mid + 1
            let a = lo
            hi <- s.Length
            while lo < hi do
                let mid = (lo + hi) >>> 1
                if s.[mid] - v >= r then hi <- mid else lo <- mid + 1
            lo - a

    /// The k-th-neighbour distances of rows lo .. hi−1 in the joint space, for each k in ks (the
    /// query's own row excluded). One loop over the rows with the search inlined (KdSearch).
    let private jointRows (t: KdLayout) (joint: float[]) (ks: int[]) (kmax: int) (eps: float[][]) (lo: int) (hi: int) =
        let best = Array.zeroCreate<float> kmax
        // the search stacks, on this frame (KdSearch)
        let m = t.Depth + 2
        let stack = Span<int>(NativePtr.toVoidPtr (NativePtr.stackalloc<int> m), m)
        let stackDist = Span<float>(NativePtr.toVoidPtr (NativePtr.stackalloc<float> m), m)
        let dz = t.Dim
        for i in lo .. hi - 1 do
            KdSearch.nearest t joint (i * dz) i best kmax stack stackDist |> ignore
            for a in 0 .. ks.Length - 1 do
                eps.[a].[i] <- best.[ks.[a] - 1]

    /// Strict max-norm range counts in one marginal space (values v, row-major n×d) for rows
    /// lo .. hi−1 at radius eps.[i], the row itself left out: binary search in the sorted values
    /// when d = 1 (sorted non-null; several times faster than a tree), the k-d tree otherwise.
    /// Both equal a brute-force scan exactly.
    let private marginalRows (sorted: float[]) (tree: KdLayout) (v: float[]) (d: int) (eps: float[]) (counts: int[]) (lo: int) (hi: int) =
        if not (isNull sorted) then
            for i in lo .. hi - 1 do
                let e = eps.[i]
                // the range counts include row i itself whenever e > 0 (its distance 0 < e)
                counts.[i] <- countSorted sorted v.[i] e - (if e > 0.0 then 1 else 0)
        else
            let m = tree.Depth + 2
            let stack = Span<int>(NativePtr.toVoidPtr (NativePtr.stackalloc<int> m), m)
            for i in lo .. hi - 1 do
                let e = eps.[i]
                counts.[i] <- KdSearch.countWithin tree v (i * d) e stack - (if e > 0.0 then 1 else 0)

    /// Neighbour counts on already-prepared row-major data (x: n×dx, y: n×dy), for each k in ks:
    /// one k-d tree in the joint space (kNN distance, the query's own row excluded) and, in each
    /// marginal space, strict range counts (sorted values in one dimension, a k-d tree in more).
    /// Rows run on `threads` threads (1: plain loops); the result does not depend on it.
    let private countsFlat (threads: int) (n: int) (xs: float[]) (dx: int) (ys: float[]) (dy: int) (ks: int[]) : NeighbourCounts[] =
        let joint = concatRows n xs dx ys dy
        let tz = MaxNormKdTree(joint, dx + dy).Layout
        let marginal (v: float[]) (d: int) =
            if d = 1 then
                let s = Array.copy v
                sortInPlace s
                s, Unchecked.defaultof<KdLayout>
            else null, MaxNormKdTree(v, d).Layout
        let sx, tx = marginal xs dx
        let sy, ty = marginal ys dy
        let kmax = Array.max ks
        let eps = Array.init ks.Length (fun _ -> Array.zeroCreate<float> n)
        let cx = Array.init ks.Length (fun _ -> Array.zeroCreate<int> n)
        let cy = Array.init ks.Length (fun _ -> Array.zeroCreate<int> n)
        let rowsIn (lo: int, hi: int) =
            jointRows tz joint ks kmax eps lo hi
            for a in 0 .. ks.Length - 1 do
                marginalRows sx tx xs dx eps.[a] cx.[a] lo hi
                marginalRows sy ty ys dy eps.[a] cy.[a] lo hi
        if threads <= 1 then rowsIn (0, n)
        else
            let chunk = max 64 (n / (8 * threads))
            Parallel.ForEach(Partitioner.Create(0, n, chunk), ParallelOptions(MaxDegreeOfParallelism = threads), Action<int * int>(rowsIn))
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
        (countsFlat 1 n xs (Array2D.length2 x) ys (Array2D.length2 y) [| k |]).[0]

    /// A column is treated as discrete when it has at most this many distinct values and each
    /// value repeats, on average, at least DiscreteMinRepeats times.
    [<Literal>]
    let DiscreteMaxValues = 20

    /// See DiscreteMaxValues.
    [<Literal>]
    let DiscreteMinRepeats = 5

    /// Relative size of the tie-breaking jitter (scikit-learn's choice): each prepared column
    /// gets JitterScale · max(1, mean |value|) · N(0, 1), in units of its robust scale.
    [<Literal>]
    let JitterScale = 1e-10

    /// A k-th-neighbour distance at most this many jitter amplitudes counts as zero (a tie in the
    /// data): two jittered copies of one value differ by a few amplitudes, real neighbours are
    /// 10⁶ and more amplitudes apart in anything short of 10⁷ rows.
    [<Literal>]
    let TieRadiusInJitters = 1000.0

    /// Above this share of rows whose k-th-neighbour distance is zero, KSG warns.
    [<Literal>]
    let TieShareWarning = 0.05

    /// Linear-interpolation quantile of an ascending array (numpy's default, Hyndman–Fan type 7).
    let private quantileSorted (s: float[]) (p: float) =
        MathNet.Numerics.Statistics.SortedArrayStatistics.QuantileCustom(s, p, MathNet.Numerics.Statistics.QuantileDefinition.R7)

    /// Robust location and scale of a column: the median, and IQR/1.349 (equal to the standard
    /// deviation for a normal column), else 1.4826·MAD, else the sample standard deviation when
    /// more than half the values coincide. Returns (center, scale, method, distinct values).
    let robustScale (column: float[]) : float * float * string * int =
        let s = Array.copy column
        sortInPlace s
        let mutable distinct = if s.Length > 0 then 1 else 0
        for i in 1 .. s.Length - 1 do
            if s.[i] <> s.[i - 1] then distinct <- distinct + 1
        let median = quantileSorted s 0.5
        let iqr = quantileSorted s 0.75 - quantileSorted s 0.25
        if iqr > 0.0 then median, iqr / 1.3489795003921634, "IQR/1.349", distinct
        else
            let dev = column |> Array.map (fun v -> abs (v - median)) |> Array.sort
            let mad = quantileSorted dev 0.5
            if mad > 0.0 then median, 1.482602218505602 * mad, "1.4826*MAD", distinct
            else
                let mean = Array.average column
                let sd = Math.Sqrt((column |> Array.sumBy (fun v -> (v - mean) * (v - mean))) / float (max 1 (column.Length - 1)))
                median, (if sd > 0.0 then sd else 1.0), "sd", distinct

    /// KSG's input after preparation (see prepareKsg): row-major prepared columns and what was
    /// done to them.
    type KsgData =
        { /// Rows used (after dropping whole-row duplicates, if any).
          N: int
          Dx: int
          Dy: int
          /// Prepared x, row-major n×dx: (value − median)/robust scale + seeded jitter.
          X: float[]
          /// Prepared y, row-major n×dy.
          Y: float[]
          /// Exact duplicate rows dropped (see prepareKsg).
          DuplicatesDropped: int
          /// Rows that repeat another row exactly and were kept.
          DuplicatesKept: int
          /// Distinct values per column, x columns then y columns (before dropping duplicates).
          Distinct: int[]
          /// Names of the columns treated as discrete (X0, Y1, ...).
          DiscreteColumns: string[]
          /// Scaling method per column.
          Scaling: string[]
          /// The largest jitter amplitude (JitterScale · max(1, mean |value|)) over the columns.
          MaxJitter: float }

    /// Row indices of the exact-duplicate structure of the joint rows: (distinct joint rows,
    /// distinct x rows, distinct y rows, indices of the first occurrence of each joint row in
    /// input order).
    let private duplicateStructure (x: float[,]) (y: float[,]) =
        let n = Array2D.length1 x
        let dx, dy = Array2D.length2 x, Array2D.length2 y
        let compareRows (cols: (int -> int -> int) list) =
            Comparison<int>(fun a b ->
                let mutable c = 0
                let mutable rest = cols
                while c = 0 && not rest.IsEmpty do
                    c <- rest.Head a b
                    rest <- rest.Tail
                if c = 0 then compare a b else c)
        let colX j = fun a b -> compare x.[a, j] x.[b, j]
        let colY j = fun a b -> compare y.[a, j] y.[b, j]
        let xs = [ for j in 0 .. dx - 1 -> colX j ]
        let ys = [ for j in 0 .. dy - 1 -> colY j ]
        let distinctBy (cols: (int -> int -> int) list) =
            let idx = Array.init n id
            Array.Sort(idx, compareRows cols)
            let same a b = cols |> List.forall (fun c -> c a b = 0)
            let firsts = ResizeArray<int>()
            for p in 0 .. n - 1 do
                if p = 0 || not (same idx.[p - 1] idx.[p]) then firsts.Add idx.[p]
            firsts.ToArray()
        let joint = distinctBy (xs @ ys)
        let mx = (distinctBy xs).Length
        let my = (distinctBy ys).Length
        Array.sortInPlace joint
        joint.Length, mx, my, joint

    /// Prepares (x, y) for KSG, in this order:
    /// 1. Discrete data are refused (ArgumentException) when every column of x and every column
    ///    of y is discrete (DiscreteMaxValues) unless allow-discrete: KSG assumes densities.
    /// 2. Whole-row duplicates: when some joint rows repeat exactly and every repeated x value and
    ///    y value occurs only inside copies of one joint row (distinct joint rows = distinct x rows
    ///    = distinct y rows), the copies are dropped (drop-duplicates): they say nothing about the
    ///    density, and each copy would sit at distance 0 from its twin and inflate the estimate
    ///    (0.748 instead of 0.413 with every row doubled). Repeats that arise from rounding or a
    ///    discrete column (x values shared between different joint rows) are kept.
    /// 3. Each column is centred on its median and divided by its robust scale (robustScale), so
    ///    one outlier does not squash the other rows together.
    /// 4. Seeded jitter breaks ties reproducibly: JitterScale · max(1, mean |value|) · N(0, 1)
    ///    (System.Random(seed), Box–Muller, x columns then y columns, row-major).
    let prepareKsg (seed: int) (allowDiscrete: bool) (dropDuplicates: bool) (x: float[,]) (y: float[,]) : KsgData =
        Data.validate 2 x y
        let n0 = Array2D.length1 x
        let dx, dy = Array2D.length2 x, Array2D.length2 y
        let column (m: float[,]) j =
            let c = Array.zeroCreate<float> n0
            for i in 0 .. n0 - 1 do
                c.[i] <- m.[i, j]
            c
        // one sort per column: robust scale and distinct count together
        let scalings = Array.append (Array.init dx (fun j -> robustScale (column x j))) (Array.init dy (fun j -> robustScale (column y j)))
        let distinct = scalings |> Array.map (fun (_, _, _, d) -> d)
        let isDiscrete d = d <= DiscreteMaxValues && d * DiscreteMinRepeats <= n0
        let names = Array.append (Array.init dx (fun j -> "X" + string j)) (Array.init dy (fun j -> "Y" + string j))
        let discrete = Array.zip names distinct |> Array.filter (snd >> isDiscrete) |> Array.map fst
        if not allowDiscrete && discrete.Length = dx + dy then
            let listing = String.Join(", ", Array.map2 (fun nm d -> sprintf "%s: %d" nm d) names distinct)
            invalidArg "x" (sprintf "the data look discrete: every column of x and of y has at most %d distinct values, each repeated %d or more times on average (%s). KSG assumes continuous data; on discrete data it reports nonsense (e.g. 9.57 nats for independent columns). Use a plug-in (contingency-table) estimate, or pass option allow-discrete=true (--set allow-discrete=true) to run KSG on the tie-broken data anyway." DiscreteMaxValues DiscreteMinRepeats listing)
        // A column with n distinct values rules out duplicate rows: skip the row sort then.
        let keep, kept =
            if Array.max distinct = n0 then Array.init n0 id, 0
            else
                let m, mx, my, firsts = duplicateStructure x y
                if dropDuplicates && m < n0 && mx = m && my = m then firsts, 0 else Array.init n0 id, n0 - m
        let n = keep.Length
        // The jitter's standard normals in the order they are used (x columns, then y columns,
        // each column's rows in order): Box–Muller on System.Random(seed), both outputs used (cos
        // then sin).
        let normals = Array.zeroCreate<float> (n * (dx + dy))
        let rng = Random(seed)
        let mutable p = 0
        while p < normals.Length do
            let u1, u2 = 1.0 - rng.NextDouble(), rng.NextDouble()
            let r = Math.Sqrt(-2.0 * Math.Log u1)
            normals.[p] <- r * Math.Cos(2.0 * Math.PI * u2)
            if p + 1 < normals.Length then normals.[p + 1] <- r * Math.Sin(2.0 * Math.PI * u2)
            p <- p + 2
        let maxJitter = ref 0.0
        let prepare (src: float[,]) (d: int) (offset: int) =
            let out = Array.zeroCreate<float> (n * d)
            let methods = Array.zeroCreate<string> d
            for j in 0 .. d - 1 do
                let col = if n = n0 then column src j else Array.init n (fun r -> src.[keep.[r], j])
                let center, scale, how, _ = if n = n0 then scalings.[offset + j] else robustScale col
                methods.[j] <- how
                let mutable absSum = 0.0
                for r in 0 .. n - 1 do
                    let v = (col.[r] - center) / scale
                    out.[r * d + j] <- v
                    absSum <- absSum + abs v
                let amp = JitterScale * max 1.0 (absSum / float n)
                maxJitter.Value <- max maxJitter.Value amp
                let g = (offset + j) * n
                for r in 0 .. n - 1 do
                    out.[r * d + j] <- out.[r * d + j] + amp * normals.[g + r]
            out, methods
        let xs, mxs = prepare x dx 0
        let ys, mys = prepare y dy dx
        { N = n; Dx = dx; Dy = dy; X = xs; Y = ys
          DuplicatesDropped = n0 - n
          DuplicatesKept = kept
          Distinct = distinct
          DiscreteColumns = discrete
          Scaling = Array.append mxs mys
          MaxJitter = maxJitter.Value }

    /// KSG-1 neighbour counts on prepared data (prepareKsg), for each k in ks, on one thread.
    let countsOfPrepared (ks: int[]) (data: KsgData) : NeighbourCounts[] =
        requireK data.N (Array.max ks)
        countsFlat 1 data.N data.X data.Dx data.Y data.Dy ks

    /// Per-row KSG-1 terms ψ(k) + ψ(N) − ψ(n_x+1) − ψ(n_y+1); their mean is the estimate.
    let ksgTerms (counts: NeighbourCounts) : float[] =
        let n = counts.Epsilon.Length
        // psi.[m] = ψ(m), computed at first use: the counts take few distinct values
        let psi = Array.create (n + 1) nan
        let c = digamma (float counts.K) + digamma (float n)
        let terms = Array.zeroCreate<float> n
        for i in 0 .. n - 1 do
            let a = counts.CountX.[i] + 1
            let b = counts.CountY.[i] + 1
            if Double.IsNaN psi.[a] then psi.[a] <- digamma (float a)
            if Double.IsNaN psi.[b] then psi.[b] <- digamma (float b)
            terms.[i] <- c - psi.[a] - psi.[b]
        terms

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
        do Estimation.requireKnownOptions "ksg" [ "k"; "ks"; "threads"; "allow-discrete"; "drop-duplicates" ] options
        let extra = if isNull (box options.Extra) then null else options.Extra
        let ksOption =
            match extra with
            | null -> None
            | e ->
                match e.TryGetValue "ks" with
                | true, t when not (String.IsNullOrWhiteSpace t) -> Some(parseKs t)
                | _ -> None
        let k = Estimation.extraInt options "k" DefaultK
        // One thread by default: on the shared 2-core machine two threads cost twice the CPU
        // time (0.094 s vs 0.049 s per 10 000-row estimate) and were slower in wall time under
        // load (docs/estimators-classical.md); "threads" > 1 splits the rows.
        let threads = Estimation.extraInt options "threads" 1
        let allowDiscrete = Estimation.extraBool options "allow-discrete" false
        let dropDuplicates = Estimation.extraBool options "drop-duplicates" true
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
                let ks = defaultArg ksOption [| k |]
                Data.validate 2 x y
                requireK (Array2D.length1 x) (Array.max ks)
                let data = prepareKsg options.Seed allowDiscrete dropDuplicates x y
                let n, dx, dy = data.N, data.Dx, data.Dy
                if threads < 1 then invalidArg "threads" (sprintf "option 'threads' must be at least 1, got %d." threads)
                requireK n (Array.max ks)
                let counts = countsFlat threads n data.X dx data.Y dy ks
                let perK = counts |> Array.map ksgTerms
                // rows whose k-th neighbour (largest k) is a tie in the data, not a real distance
                let tieRadius = TieRadiusInJitters * data.MaxJitter
                let eps = counts.[counts.Length - 1].Epsilon
                let mutable tied = 0
                for e in eps do
                    if e <= tieRadius then tied <- tied + 1
                let tieShare = float tied / float n
                let warnings =
                    [ if tieShare >= TieShareWarning then
                        yield
                            sprintf "%.0f%% of rows have a k-th-neighbour distance of zero (repeated values): there KSG rests on the seeded tie-breaking jitter and acts like a plug-in estimate on the discretised values, which can be biased; prefer data with more resolution or another estimator" (100.0 * tieShare)
                      if data.DuplicatesKept > 0 then
                        yield
                            sprintf "%d rows repeat another row exactly and were kept (%s); a copy among the k neighbours inflates the estimate" data.DuplicatesKept (if dropDuplicates then "the repeated values also occur in other rows, as rounding or a discrete column produces" else "drop-duplicates=false")
                      if data.DuplicatesDropped > 0 then
                        yield
                            sprintf "%d exact duplicate rows (whole-row copies) were dropped; %d distinct rows remain" data.DuplicatesDropped n
                      if data.DiscreteColumns.Length > 0 then
                        yield
                            sprintf "column(s) %s look discrete (at most %d distinct values); ties there are broken by the seeded jitter" (String.Join(", ", data.DiscreteColumns)) DiscreteMaxValues ]
                let terms =
                    if perK.Length = 1 then perK.[0]
                    else Array.init n (fun i -> (perK |> Array.sumBy (fun t -> t.[i])) / float ks.Length)
                let estimate, se = meanAndSe terms
                let variants =
                    if ksOption.IsNone then [||]
                    else
                        perK
                        |> Array.mapi (fun a t ->
                            let m, s = meanAndSe t
                            { Name = "k=" + string ks.[a]; Estimate = m; StdError = s })
                watch.Stop()
                Estimation.result "ksg" estimate se watch.Elapsed.TotalSeconds variants <|
                    Estimation.settings
                        [ (if ksOption.IsSome then "ks", box (ksText ks) else "k", box k)
                          "variant", box "KSG-1"
                          "norm", box "max"
                          "scaling", box ("per column: (value - median) / robust scale (" + String.Join(", ", data.Scaling) + ")")
                          "ties", box (String.Format(CultureInfo.InvariantCulture, "seeded jitter {0:0.##########e0} * max(1, mean|value|) * N(0,1) per column (seed {1}); epsilon = k-th smallest joint distance; marginal counts strictly < epsilon", JitterScale, options.Seed))
                          "seed", box options.Seed
                          "zero_distance_share", box tieShare
                          "duplicates_dropped", box data.DuplicatesDropped
                          "distinct_values", box (String.Join(",", data.Distinct))
                          "allow_discrete", box allowDiscrete
                          "drop_duplicates", box dropDuplicates
                          "neighbour_search", box "exact: k-d tree (joint), binary search on sorted values (1-D marginals) or k-d trees"
                          "std_error", box "sd(per-row terms)/sqrt(n), approximate"
                          "n", box n
                          "dim_x", box dx
                          "dim_y", box dy
                          "threads", box threads
                          if not warnings.IsEmpty then "warning", box (String.Join("; ", warnings)) ]

    /// The KSG-1 estimator with the given options (see KsgEstimator).
    let ksg (options: EstimatorOptions) : IMiEstimator = KsgEstimator(options) :> IMiEstimator

    // ---------------------------------------------------------------------------------------
    // Gaussian / CCA

    /// The lower Cholesky factor (row-major) and log det of the d×d row-major matrix a, by
    /// MathNet.Numerics; fails with ArgumentException(argName) when a pivot L_jj² is not clearly
    /// positive (above 1e-12·a_jj).
    let private cholesky (argName: string) (what: string) (a: float[]) (d: int) : float[] * float =
        let singular (detail: string) =
            invalidArg argName (sprintf "%s is singular (%s): some columns are exact linear combinations of others, so the Gaussian MI is undefined or infinite." what detail)
        let c =
            try MathNet.Numerics.LinearAlgebra.Matrix<float>.Build.DenseOfRowMajor(d, d, a).Cholesky()
            with :? ArgumentException -> singular "not positive definite"
        for j in 0 .. d - 1 do
            let pivot = c.Factor.[j, j] * c.Factor.[j, j]
            if not (pivot > 1e-12 * a.[j * d + j]) then singular (sprintf "Cholesky pivot %g at coordinate %d" pivot j)
        c.Factor.ToRowMajorArray(), c.DeterminantLn

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
        let lx, logDetX = cholesky "x" "the sample covariance of x" rxx dx
        let ly, logDetY = cholesky "y" "the sample covariance of y" ryy dy
        let _, logDet = cholesky "y" "the joint sample covariance of (x, y) (y is an exact linear function of x, or the reverse)" r d
        let mi = 0.5 * (logDetX + logDetY - logDet)
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
        do Estimation.requireKnownOptions "cca" [] options
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
                Estimation.result "cca" mi se watch.Elapsed.TotalSeconds [||] <|
                    Estimation.settings
                        [ "method", box "Gaussian plug-in: -1/2 sum log(1 - r_i^2) via log-determinants of the sample correlation matrix"
                          "covariance", box "sample, n - 1 denominator"
                          "std_error", box "delta method under Gaussianity: sqrt(sum r_i^2 / n + dx*dy / (2 n^2))"
                          "sum_squared_canonical_correlations", box sumR2
                          "n", box n
                          "dim_x", box dx
                          "dim_y", box dy ]

    /// The Gaussian/CCA estimator (see CcaEstimator); it has no options of its own.
    let cca (options: EstimatorOptions) : IMiEstimator = CcaEstimator(options) :> IMiEstimator

    // ---------------------------------------------------------------------------------------
    // Benchmark

    /// n samples of the bivariate normal with correlation rho (Box–Muller on System.Random(seed)),
    /// as n×1 arrays (x, y). Hand-written, as the KSG jitter: MathNet's normal sampler draws
    /// another stream from the same seed, and the seeded results are recorded.
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
