namespace Mmg.Experiments

open Mmg.Core
open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open System.Security.Cryptography
open TorchSharp
open TorchSharp.Modules

/// Settings of the self-consistency tests (paper §5.3, after Song & Ermon 2019). Plain types only,
/// so the C# host can build one with `with`-style copies of Default / Quick.
type ConsistencyConfig =
    { /// An IDX file of images [n; rows; cols] (MNIST: data/cache/mnist/train-images-idx3-ubyte).
      ImagesPath: string
      /// How many images (the first ones of the file) are used, for the autoencoders and the MI calls.
      Count: int
      /// The crops r (top r rows kept, the rest zeroed), each in 1..rows of the images.
      Rows: int[]
      /// The data-processing test compares B_{r+K} with [B_{r+K}, B_r]; r with r + K > rows are skipped.
      K: int
      /// Size of each autoencoder's code, i.e. the dimension of every representation handed to the estimator.
      Latent: int
      /// Adam steps (batch Consistency.AeBatch) per autoencoder.
      AeSteps: int
      /// Seed of the autoencoders' initialisation and batches (not of the estimator).
      Seed: int
      /// Folder of the trained autoencoders, reused by later runs with the same key.
      CacheDir: string
      /// Folder where each finished MI estimate is kept (one small file per value), so a stopped
      /// test resumes from its last finished estimate and a later test reuses the values it shares
      /// with an earlier one (dpi's I(A; B_{r+K}) are the baseline's). The estimator's settings
      /// are not part of a file's name: give a folder that belongs to one estimator with one set of
      /// settings and one seed (`mmg consistency` uses <out>/estimates/<estimator>_seed<seed>,
      /// whose settings its manifest fixes). Empty: nothing is kept between calls.
      EstimatesDir: string }

    /// The full run: 10 000 MNIST training images, codes of 16 numbers, 3 000 steps per autoencoder.
    static member Default =
        { ImagesPath = Path.Combine("data", "cache", "mnist", "train-images-idx3-ubyte")
          Count = 10000
          Rows = [| 4; 8; 12; 16; 20; 24; 28 |]
          K = 4
          Latent = 16
          AeSteps = 3000
          Seed = 0
          CacheDir = Path.Combine("data", "cache", "autoencoders")
          EstimatesDir = "" }

    /// This configuration with its estimates kept in `dir` (see EstimatesDir).
    member c.WithEstimatesDir(dir: string) = { c with EstimatesDir = dir }

    /// A smoke run (CLI --quick): 2 000 images, codes of 8 numbers, 600 steps, four crops.
    static member Quick =
        { ConsistencyConfig.Default with
            Count = 2000
            Rows = [| 8; 16; 24; 28 |]
            Latent = 8
            AeSteps = 600 }

/// One ratio of one test. Estimates in nats.
type ConsistencyRow =
    { /// "baseline", "dpi" or "additivity".
      Test: string
      Estimator: string
      /// The crop r (top r rows).
      R: int
      /// The data-processing offset k (B_{r+k}); 0 for the other tests.
      K: int
      Numerator: float
      Denominator: float
      /// Numerator / Denominator.
      Ratio: float
      /// The value a consistent estimator gives: 1 (dpi), 2 (additivity), 1 for the baseline at the
      /// full image; NaN for the baseline at r < rows, where the target is "rises monotonically to 1".
      Ideal: float
      /// Estimator time spent on this row's numerator and denominator (a reused estimate counts
      /// with the time it took when it was first computed).
      Seconds: float
      /// Empty when the row succeeded; otherwise the error, and the numbers are NaN.
      Error: string }

/// A small MLP autoencoder: input → hidden → code (linear) → hidden → input (sigmoid, since
/// pixels lie in [0, 1]).
type Autoencoder(inputDim: int, hidden: int, latent: int) as this =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>("Autoencoder")
    let enc1 = torch.nn.Linear(int64 inputDim, int64 hidden)
    let enc2 = torch.nn.Linear(int64 hidden, int64 latent)
    let dec1 = torch.nn.Linear(int64 latent, int64 hidden)
    let dec2 = torch.nn.Linear(int64 hidden, int64 inputDim)
    do this.RegisterComponents()

    member _.InputDim = inputDim
    member _.Latent = latent

    /// The code [n; latent] of flattened inputs [n; inputDim].
    member _.Encode(x: torch.Tensor) : torch.Tensor =
        use h1 = enc1.forward x
        use h = torch.nn.functional.relu h1
        enc2.forward h

    /// The reconstruction [n; inputDim] of a code [n; latent].
    member _.Decode(z: torch.Tensor) : torch.Tensor =
        use h1 = dec1.forward z
        use h = torch.nn.functional.relu h1
        use o = dec2.forward h
        torch.sigmoid o

    override this.forward(x: torch.Tensor) : torch.Tensor =
        use z = this.Encode x
        this.Decode z

    override _.Dispose(disposing: bool) =
        if disposing then
            enc1.Dispose()
            enc2.Dispose()
            dec1.Dispose()
            dec2.Dispose()
        base.Dispose disposing

