// Two MMG models trained on the same rows with different seeds, evaluated on the same fresh rows
// with common draws (a, ε): does the under-estimate on a task come from a shrunk conditional path
// (which the cross product of the two models' gaps can identify) or from parts of the gap neither
// model has learned (which nothing evaluated on held-out rows can see)? Build first:
//   dotnet build src/Mmg.Cli -c Release
//   dotnet fsi scripts/crossfit.fsx -- OUT.csv TASK SEED [TRAIN_ROWS] [TEST_ROWS] [STEPS]
// With D_k = ε̂_k(z, a, y) − ε̂_k(z, a), R_k = ε − ε̂_k(z, a) and w = 1/q(a) (q the first model's
// adapted density), per row, averaged over the repeats, ½·w times:
//   b_k = ⟨R_k, D_k⟩ (the mean of model k's two forms), o_k = ‖D_k‖², c = ⟨D_1, D_2⟩,
//   x_12 = ⟨R_1, D_2⟩, x_21 = ⟨R_2, D_1⟩.
// If each D_k = (1 − s)·D* + δ_k with independent errors δ_k, then b_k ≈ x_12 ≈ (1 − s)·I and
// c ≈ (1 − s)²·I, so b_1·b_2 / c ≈ I; if instead each model has the part P·D* of the gap exactly
// and misses the rest, b_k ≈ c ≈ ‖P·D*‖² and b_1·b_2 / c stays at b. Rows: one per run.
#load "references.fsx"
open System
open System.IO
open Mmg.Core
open TorchSharp

let args = fsi.CommandLineArgs |> Array.skip 1
let out, taskId, seed = args.[0], args.[1], int args.[2]
let trainRows = if args.Length > 3 then int args.[3] else 8000
let testRows = if args.Length > 4 then int args.[4] else 2000
let steps = if args.Length > 5 then int args.[5] else 0   // 0: the default profile's budget
let repeats = 10
torch.set_num_threads 1

let task = Tasks.find taskId
let x, y = task.Sample (trainRows + testRows) seed
let xTrain, yTrain = x.[0 .. trainRows - 1, *], y.[0 .. trainRows - 1, *]
let xTest, yTest = x.[trainRows .., *], y.[trainRows .., *]

let fit (modelSeed: int) =
    let options = { EstimatorOptions.Default with Seed = modelSeed; Steps = steps }
    let p = MmgProfiles.resolve options (Array2D.length2 x) (Array2D.length2 y)
    let watch = Diagnostics.Stopwatch.StartNew()
    let f = MmgFit.run MmgFit.denoiser (MmgFitOptions.read options) p xTrain [| yTrain |] [] null
    printfn "model seed %d: %.0f s, adaptive q %s, kept %s / %s" modelSeed watch.Elapsed.TotalSeconds f.Settings.["adaptive_q"] f.Settings.["fixed_step_kept"] f.Settings.["adapt_step_kept"]
    f

let m1 = fit seed
let m2 = fit (seed + 100)
// both models standardised the same training rows, so their standardisers agree; use the first's
let standardized (s: Data.Standardizer) (m: float[,]) =
    use t = Data.toTensor m
    Data.standardize s t
let xs = standardized m1.Standardizers.[0] xTest
let ys = standardized m1.Standardizers.[1] yTest
let d1, d2 = Network.asDenoiser m1.AdaptiveNet, Network.asDenoiser m2.AdaptiveNet
m1.AdaptiveNet.eval ()
m2.AdaptiveNet.eval ()
let q = m1.AdaptiveQ
let g = new torch.Generator(uint64 (seed + 7))
let n = int xs.shape.[0]
let sums = Array.init 7 (fun _ -> Array.zeroCreate<float> n)
let dot (u: torch.Tensor) (v: torch.Tensor) = (u * v).sum(1L)
for _ in 1 .. repeats do
    use scope = torch.NewDisposeScope()
    let a = LogSnr.sample g xs.dtype n q
    let eps = torch.randn(xs.shape, dtype = xs.dtype, generator = g)
    let z = Channel.noisy a eps xs
    let u1, c1 = d1 z a None, d1 z a (Some ys)
    let u2, c2 = d2 z a None, d2 z a (Some ys)
    let w = LogSnr.weights q a * 0.5
    let D1, D2 = c1 - u1, c2 - u2
    let R1, R2 = eps - u1, eps - u2
    let terms = [| dot R1 D1; dot R2 D2; dot D1 D1; dot D2 D2; dot D1 D2; dot R1 D2; dot R2 D1 |]
    for k in 0 .. 6 do
        let v = (terms.[k] * w).``to``(torch.ScalarType.Float64).data<float>().ToArray()
        for i in 0 .. n - 1 do sums.[k].[i] <- sums.[k].[i] + v.[i] / float repeats
let mean (v: float[]) = Array.average v
let se (v: float[]) = let m = mean v in Math.Sqrt((v |> Array.sumBy (fun t -> (t - m) ** 2.0)) / float (v.Length - 1) / float v.Length)
let b1, b2, o1, o2, c, x12, x21 = mean sums.[0], mean sums.[1], mean sums.[2], mean sums.[3], mean sums.[4], mean sums.[5], mean sums.[6]
// the two-model ensemble (average of the predictions): its mean form and orthogonal form
let be = (b1 + b2 + x12 + x21) / 4.0
let oe = (o1 + o2 + 2.0 * c) / 4.0
let crossfit = b1 * b2 / c
if not (File.Exists out) then
    File.WriteAllText(out, "task,seed,train_rows,test_rows,truth,b1,b2,o1,o2,c12,x12,x21,se_b1,se_c12,crossfit,ensemble_b,ensemble_o,ensemble_rescaled\n")
let line =
    String.Join(",", [| taskId; string seed; string trainRows; string testRows |]) + "," +
    String.Join(",", [| task.TrueMI; b1; b2; o1; o2; c; x12; x21; se sums.[0]; se sums.[4]; crossfit; be; oe; be * be / oe |] |> Array.map (fun v -> v.ToString("F4", Globalization.CultureInfo.InvariantCulture)))
File.AppendAllText(out, line + "\n")
printfn "%s" line
