// Where in log-SNR does a trained MMG model miss information? For the spiral tasks (a sparse
// Gaussian pair through the spiral, whose inverse is known) the exact ε-space MMSE gap
// E‖E[ε|z,y] − E[ε|z]‖² is computable by self-normalised importance sampling: E[x|z] weighs prior
// samples of x by the channel's likelihood N(z; αx, σ²I); E[x|z,y] weighs samples of p(x|y), drawn
// by undoing the spiral on y, drawing the Gaussian conditional and spiralling x. Both are taken in
// the model's standardised coordinates (its own Prepare), so the curves compare point by point
// with the model's held-out curves (MmgModel.Evaluate), and ½∫ oracle gap da is the truth up to
// the grid's tails and the sampling error (printed as a check).
// Build first: dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/oracle-gap.fsx -- OUT.csv TASK SEED [OPTION=VALUE;...] [train]
// (steps=N sets the fixed phase's steps; other keys are EstimatorOptions.Extra; pass "" for none.)
// With `train` the rows are ones the model trained on (a generalisation check), not fresh ones.
// TASK: spiral-multinormal-sparse-D-D-2-2.0 (D = 3 or 5). Writes one row per log-SNR: the model's
// gap and orthogonal gap (adaptive model, 500 fresh rows × 4 draws), the oracle gap (the same
// rows, 2 draws each), the effective sample sizes of the importance samplers, and on the oracle's
// noisy rows the model's difference form and each path's error E‖ε̂ − E[ε|·]‖² (difference form =
// oracle gap + error_unconditional − error_conditional, up to the oracle's sampling error).
#load "references.fsx"
open System
open System.IO
open System.Collections.Generic
open Mmg.Core
open TorchSharp

let args = fsi.CommandLineArgs |> Array.skip 1
let out, taskId, seed = args.[0], args.[1], int args.[2]
let extra = Dictionary<string, string>()
let mutable steps = 0
if args.Length > 3 then
    for kv in args.[3].Split(';', StringSplitOptions.RemoveEmptyEntries) do
        let p = kv.Split '='
        if p.[0] = "steps" then steps <- int p.[1] else extra.[p.[0]] <- p.[1]
torch.set_num_threads 1
let d =
    let parts = taskId.Split '-'
    if not (taskId.StartsWith "spiral-multinormal-sparse-") then failwithf "%s: only the plain sparse spirals are supported" taskId
    int parts.[3]
let task = Tasks.find taskId
let sx, sy = Tasks.SpiralSpeed / float d, Tasks.SpiralSpeed / float d

// train the default model on the benchmark's rows
let x, y = task.Sample 10000 seed
let est = MmgEstimator("mmg-debiased", { EstimatorOptions.Default with Seed = seed; Steps = steps; Extra = extra })
let r, model = est.EstimateWithModel(x, y, null, false)
printfn "estimate %.4f (truth %.4f), %.0f s" r.Variants.[4].Estimate task.TrueMI r.Seconds

// fresh rows (or, with ROWS = train, the first 500 rows the optimiser trained on, from the
// estimator's own split), the model's curves on them (4 copies of each row: 4 ε draws per row and log-SNR)
let n, copies = 500, 4
let onTrainingRows = args.Length > 4 && args.[4] = "train"
let xt, yt =
    if onTrainingRows then
        let opts = { EstimatorOptions.Default with Seed = seed; Steps = steps; Extra = extra }
        let p = MmgProfiles.resolve opts d d
        let train, _ = Data.split seed p.TestFraction 10000
        let fitRows, _ = EarlyStoppingOptions.split seed (MmgFitOptions.read opts).Validation train.Length p.BatchSize
        let rows = fitRows |> Array.truncate n |> Array.map (fun i -> train.[i])
        Array2D.init n d (fun i j -> x.[rows.[i], j]), Array2D.init n d (fun i j -> y.[rows.[i], j])
    else task.Sample n (seed + 1000)
