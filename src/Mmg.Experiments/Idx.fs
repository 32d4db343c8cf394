namespace Mmg.Experiments

open Mmg.Core
open System
open System.IO
open TorchSharp

/// An IDX array as stored on disk: its dimensions and its unsigned-byte payload in row-major order.
type IdxArray =
    { Dims: int[]
      Data: byte[] }

/// The IDX format of the MNIST files (data/fetch-mnist.sh fetches them): a 4-byte magic number
/// (two zero bytes, a dtype byte, the number of dimensions), one big-endian int32 per dimension,
/// then the data in row-major order. Only the unsigned-byte dtype (0x08) is read and written,
/// which is what MNIST and Fashion-MNIST use.
module Idx =
    /// The dtype byte of unsigned bytes.
    [<Literal>]
    let UByte = 0x08uy

    let private dtypeName (b: byte) =
        match b with
        | 0x08uy -> "unsigned byte"
        | 0x09uy -> "signed byte"
        | 0x0Buy -> "int16"
        | 0x0Cuy -> "int32"
        | 0x0Duy -> "float32"
        | 0x0Euy -> "float64"
        | _ -> "unknown"

    let private bad (path: string) (problem: string) : 'T =
        raise (InvalidDataException(sprintf "'%s' is not a valid IDX file: %s" path problem))

    let private readInt32BigEndian (bytes: byte[]) (offset: int) =
        (int bytes.[offset] <<< 24) ||| (int bytes.[offset + 1] <<< 16) ||| (int bytes.[offset + 2] <<< 8) ||| int bytes.[offset + 3]

    let private writeInt32BigEndian (stream: Stream) (v: int) =
        stream.WriteByte(byte ((v >>> 24) &&& 0xFF))
        stream.WriteByte(byte ((v >>> 16) &&& 0xFF))
        stream.WriteByte(byte ((v >>> 8) &&& 0xFF))
        stream.WriteByte(byte (v &&& 0xFF))

    let private requireFile (path: string) =
        if String.IsNullOrWhiteSpace path then invalidArg "path" "the IDX path is empty."
        if not (File.Exists path) then
            raise (FileNotFoundException(sprintf "IDX file '%s' does not exist (for MNIST run data/fetch-mnist.sh first)." path, path))

    /// Reads the header of an open IDX stream: the dimensions, after checking the magic number,
    /// the dtype and that the file holds exactly the bytes the dimensions promise.
    let private readHeader (path: string) (stream: FileStream) : int[] * int =
        let head = Array.zeroCreate<byte> 4
        let got = stream.Read(head, 0, 4)
        if got < 4 then bad path (sprintf "it has only %d bytes, fewer than the 4-byte magic number." got)
        if head.[0] <> 0uy || head.[1] <> 0uy then
            bad path (sprintf "bad magic number 0x%02X%02X%02X%02X; an IDX file starts with two zero bytes." head.[0] head.[1] head.[2] head.[3])
        if head.[2] <> UByte then
            bad path (sprintf "dtype 0x%02X (%s) is not supported; only unsigned byte (0x08) is." head.[2] (dtypeName head.[2]))
        let rank = int head.[3]
        if rank = 0 then bad path "the magic number declares 0 dimensions."
        let dimBytes = Array.zeroCreate<byte> (4 * rank)
        let gotDims = stream.Read(dimBytes, 0, dimBytes.Length)
        if gotDims < dimBytes.Length then
            bad path (sprintf "truncated header: %d dimensions need %d bytes after the magic number, but only %d are there." rank dimBytes.Length gotDims)
        let dims = Array.init rank (fun i -> readInt32BigEndian dimBytes (4 * i))
        if dims |> Array.exists (fun d -> d < 0) then
            bad path (sprintf "negative dimension in [%s]." (String.Join(";", dims)))
        let expected = dims |> Array.fold (fun acc d -> acc * int64 d) 1L
        let available = stream.Length - int64 (4 + 4 * rank)
        if available < expected then
            bad path (sprintf "truncated data: dimensions [%s] need %d bytes of data but only %d are there." (String.Join(";", dims)) expected available)
        if available > expected then
            bad path (sprintf "%d unexpected bytes after the data of dimensions [%s] (%d bytes)." (available - expected) (String.Join(";", dims)) expected)
        if expected > int64 Int32.MaxValue then
            bad path (sprintf "dimensions [%s] are too large to read into memory at once." (String.Join(";", dims)))
        dims, 4 + 4 * rank

    /// The dimensions recorded in an IDX file's header (the file is checked in full).
    let dims (path: string) : int[] =
        requireFile path
        use stream = File.OpenRead path
        fst (readHeader path stream)

    /// Reads at most `maxItems` items along the first dimension (0 or less = all of them).
    /// Throws FileNotFoundException for a missing file and InvalidDataException, naming the file
    /// and the problem, for a wrong magic number, an unsupported dtype, or a truncated file.
    let readFirst (maxItems: int) (path: string) : IdxArray =
        requireFile path
        use stream = File.OpenRead path
        let dims, _ = readHeader path stream
        let items = if maxItems > 0 then min maxItems dims.[0] else dims.[0]
        let perItem = dims |> Array.skip 1 |> Array.fold (*) 1
        let data = Array.zeroCreate<byte> (items * perItem)
        let mutable read = 0
        while read < data.Length do
            let n = stream.Read(data, read, data.Length - read)
            if n = 0 then bad path (sprintf "the file ended after %d of %d data bytes." read data.Length)
            read <- read + n
        let outDims = Array.copy dims
        outDims.[0] <- items
        { Dims = outDims; Data = data }

    /// Reads a whole IDX file.
    let read (path: string) : IdxArray = readFirst 0 path

    /// Writes an unsigned-byte IDX file; the data length must equal the product of the dimensions.
    let write (path: string) (dims: int[]) (data: byte[]) =
        if isNull dims || dims.Length = 0 || dims.Length > 255 then
            invalidArg "dims" "an IDX array needs between 1 and 255 dimensions."
        if dims |> Array.exists (fun d -> d < 0) then
            invalidArg "dims" (sprintf "dimensions must be >= 0, got [%s]." (String.Join(";", dims)))
        let expected = dims |> Array.fold (fun acc d -> acc * int64 d) 1L
        if isNull data || int64 data.Length <> expected then
            invalidArg "data" (sprintf "dimensions [%s] need %d bytes but %d were given." (String.Join(";", dims)) expected (if isNull data then 0 else data.Length))
        let dir = Path.GetDirectoryName(Path.GetFullPath path)
        Directory.CreateDirectory dir |> ignore
        use stream = File.Create path
        stream.Write([| 0uy; 0uy; UByte; byte dims.Length |], 0, 4)
        for d in dims do writeInt32BigEndian stream d
        stream.Write(data, 0, data.Length)

    /// Loads at most `maxCount` images (0 = all) of a rank-3 IDX file as a float32 tensor
    /// [n; rows; cols] scaled to [0, 1] (byte / 255).
    let loadImages (maxCount: int) (path: string) : Tensor =
        let a = readFirst maxCount path
        if a.Dims.Length <> 3 then
            raise (InvalidDataException(sprintf "'%s' holds an array of dimensions [%s]; images need 3 dimensions [count; rows; cols]." path (String.Join(";", a.Dims))))
        use bytes = torch.tensor(a.Data, dtype = torch.ScalarType.Byte)
        use shaped = bytes.reshape(int64 a.Dims.[0], int64 a.Dims.[1], int64 a.Dims.[2])
        use f = shaped.``to`` torch.ScalarType.Float32
        f / 255.0f

    /// Loads at most `maxCount` labels (0 = all) of a rank-1 IDX file.
    let loadLabels (maxCount: int) (path: string) : int[] =
        let a = readFirst maxCount path
        if a.Dims.Length <> 1 then
            raise (InvalidDataException(sprintf "'%s' holds an array of dimensions [%s]; labels need 1 dimension [count]." path (String.Join(";", a.Dims))))
        a.Data |> Array.map int

    /// Writes images [n; rows; cols] with values in [0, 1] as an unsigned-byte IDX file
    /// (value·255, rounded, clamped to 0..255).
    let writeImages (path: string) (images: Tensor) =
        Checks.requireRank "images" 3 images
        use scaled = images.``to``(torch.ScalarType.Float32).cpu() * 255.0f
        use rounded = scaled.round ()
        use lo = torch.tensor(0.0f)
        use hi = torch.tensor(255.0f)
        use clamped = rounded.clamp(lo, hi)
        use b = clamped.``to`` torch.ScalarType.Byte
        use c = b.contiguous ()
        let data = c.data<byte>().ToArray()
        write path (images.shape |> Array.map int) data

    /// Writes labels as a rank-1 unsigned-byte IDX file (each label 0..255).
    let writeLabels (path: string) (labels: int[]) =
        if isNull labels then nullArg "labels"
        match labels |> Array.tryFindIndex (fun l -> l < 0 || l > 255) with
        | Some i -> invalidArg "labels" (sprintf "label %d at index %d does not fit an unsigned byte (0..255)." labels.[i] i)
        | None -> ()
        write path [| labels.Length |] (labels |> Array.map byte)