/// The three self-consistency tests on images: A = an image, B_r = its top r rows (the rest
/// zeroed). Every representation is the code of an autoencoder trained for it (one for A, one
/// per crop r), and the MI calls go through any IMiEstimator, fed with codes as float[,].
module Consistency =
    /// Width of the autoencoders' hidden layers.
    [<Literal>]
    let AeHidden = 256

    /// Batch size of autoencoder training.
    [<Literal>]
    let AeBatch = 128

    /// Adam learning rate of autoencoder training.
    [<Literal>]
    let AeLearningRate = 1e-3

    /// The tests by name, in the order "all" runs them.
    let tests = [| "baseline"; "dpi"; "additivity" |]

    /// The canonical name of a test ("data-processing" is accepted for "dpi").
    let testName (test: string) =
        match (if isNull test then "" else test.Trim().ToLowerInvariant()) with
        | "baseline" -> "baseline"
        | "dpi"
        | "data-processing"
        | "dataprocessing" -> "dpi"
        | "additivity" -> "additivity"
        | "all" -> "all"
        | other -> invalidArg "test" (sprintf "unknown consistency test '%s'; use baseline, dpi, additivity or all." other)

    /// B_r: a copy of images [n; rows; cols] with every row from r on set to 0 (rows 0..r−1 kept).
    let crop (r: int) (images: torch.Tensor) : torch.Tensor =
        Checks.requireRank "images" 3 images
        let rows = int images.shape.[1]
        if r < 0 || r > rows then
            invalidArg "r" (sprintf "crop r = %d must lie in 0..%d for images of shape %s." r rows (Checks.shapeText images))
        use idx = torch.arange(int64 rows, device = images.device)
        use bound = torch.tensor (int64 r)
        use keep = idx.lt bound
        use mask = keep.``to``(images.dtype).reshape(1L, int64 rows, 1L)
        images * mask

    /// Procedural 28×28 "pen strokes" in [0, 1], seeded: each image is a polyline through three
    /// points going down the image (upper, middle, lower third) drawn with a soft round brush, so
    /// the top rows say something, but not everything, about the rows below. Returns [count; 28; 28].
    let synthetic (seed: int) (count: int) : torch.Tensor =
        Checks.requirePositiveInt "count" count
        let side = 28
        let rng = Random seed
        let uniform lo hi = lo + (hi - lo) * rng.NextDouble()
        let pixels = Array.zeroCreate<float32> (count * side * side)
        for n in 0 .. count - 1 do
            let width = uniform 0.8 1.5
            let p0 = uniform 2.0 10.0, uniform 5.0 23.0
            let p1 = uniform 11.0 17.0, snd p0 + uniform -7.0 7.0
            let p2 = uniform 18.0 26.0, snd p1 + uniform -7.0 7.0
            let segments = [| p0, p1; p1, p2 |]
            for r in 0 .. side - 1 do
                for c in 0 .. side - 1 do
                    let mutable best = Double.MaxValue
                    for ((r0, c0), (r1, c1)) in segments do
                        let dr, dc = r1 - r0, c1 - c0
                        let len2 = dr * dr + dc * dc
                        let t = if len2 > 0.0 then max 0.0 (min 1.0 (((float r - r0) * dr + (float c - c0) * dc) / len2)) else 0.0
                        let er, ec = float r - (r0 + t * dr), float c - (c0 + t * dc)
                        best <- min best (er * er + ec * ec)
                    pixels.[(n * side + r) * side + c] <- float32 (exp (-best / (2.0 * width * width)))
        use flat = torch.tensor(pixels, dtype = torch.ScalarType.Float32)
        flat.reshape(int64 count, int64 side, int64 side)

    /// Weight of the newest batch loss in the smoothed reconstruction loss of the progress
    /// reports (about the last 50 steps).
    [<Literal>]
    let AeSmoothingWeight = 0.02

    /// Trains an autoencoder on flattened inputs [n; d] for `steps` Adam steps at the constant
    /// rate AeLearningRate on the shared TrainingLoop (no EMA copy, no early stopping), each on
    /// AeBatch rows drawn with replacement by a generator seeded by `seed` (which also seeds the
    /// initialisation); the loss is the pixel MSE. `phase` names it in the progress reports.
    let trainAutoencoder (seed: int) (latent: int) (steps: int) (phase: string) (progress: Action<TrainingProgress>) (inputs: torch.Tensor) : Autoencoder =
        Checks.requireRank "inputs" 2 inputs
        Checks.requirePositiveInt "latent" latent
        Checks.requirePositiveInt "steps" steps
        torch.random.manual_seed (int64 seed) |> ignore
        let n, d = inputs.shape.[0], int inputs.shape.[1]
        let model = new Autoencoder(d, AeHidden, latent)
        use loop = new TrainingLoop(model.parameters (), LoopSettings.ConstantRate(AeLearningRate, AeSmoothingWeight))
        use generator = new torch.Generator(uint64 seed)
        model.train ()
        let step () =
            use scope = torch.NewDisposeScope()
            let idx = torch.randint(n, [| int64 (min AeBatch (int n)) |], generator = generator)
            let batch = inputs.index_select(0L, idx)
            let recon = model.forward batch
            loop.Apply(torch.nn.functional.mse_loss (recon, batch))
        loop.Run(steps, phase, progress, step) |> ignore
        model.eval ()
        model

    /// Images [n; rows; cols] as [n; rows·cols].
    let private flatten (images: torch.Tensor) =
        images.reshape(images.shape.[0], images.shape.[1] * images.shape.[2])

    /// A short content hash of images (so a cache entry never serves different images).
    let imageHash (images: torch.Tensor) : string =
        use c = images.``to``(torch.ScalarType.Float32).cpu().contiguous ()
        let bytes = c.bytes.ToArray()
        let hash = SHA256.HashData(ReadOnlySpan<byte> bytes)
        Convert.ToHexString(hash, 0, 6).ToLowerInvariant()

    /// Every setting that changes the autoencoders' codes, as part of a file name.
    let private codesName (config: ConsistencyConfig) (imagesHash: string) =
        sprintf "latent%d-hidden%d-seed%d-n%d-steps%d-%s" config.Latent AeHidden config.Seed config.Count config.AeSteps imagesHash

    /// The cache file of the autoencoder for representation `key` ("A" or "B12"): every setting
    /// that changes the weights is in the name.
    let cachePath (config: ConsistencyConfig) (key: string) (imagesHash: string) =
        Path.Combine(config.CacheDir, sprintf "ae-%s-%s.bin" key (codesName config imagesHash))

    /// The seed of the autoencoder for a representation: A uses config.Seed, B_r config.Seed + 1000 + r,
    /// so A and B_rows (the same pixels) get different autoencoders and thus different codes.
    let private seedFor (config: ConsistencyConfig) (r: int option) =
        match r with
        | None -> config.Seed
        | Some r -> config.Seed + 1000 + r

    /// The autoencoder of representation A (r = None) or B_r, loaded from the cache when there,
    /// else trained and saved (written to a temporary file, then moved, so a killed run leaves
    /// no half file). `images` are the config.Count images [n; rows; cols]; `imagesHash` their
    /// imageHash.
    let autoencoder (config: ConsistencyConfig) (imagesHash: string) (r: int option) (progress: Action<TrainingProgress>) (images: torch.Tensor) : Autoencoder =
        let key = match r with None -> "A" | Some r -> sprintf "B%d" r
        let path = cachePath config key imagesHash
        let d = int (images.shape.[1] * images.shape.[2])
        if File.Exists path then
            let model = new Autoencoder(d, AeHidden, config.Latent)
            model.load path |> ignore
            model.eval ()
            model
        else
            use input =
                match r with
                | None -> flatten images
                | Some r ->
                    use c = crop r images
                    flatten c
            let phase = match r with None -> "autoencoder A" | Some r -> sprintf "autoencoder B_%d" r
            let model = trainAutoencoder (seedFor config r) config.Latent config.AeSteps phase progress input
            Directory.CreateDirectory config.CacheDir |> ignore
            let tmp = path + ".tmp"
            model.save tmp |> ignore
            File.Move(tmp, path, true)
            model

    /// The codes [n; latent] of flattened inputs as a 2-D array.
    let encode (model: Autoencoder) (inputs: torch.Tensor) : float[,] =
        use _ = torch.no_grad ()
        use z = model.Encode inputs
        Data.toArray2D z

    /// The file of the kept estimate `key` (e.g. "I(A;[B_8,B_4])"): a readable form of the key, a
    /// hash of it (no two keys share a file), and every setting of the codes it was estimated on.
    let estimatePath (config: ConsistencyConfig) (key: string) (imagesHash: string) =
        let readable = String(key |> Seq.map (fun c -> if Char.IsLetterOrDigit c || c = '_' then c else '-') |> Array.ofSeq)
        let keyHash = Convert.ToHexString(SHA256.HashData(Text.Encoding.UTF8.GetBytes key), 0, 4).ToLowerInvariant()
        Path.Combine(config.EstimatesDir, sprintf "%s-%s-%s.csv" readable keyHash (codesName config imagesHash))

    let private estimateHeader = "key,estimate,seconds"

    /// A kept estimate (value, seconds) of `key`, or None when there is none (or the file is not
    /// one of ours for this key: then it is estimated again and the file replaced).
    let private tryReadEstimate (path: string) (key: string) =
        if not (File.Exists path) then None
        else
            match File.ReadAllLines path with
            | [| header; line |] when header = estimateHeader ->
                let i = line.LastIndexOf(',')
                let j = if i > 0 then line.LastIndexOf(',', i - 1) else -1
                if j <= 0 || line.Substring(0, j) <> "\"" + key + "\"" then None
                else
                    let ok1, v = Double.TryParse(line.Substring(j + 1, i - j - 1), Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture)
                    let ok2, s = Double.TryParse(line.Substring(i + 1), Globalization.NumberStyles.Float, Globalization.CultureInfo.InvariantCulture)
                    if ok1 && ok2 && Double.IsFinite v then Some(v, s) else None
            | _ -> None

    /// Keeps a finished estimate: written to a temporary file, then moved, so a killed run
    /// leaves either the whole value or nothing.
    let private writeEstimate (path: string) (key: string) (value: float, seconds: float) =
        Directory.CreateDirectory(Path.GetDirectoryName path) |> ignore
        let r (v: float) = v.ToString("R", Globalization.CultureInfo.InvariantCulture)
        let tmp = path + ".tmp"
        File.WriteAllText(tmp, sprintf "%s\n\"%s\",%s,%s\n" estimateHeader key (r value) (r seconds))
        File.Move(tmp, path, true)

    /// Column-wise concatenation [a, b] of two arrays with the same rows.
    let private hstack (a: float[,]) (b: float[,]) =
        let n, ca, cb = Array2D.length1 a, Array2D.length2 a, Array2D.length2 b
        Array2D.init n (ca + cb) (fun i j -> if j < ca then a.[i, j] else b.[i, j - ca])

    /// Rows lo..hi−1 of an array.
    let private rowsOf (lo: int) (hi: int) (a: float[,]) = a.[lo .. hi - 1, *]

    /// Checks the settings; `side` is the images' row count, or 0 before the images are read.
    let private validate (config: ConsistencyConfig) (side: int) =
        if String.IsNullOrWhiteSpace config.ImagesPath then invalidArg "ImagesPath" "ImagesPath is empty; give an IDX images file (e.g. data/cache/mnist/train-images-idx3-ubyte)."
        if String.IsNullOrWhiteSpace config.CacheDir then invalidArg "CacheDir" "CacheDir is empty; give a folder for the trained autoencoders."
        if config.Count < 4 then invalidArg "Count" (sprintf "Count must be at least 4 (the additivity test pairs two halves), got %d." config.Count)
        if isNull config.Rows || config.Rows.Length = 0 then invalidArg "Rows" "Rows is empty; give at least one crop r."
        for r in config.Rows do
            if r < 1 || (side > 0 && r > side) then invalidArg "Rows" (sprintf "crop r = %d must lie in 1..%d (the image has %d rows)." r side side)
        Checks.requirePositiveInt "K" config.K
        Checks.requirePositiveInt "Latent" config.Latent
        Checks.requirePositiveInt "AeSteps" config.AeSteps

    /// Runs one test ("baseline", "dpi", "additivity") or "all" with the given estimator.
    /// - baseline: I(A; B_r) / I(A; B) for each r (B = B_rows, the whole image; its row is 1 by construction);
    /// - dpi: I(A; [B_{r+K}, B_r]) / I(A; B_{r+K}) for each r with r + K ≤ rows (ideal 1);
    /// - additivity: I([A¹, A²]; [B¹_r, B²_r]) / I(A¹; B¹_r) (ideal 2), where image 1 of a pair is
    ///   from the first half of the Count images and image 2 from the second half (independent).
    /// Within one call an MI value needed twice (e.g. I(A; B_{r+K}) by baseline and dpi) is
    /// estimated once; with config.EstimatesDir set, across calls too, and a call stopped midway
    /// resumes from its last finished estimate. An estimator failure becomes a row with Error set,
    /// not an exception (and is not kept).
    let run (test: string) (estimator: IMiEstimator) (config: ConsistencyConfig) (progress: Action<TrainingProgress>) : ConsistencyRow[] =
        if isNull (box estimator) then nullArg "estimator"
        let which = testName test
        validate config 0
        let images =
            let all = Idx.loadImages config.Count config.ImagesPath
            if int all.shape.[0] < config.Count then
                let n = all.shape.[0]
                all.Dispose()
                invalidArg "Count" (sprintf "Count = %d images were asked for but '%s' holds only %d." config.Count config.ImagesPath n)
            all
        use images = images
        let side = int images.shape.[1]
        validate config side
        let hash = imageHash images
        let codes = Dictionary<string, float[,]>()
        let codeOf (r: int option) =
            let key = match r with None -> "A" | Some r -> sprintf "B%d" r
            match codes.TryGetValue key with
            | true, c -> c
            | _ ->
                use model = autoencoder config hash r progress images
                use input =
                    match r with
                    | None -> flatten images
                    | Some r ->
                        use c = crop r images
                        flatten c
                let c = encode model input
                codes.[key] <- c
                c
        let memo = Dictionary<string, Result<float * float, string>>()
        let mi (key: string) (x: unit -> float[,]) (y: unit -> float[,]) =
            match memo.TryGetValue key with
            | true, v -> v
            | _ ->
                // Codes are built outside the try: an autoencoder or data problem is a bug to see,
                // only the estimator's own failure becomes a row's Error.
                let path = if String.IsNullOrEmpty config.EstimatesDir then None else Some(estimatePath config key hash)
                let v =
                    match path |> Option.bind (fun p -> tryReadEstimate p key) with
                    | Some kept -> Ok kept
                    | None ->
                        let xv, yv = x (), y ()
                        let fresh =
                            try
                                let watch = Stopwatch.StartNew()
                                let res = estimator.Estimate(xv, yv, progress)
                                Ok(res.Estimate, watch.Elapsed.TotalSeconds)
                            with ex -> Error(sprintf "%s: %s" key ex.Message)
                        // only finished values are kept: a failure is tried again by the next run
                        match path, fresh with
                        | Some p, Ok value when Double.IsFinite(fst value) -> writeEstimate p key value
                        | _ -> ()
                        fresh
                memo.[key] <- v
                v
        let row name r k ideal numerator denominator =
            match numerator, denominator with
            | Ok(nv, ns), Ok(dv, ds) ->
                { Test = name; Estimator = estimator.Name; R = r; K = k; Numerator = nv; Denominator = dv
                  Ratio = nv / dv; Ideal = ideal; Seconds = ns + ds; Error = "" }
            | _ ->
                let errors = [ numerator; denominator ] |> List.choose (function Error e -> Some e | Ok _ -> None) |> List.distinct
                { Test = name; Estimator = estimator.Name; R = r; K = k; Numerator = Double.NaN; Denominator = Double.NaN
                  Ratio = Double.NaN; Ideal = ideal; Seconds = 0.0; Error = String.Join("; ", errors) }
        let a () = codeOf None
        let b r () = codeOf (Some r)
        let iAB r = mi (sprintf "I(A;B_%d)" r) a (b r)
        let half = config.Count / 2
        let baseline () =
            let den = iAB side
            [ for r in config.Rows -> row "baseline" r 0 (if r = side then 1.0 else Double.NaN) (iAB r) den ]
        let dpi () =
            [ for r in config.Rows do
                if r + config.K <= side then
                    let s = r + config.K
                    let num = mi (sprintf "I(A;[B_%d,B_%d])" s r) a (fun () -> hstack (b s ()) (b r ()))
                    yield row "dpi" r config.K 1.0 num (iAB s) ]
        let additivity () =
            [ for r in config.Rows ->
                let pairA () = hstack (rowsOf 0 half (a ())) (rowsOf half (2 * half) (a ()))
                let pairB () = hstack (rowsOf 0 half (b r ())) (rowsOf half (2 * half) (b r ()))
                let num = mi (sprintf "I([A1,A2];[B1_%d,B2_%d])" r r) pairA pairB
                let den = mi (sprintf "I(A1;B1_%d)" r) (fun () -> rowsOf 0 half (a ())) (fun () -> rowsOf 0 half (b r ()))
                row "additivity" r 0 2.0 num den ]
        let rows =
            match which with
            | "baseline" -> baseline ()
            | "dpi" -> dpi ()
            | "additivity" -> additivity ()
            | _ -> baseline () @ dpi () @ additivity ()
        Array.ofList rows