let rep (a: float[,]) = Array2D.init (n * copies) (Array2D.length2 a) (fun i j -> a.[i % n, j])
let ev = model.Evaluate(rep xt, rep yt, 1, seed, null, 41)
let grid = ev.Curves.LogSnr

// the Gaussian conditional of the raw x given raw y (correlation matrix, x first)
let cov = Tasks.sparseCorrelation d d 2 Tasks.SparseStrength
let c = torch.tensor(cov, dtype = torch.ScalarType.Float64)
let block (r0: int) (c0: int) = c.narrow(0L, int64 r0, int64 d).narrow(1L, int64 c0, int64 d)
let cxx, cxy, cyy = block 0 0, block 0 d, block d d
let b = torch.linalg.solve(cyy, cxy.t ()).t ()
let sc = cxx - b.matmul (cxy.t ())
let lc = torch.linalg.cholesky (Ops.mulScalar (Ops.add sc (sc.t ())) 0.5)

// prior samples (standardised) and, per fresh row, samples of p(x | y)
let m, mc = 100000, 4000
let toT (a: float[,]) = torch.tensor(a, dtype = torch.ScalarType.Float64)
let std (a: float[,]) =
    let xs, ys = model.Prepare(a, Array2D.zeroCreate (Array2D.length1 a) d)
    ys.Dispose()
    let r = xs.``to`` torch.ScalarType.Float64
    xs.Dispose()
    r
let prior = std (fst (task.Sample m (seed + 2000)))
let rng = Random(seed + 3000)
let gauss () = Math.Sqrt(-2.0 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2.0 * Math.PI * rng.NextDouble())
let bArr = Array2D.init d d (fun i j -> b.[int64 i, int64 j].item<float> ())
let lArr = Array2D.init d d (fun i j -> lc.[int64 i, int64 j].item<float> ())
let condRaw = Array2D.zeroCreate (n * mc) d
for i in 0 .. n - 1 do
    let yRaw = Transforms.spiralInverse sy 1 2 (Array.init d (fun j -> yt.[i, j]))
    let mean = Array.init d (fun k -> Array.fold2 (fun s bk yk -> s + bk * yk) 0.0 (Array.init d (fun j -> bArr.[k, j])) yRaw)
    for s in 0 .. mc - 1 do
        let e = Array.init d (fun _ -> gauss ())
        let xr = Array.init d (fun k -> mean.[k] + Seq.sum (seq { for j in 0 .. k -> lArr.[k, j] * e.[j] }))
        let xs = Transforms.spiral sx 0 1 xr
        for k in 0 .. d - 1 do condRaw.[i * mc + s, k] <- xs.[k]
let cond = (std condRaw).reshape(int64 n, int64 mc, int64 d)
let xsT = std xt

// E[x | z] over samples p [M; d] for rows z [k; d], and the effective sample size per row
let posterior (z: Tensor) (p: Tensor) (alpha: float) (sigma: float) =
    // log N(z; αp, σ²) up to a per-row constant: (α z·p − α²‖p‖²/2) / σ²
    let logits = (alpha * z.matmul(p.t ()) - 0.5 * alpha * alpha * p.square().sum(1L).unsqueeze 0L) / (sigma * sigma)
    let w = logits.softmax 1L
    w.matmul p, w.square().sum(1L).reciprocal ()
// The standardisation of x (no normal scores on the plain spirals): Prepare(v) = (v − m)/s.
let stdMean, stdScale =
    let f0 = std (Array2D.zeroCreate 1 d)
    let f1 = std (Array2D.create 1 d 1.0)
    let s = (f1 - f0).reciprocal ()
    (-(f0 * s)).squeeze 0L, s.squeeze 0L
