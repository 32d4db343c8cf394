namespace Mmg.Core

open System
open System.Diagnostics

/// The outcome of a test of H0: X and Y are independent (I(X;Y) = 0).
type IndependenceResult =
    { /// The estimator whose MI estimate is the test statistic ("ksg", "cca").
      Estimator: string
      /// The statistic on the data as given: the MI estimate in nats.
      Statistic: float
      /// (1 + #{permuted statistics ≥ Statistic}) / (1 + Permutations): a valid p-value, never 0.
      PValue: float
      Permutations: int
      /// How many permuted statistics reached the observed one.
      Exceedances: int
      /// The permuted statistics, in the order drawn.
      Null: float[]
      Seed: int
      Seconds: float
      /// How the p-value was obtained, in words.
      Method: string }

/// Permutation tests of independence. Permuting the rows of y against those of x keeps both
/// marginal distributions and destroys any dependence, so under H0 the observed statistic and
/// the B permuted ones are exchangeable and P(p ≤ α) ≤ α exactly, for any statistic, any n and
/// any B (Phipson & Smyth 2010 on why the +1s are needed). With B = 99 or 999 and α = 0.05 the
/// level is exactly 0.05.
module Independence =
    /// Default number of permutations: p-values are multiples of 1/1000.
    [<Literal>]
    let DefaultPermutations = 999

    /// B seeded permutations of 0..n−1 (Fisher–Yates on System.Random(seed)).
    let permutations (seed: int) (b: int) (n: int) : int[][] =
        let rng = Random(seed)
        Array.init b (fun _ -> Data.shuffle rng n)

    /// The permutation test of any statistic: statistic perm is the statistic with y's row i
    /// replaced by y's row perm.[i] (the identity gives the observed value). Permuted statistics
    /// are computed in parallel (each independently of the schedule, so results are exact
    /// repeats for a seed).
    let permutationTest (name: string) (statistic: int[] -> float) (n: int) (b: int) (seed: int) : IndependenceResult =
        if b < 1 then invalidArg "permutations" (sprintf "the permutation test needs at least 1 permutation, got %d (99 or 999 give an exact 5%% level)." b)
        let watch = Stopwatch.StartNew()
        let observed = statistic (Array.init n id)
        let perms = permutations seed b n
        let nulls = Array.zeroCreate<float> b
        Threading.Tasks.Parallel.For(0, b, fun i -> nulls.[i] <- statistic perms.[i]) |> ignore
        let exceed = nulls |> Array.sumBy (fun v -> if v >= observed then 1 else 0)
        watch.Stop()
        { Estimator = name
          Statistic = observed
          PValue = float (1 + exceed) / float (1 + b)
          Permutations = b
          Exceedances = exceed
          Null = nulls
          Seed = seed
          Seconds = watch.Elapsed.TotalSeconds
          Method = sprintf "permutation test: %s estimate on the data vs %d seeded permutations of y's rows; p = (1 + #{permuted >= observed}) / (1 + %d)" name b b }

    let private permuteRows (src: float[]) (d: int) (perm: int[]) =
        let out = Array.zeroCreate<float> src.Length
        for i in 0 .. perm.Length - 1 do
            Array.blit src (perm.[i] * d) out (i * d) d
        out

    /// The KSG statistic under permutations of y, preparing the data once (Classical.prepareKsg
    /// with the estimator's options: robust scaling, seeded jitter, duplicates) and recomputing
    /// only the neighbour counts for each permutation.
    let ksgStatistic (options: EstimatorOptions) (x: float[,]) (y: float[,]) : int * (int[] -> float) =
        let k = Estimation.extraInt options "k" Classical.DefaultK
        if k < 1 then invalidArg "k" (sprintf "option 'k' must be at least 1, got %d." k)
        let data = Classical.prepareKsg options.Seed (Estimation.extraBool options "allow-discrete" false) (Estimation.extraBool options "drop-duplicates" true) x y
        let stat (perm: int[]) =
            let ys = permuteRows data.Y data.Dy perm
            let counts = Classical.countsOfPrepared [| k |] { data with Y = ys }
            Array.average (Classical.ksgTerms counts.[0])
        data.N, stat

    /// The Gaussian/CCA statistic under permutations of y: the standardised columns and the
    /// within-x and within-y correlations are computed once; each permutation recomputes only the
    /// cross-correlation block (n·dx·dy operations).
    let ccaStatistic (x: float[,]) (y: float[,]) : int * (int[] -> float) =
        Data.validate 2 x y
        let n = Array2D.length1 x
        let dx, dy = Array2D.length2 x, Array2D.length2 y
        if n <= dx + dy then
            invalidArg "x" (sprintf "only %d rows for %d + %d columns; the Gaussian/CCA estimate needs more rows than columns (at least %d)." n dx dy (dx + dy + 1))
        let d = dx + dy
        let r0 = Classical.sampleCorrelation x y
        let xs = Classical.standardizeColumns x
        let ys = Classical.standardizeColumns y
        let stat (perm: int[]) =
            let r = Array.copy r0
            for a in 0 .. dx - 1 do
                for b in 0 .. dy - 1 do
                    let mutable s = 0.0
                    for i in 0 .. n - 1 do
                        s <- s + xs.[i * dx + a] * ys.[perm.[i] * dy + b]
                    let v = s / float (n - 1)
                    r.[a * d + dx + b] <- v
                    r.[(dx + b) * d + a] <- v
            fst (Classical.gaussianMiOfMatrix dx dy r)
        n, stat

    /// Tests H0: I(X;Y) = 0 with the named estimator's MI estimate as the statistic: "ksg"
    /// (options k, allow-discrete, drop-duplicates, Seed for the tie-breaking jitter) or "cca".
    /// The seed of the permutations is options.Seed.
    let test (estimator: string) (options: EstimatorOptions) (permutations: int) (x: float[,]) (y: float[,]) : IndependenceResult =
        let name = if isNull estimator then "" else estimator.Trim().ToLowerInvariant()
        let n, stat =
            match name with
            | "ksg" -> ksgStatistic options x y
            | "cca" -> ccaStatistic x y
            | other ->
                invalidArg "estimator" (sprintf "the permutation test is available for 'ksg' and 'cca' (cheap enough to recompute hundreds of times), not '%s'." other)
        permutationTest name stat n permutations options.Seed
