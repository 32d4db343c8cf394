namespace Mmg.Core

open System
open TorchSharp
open TorchSharp.Modules

/// GroupNorm over the features of [n; width] rows: each group of width/groups features is
/// normalised to mean 0, variance 1, then scaled and shifted per feature. Written with
/// layer_norm on a [n; groups; width/groups] view: TorchSharp's GroupNorm module wants ≥ 3 dims
/// and was 5× slower here for [n; width; 1] (docs/performance.md).
type FeatureGroupNorm(groups: int, width: int) as this =
    inherit torch.nn.Module<Tensor, Tensor>("FeatureGroupNorm")
    do
        if width % groups <> 0 then
            invalidArg "groups" (sprintf "width %d is not divisible by %d groups." width groups)
    let weight = torch.nn.Parameter(torch.ones(int64 width))
    let bias = torch.nn.Parameter(torch.zeros(int64 width))
    do this.RegisterComponents()

    /// Call inside a dispose scope.
    override _.forward(h: Tensor) =
        let n = h.shape.[0]
        let v = h.reshape(n, int64 groups, int64 (width / groups))
        let normed = torch.nn.functional.layer_norm(v, [| int64 (width / groups) |], eps = 1e-5)
        normed.reshape(n, int64 width) * weight + bias

/// A residual MLP block with an additive log-SNR projection:
/// h + W₂·SiLU(GN(W₁·SiLU(GN(h)) + T·emb)).
type ResidualBlock(width: int, groups: int) as this =
    inherit torch.nn.Module<Tensor, Tensor, Tensor>("ResidualBlock")
    let norm1 = new FeatureGroupNorm(groups, width)
    let lin1 = torch.nn.Linear(int64 width, int64 width)
    let time = torch.nn.Linear(int64 width, int64 width)
    let norm2 = new FeatureGroupNorm(groups, width)
    let lin2 = torch.nn.Linear(int64 width, int64 width)
    do this.RegisterComponents()


    /// Call inside a dispose scope: intermediates are left to it.
    override _.forward(h: Tensor, emb: Tensor) =
        let u = lin1.forward (torch.nn.functional.silu (norm1.forward h)) + time.forward emb
        let v = lin2.forward (torch.nn.functional.silu (norm2.forward u))
        h + v

/// The fixed (untrained) part of the log-SNR embedding shared by the noise-prediction networks:
/// log-spaced angular frequencies and the sinusoid features [sin(ω·a), cos(ω·a)].
module LogSnrFeatures =
    /// `count` angular frequencies for periods from 2 to 64 log-SNR units.
    let frequencies (count: int) : float32[] =
        Array.init count (fun k -> float32 (Math.PI / Math.Pow(2.0, float k * 5.0 / float (max 1 (count - 1)))))

    /// [n; 2·count] features of a [n]. Call inside a dispose scope.
    let sinusoids (freq: float32[]) (a: Tensor) : Tensor =
        let phase = a.unsqueeze 1L * torch.tensor(freq, dtype = a.dtype, device = a.device).unsqueeze 0L
        torch.cat ([| phase.sin (); phase.cos () |], 1L)

/// The architecture of a conditional noise-prediction network.
type NetworkShape =
    { DimX: int
      DimY: int
      Width: int
      Blocks: int
      /// Number of sinusoidal frequencies fed to the learned log-SNR embedding.
      Frequencies: int }