// the spiral on a tensor's last dimension (plane (0, 1) of x), as Transforms.spiral
let spiralT (speed: float) (t: Tensor) =
    let th = speed * t.square().sum(-1L)
    let c, sn = th.cos (), th.sin ()
    let t0, t1 = t.select(-1L, 0L), t.select(-1L, 1L)
    let o0 = c * t0 + sn * t1
    let o1 = -(sn * t0) + c * t1
    torch.cat([| o0.unsqueeze -1L; o1.unsqueeze -1L; t.narrow(-1L, 2L, t.shape.[t.shape.Length - 1] - 2L) |], -1L)
let precU = torch.linalg.inv cxx
let precC = torch.linalg.inv sc
// the conditional means B·S⁻¹(y) of the fresh rows (raw units)
let yRawMeans =
    let yr = Array2D.init n d (fun i j -> (Transforms.spiralInverse sy 1 2 (Array.init d (fun k -> yt.[i, k]))).[j])
    toT(yr).matmul (b.t ())
let quad (u: Tensor) (prec: Tensor) = (u.matmul prec * u).sum(-1L)

let den = model.Denoiser true
let ySt = let _, ys = model.Prepare(xt, yt) in ys
let oracle, oracleHigh = Array.zeroCreate grid.Length, Array.zeroCreate grid.Length
// the adaptive model's errors against the exact predictors, E‖ε̂ − E[ε|·]‖², per path, and its
// difference form E‖ε − ε̂_u‖² − E‖ε − ε̂_c‖² on the same noisy rows
let errU, errC, diffHere = Array.zeroCreate grid.Length, Array.zeroCreate grid.Length, Array.zeroCreate grid.Length
let essU, essC, essH = Array.zeroCreate grid.Length, Array.zeroCreate grid.Length, Array.zeroCreate grid.Length
let g = new torch.Generator(uint64 (seed + 4000))
let median (v: ResizeArray<float>) = Seq.sort v |> Seq.item (v.Count / 2)
let kProp = 2000
for gi, a in Array.indexed grid do
    use _ = torch.NewDisposeScope()
    let alpha, sigma = Math.Sqrt(1.0 / (1.0 + Math.Exp(-a))), Math.Sqrt(1.0 / (1.0 + Math.Exp a))
    let eu, ec, eh = ResizeArray<float>(), ResizeArray<float>(), ResizeArray<float>()
    let mutable acc, accH, cnt, eU, eC, dH = 0.0, 0.0, 0, 0.0, 0.0, 0.0
    for _ in 1 .. 2 do
        let eps = torch.randn([| int64 n; int64 d |], dtype = torch.ScalarType.Float64, generator = g)
        let z = alpha * xsT + sigma * eps
        for start in 0 .. 50 .. n - 1 do
            let k = min 50 (n - start)
            let zk = z.narrow(0L, int64 start, int64 k)
            // (1) prior samples weighted by the likelihood (good at low SNR)
            let mu, essu = posterior zk prior alpha sigma
            let pk = cond.narrow(0L, int64 start, int64 k)
            let logits = (alpha * torch.bmm(pk, zk.unsqueeze 2L).squeeze(2L) - 0.5 * alpha * alpha * pk.square().sum(2L)) / (sigma * sigma)
            let w = logits.softmax 1L
            let muC = torch.bmm(w.unsqueeze 1L, pk).squeeze 1L
            acc <- acc + ((alpha / sigma) ** 2.0) * (muC - mu).square().sum().item<float> ()
            eu.AddRange(essu.data<float>().ToArray())
            ec.AddRange(w.square().sum(1L).reciprocal().data<float>().ToArray())
            // (2) the likelihood as proposal, weighted by the exact prior and conditional densities
            //     (the spiral keeps volume, so p(x) = p_raw(S⁻¹x)); common proposals for both (good at high SNR)
            let prop = (zk / alpha).unsqueeze(1L) + (sigma / alpha) * torch.randn([| int64 k; int64 kProp; int64 d |], dtype = torch.ScalarType.Float64, generator = g)
            let raw = spiralT (-sx) (stdMean + stdScale * prop)
            let lu = -0.5 * quad raw precU
            let lc = -0.5 * quad (raw - yRawMeans.narrow(0L, int64 start, int64 k).unsqueeze 1L) precC
            let wu, wc = lu.softmax 1L, lc.softmax 1L
            let hu = torch.bmm(wu.unsqueeze 1L, prop).squeeze 1L
            let hc = torch.bmm(wc.unsqueeze 1L, prop).squeeze 1L
            accH <- accH + ((alpha / sigma) ** 2.0) * (hc - hu).square().sum().item<float> ()
            let essh = wc.square().sum(1L).reciprocal ()
            eh.AddRange(essh.data<float>().ToArray())
            // the exact predictors from the less degenerate sampler, row by row
            let essc = w.square().sum(1L).reciprocal ()
            let usePrior = (essc.ge essh).unsqueeze 1L
            let xu, xc = torch.where(usePrior, mu, hu), torch.where(usePrior, muC, hc)
            let epsU, epsC = (zk - alpha * xu) / sigma, (zk - alpha * xc) / sigma
            let z32 = zk.``to`` torch.ScalarType.Float32
            let a32 = torch.ones([| int64 k |], dtype = torch.ScalarType.Float32) * a
            let pu = (den z32 a32 None).``to`` torch.ScalarType.Float64
            let pc = (den z32 a32 (Some (ySt.narrow(0L, int64 start, int64 k)))).``to`` torch.ScalarType.Float64
            eU <- eU + (pu - epsU).square().sum().item<float> ()
            eC <- eC + (pc - epsC).square().sum().item<float> ()
            let e = eps.narrow(0L, int64 start, int64 k)
            dH <- dH + ((e - pu).square().sum() - (e - pc).square().sum()).item<float> ()
            cnt <- cnt + k
    errU.[gi] <- eU / float cnt
    errC.[gi] <- eC / float cnt
    diffHere.[gi] <- dH / float cnt
    oracle.[gi] <- acc / float cnt
    oracleHigh.[gi] <- accH / float cnt
    essU.[gi] <- median eu
    essC.[gi] <- median ec
    essH.[gi] <- median eh
