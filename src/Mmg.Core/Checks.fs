namespace Mmg.Core

open System
open TorchSharp

/// Precondition checks shared by the core. Every failure is an ArgumentException that names the
/// argument and the shapes or values involved.
module Checks =
    /// "[3;4]"-style text for a tensor's shape.
    let shapeText (t: torch.Tensor) = "[" + String.Join(";", t.shape) + "]"

    let requireRank (name: string) (rank: int) (t: torch.Tensor) =
        if int (t.dim ()) <> rank then
            invalidArg name (sprintf "%s must have rank %d, but has shape %s." name rank (shapeText t))

    let requireSameShape (nameA: string) (a: torch.Tensor) (nameB: string) (b: torch.Tensor) =
        if a.shape <> b.shape then
            invalidArg nameB (sprintf "%s has shape %s but %s has shape %s; they must match." nameA (shapeText a) nameB (shapeText b))

    let requireSameRows (nameA: string) (a: torch.Tensor) (nameB: string) (b: torch.Tensor) =
        if a.shape.[0] <> b.shape.[0] then
            invalidArg nameB (sprintf "%s has %d rows (shape %s) but %s has %d (shape %s); they must match." nameA a.shape.[0] (shapeText a) nameB b.shape.[0] (shapeText b))

    let requireFinite (name: string) (v: float) =
        if Double.IsNaN v || Double.IsInfinity v then invalidArg name (sprintf "%s must be finite, got %g." name v)

    let requirePositive (name: string) (v: float) =
        requireFinite name v
        if v <= 0.0 then invalidArg name (sprintf "%s must be > 0, got %g." name v)

    let requirePositiveInt (name: string) (v: int) =
        if v <= 0 then invalidArg name (sprintf "%s must be > 0, got %d." name v)