/// The part every denoiser here shares after its input projection: the learned log-SNR
/// embedding (fixed log-spaced sinusoids → Linear → SiLU → Linear), the residual MLP blocks with
/// GroupNorm and SiLU, and the output head (GroupNorm → SiLU → Linear to `outputs`).
type DenoiserTrunk(shape: NetworkShape, outputs: int) as this =
    inherit torch.nn.Module<Tensor, Tensor, Tensor>("DenoiserTrunk")
    let w = int64 shape.Width
    let groups = if shape.Width % 8 = 0 then 8 else 1
    // angular frequencies for periods from 2 to 64 log-SNR units (fixed, not trained)
    let freq = LogSnrFeatures.frequencies shape.Frequencies
    let emb1 = torch.nn.Linear(int64 (2 * shape.Frequencies), w)
    let emb2 = torch.nn.Linear(w, w)
    let blocks = torch.nn.ModuleList<ResidualBlock>([| for _ in 1 .. shape.Blocks -> new ResidualBlock(shape.Width, groups) |])
    let outNorm = new FeatureGroupNorm(groups, shape.Width)
    let outLin = torch.nn.Linear(w, int64 outputs)
    do this.RegisterComponents()

    /// The prediction from the projected input h0 [n; width] and the log-SNR a [n].
    /// Call inside a dispose scope.
    override _.forward(h0: Tensor, a: Tensor) =
        let e = emb2.forward (torch.nn.functional.silu (emb1.forward (LogSnrFeatures.sinusoids freq a)))
        let mutable h = h0
        for b in blocks do
            h <- b.forward (h, e)
        outLin.forward (torch.nn.functional.silu (outNorm.forward h))

/// Conditional noise predictor ε̂(z, a, y) of the paper's kind: input projection of
/// [z, y-or-absent, present-flag], then the shared trunk (learned log-SNR embedding, residual
/// MLP blocks with GroupNorm and SiLU, output of dim_x). "y absent" is an explicit flag plus a
/// learned stand-in vector, never y = 0 (0 is a common value of standardised y).
type DenoiserNet(shape: NetworkShape) as this =
    inherit torch.nn.Module("DenoiserNet")
    let inProj = torch.nn.Linear(int64 (shape.DimX + shape.DimY + 1), int64 shape.Width)
    let absentY = torch.nn.Parameter(torch.zeros(int64 shape.DimY))
    let trunk = new DenoiserTrunk(shape, shape.DimX)
    do this.RegisterComponents()

    member _.Shape = shape

    /// ε̂ for rows z [n; dx], a [n], y [n; dy] and present [n] (bool: whether y is given).
    /// Call inside a dispose scope.
    member _.Predict(z: Tensor, a: Tensor, y: Tensor, present: Tensor) : Tensor =
        let yIn = torch.where (present.unsqueeze 1L, y, absentY.expand_as y)
        let flag = present.``to``(z.dtype).unsqueeze 1L
        trunk.forward (inProj.forward (torch.cat ([| z; yIn; flag |], 1L)), a)

    /// Number of trainable parameters.
    member this.ParameterCount = this.parameters () |> Seq.sumBy (fun p -> p.numel ())

module Network =
    /// Width from the data dimension, as in the paper (Table 2): 64 / 128 / 256 for
    /// dim_x + dim_y ≤ 10 / ≤ 50 / larger.
    let defaultWidth (dimX: int) (dimY: int) =
        let d = dimX + dimY
        if d <= 10 then 64 elif d <= 50 then 128 else 256

    let shape (dimX: int) (dimY: int) (width: int) =
        Checks.requirePositiveInt "dimX" dimX
        Checks.requirePositiveInt "dimY" dimY
        Checks.requirePositiveInt "width" width
        { DimX = dimX; DimY = dimY; Width = width; Blocks = 3; Frequencies = 16 }

    /// The network as a Denoiser (inference: no_grad; call inside a dispose scope or dispose
    /// the result). Unconditional calls pass the "absent" flag.
    let asDenoiser (net: DenoiserNet) : Denoiser =
        fun z a y ->
            use _ = torch.no_grad ()
            let n = z.shape.[0]
            match y with
            | Some y ->
                use present = torch.ones([| n |], dtype = torch.ScalarType.Bool, device = z.device)
                net.Predict(z, a, y, present)
            | None ->
                use present = torch.zeros([| n |], dtype = torch.ScalarType.Bool, device = z.device)
                use y0 = torch.zeros([| n; int64 net.Shape.DimY |], dtype = z.dtype, device = z.device)
                net.Predict(z, a, y0, present)