// per log-SNR, the sampler whose conditional weights are less degenerate
let best = Array.init grid.Length (fun i -> if essC.[i] >= essH.[i] then oracle.[i] else oracleHigh.[i])
let half (v: float[]) = 0.5 * Seq.sum (seq { for i in 1 .. grid.Length - 1 -> 0.5 * (v.[i] + v.[i - 1]) * (grid.[i] - grid.[i - 1]) })
printfn "½∫ on [%.1f, %.1f]: oracle %.4f (prior sampler %.4f, likelihood sampler %.4f), model gap %.4f, model orthogonal gap %.4f; on the oracle's rows: model difference form %.4f, error of the unconditional path %.4f, of the conditional path %.4f (truth %.4f)" grid.[0] grid.[grid.Length - 1] (half best) (half oracle) (half oracleHigh) (half ev.Curves.Gap) (half ev.Curves.OrthogonalGap) (half diffHere) (half errU) (half errC) task.TrueMI
let lines =
    [ yield "task,seed,log_snr,oracle_gap,model_gap,model_orthogonal_gap,oracle_prior_sampler,oracle_likelihood_sampler,ess_prior_unconditional,ess_prior_conditional,ess_likelihood_conditional,model_difference_here,error_unconditional,error_conditional"
      for i in 0 .. grid.Length - 1 ->
        sprintf "%s,%d,%.3f,%.5f,%.5f,%.5f,%.5f,%.5f,%.0f,%.0f,%.0f,%.5f,%.5f,%.5f" taskId seed grid.[i] best.[i] ev.Curves.Gap.[i] ev.Curves.OrthogonalGap.[i] oracle.[i] oracleHigh.[i] essU.[i] essC.[i] essH.[i] diffHere.[i] errU.[i] errC.[i] ]
File.WriteAllLines(out, lines)
for l in lines do printfn "%s" l
(model :> IDisposable).Dispose()
