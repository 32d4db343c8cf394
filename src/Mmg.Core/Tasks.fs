namespace Mmg.Core

// Interim task list (two Gaussian tasks) until the full 40-task library lands.
open System
open TorchSharp

type BenchmarkTask =
    { Id: string
      Name: string
      DimX: int
      DimY: int
      TrueMI: float
      Sample: int -> int -> float[,] * float[,] }

module Tasks =
    let private gaussian id name dimX (cov: float[,]) =
        use c = Gaussian.ofArray2D cov
        { Id = id; Name = name; DimX = dimX; DimY = Array2D.length1 cov - dimX
          TrueMI = Gaussian.mutualInformation dimX c
          Sample = fun n seed ->
            use c = Gaussian.ofArray2D cov
            use g = new torch.Generator(uint64 seed)
            let x, y = Gaussian.sample g n dimX c
            use x = x
            use y = y
            Data.toArray2D x, Data.toArray2D y }

    let all =
        [ gaussian "1v1-normal-0.75" "Bivariate normal 1 × 1 (rho=0.75)" 1 (array2D [ [ 1.0; 0.75 ]; [ 0.75; 1.0 ] ])
          gaussian "multinormal-dense-5-5-0.5" "Multinormal 5 × 5 (dense)" 5 (Array2D.init 10 10 (fun i j -> if i = j then 1.0 else 0.5)) ]

    let tryFind (id: string) = all |> List.tryFind (fun t -> t.Id = id)

    let find (id: string) =
        match tryFind id with
        | Some t -> t
        | None -> invalidArg "task" (sprintf "unknown task '%s'; `mmg tasks` lists them." id)
