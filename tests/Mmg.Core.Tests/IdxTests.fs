module Mmg.Core.Tests.IdxTests

open System
open System.IO
open TorchSharp
open global.Xunit
open Mmg.Core
open Mmg.Experiments

/// True when a process with this id is running.
let private alive (pid: int) =
    try
        use p = Diagnostics.Process.GetProcessById pid
        not p.HasExited
    with _ -> false

/// One scratch folder per test process (mmg-tests-<pid>). The test host is often ended without a
/// clean exit, so instead of deleting on exit, each run deletes the folders of processes that are gone.
let private scratchRoot =
    lazy
        (for d in Directory.GetDirectories(Path.GetTempPath(), "mmg-tests-*") do
            match Int32.TryParse(Path.GetFileName(d).Substring("mmg-tests-".Length)) with
            | true, pid when not (alive pid) -> (try Directory.Delete(d, true) with _ -> ())
            | _ -> ()
         let root = Path.Combine(Path.GetTempPath(), sprintf "mmg-tests-%d" Environment.ProcessId)
         Directory.CreateDirectory root |> ignore
         root)

/// A fresh temporary folder (inside the process's scratch folder).
let tempDir () =
    let d = Path.Combine(scratchRoot.Force(), Guid.NewGuid().ToString("N"))
    Directory.CreateDirectory d |> ignore
    d

let tinyBytes = Array.init (3 * 2 * 4) (fun i -> byte ((i * 37 + 5) % 256))

/// Expects an exception of type 'E whose message names the file and contains `problem`.
let rejects<'E when 'E :> exn> (path: string) (problem: string) (f: unit -> unit) =
    let ex = Assert.Throws<'E>(Action f)
    Assert.Contains(path, ex.Message)
    Assert.Contains(problem, ex.Message)

[<Fact>]
let ``write then read returns the same dims and bytes`` () =
    let path = Path.Combine(tempDir (), "tiny-idx3-ubyte")
    Idx.write path [| 3; 2; 4 |] tinyBytes
    let a = Idx.read path
    Assert.Equal<int[]>([| 3; 2; 4 |], a.Dims)
    Assert.Equal<byte[]>(tinyBytes, a.Data)
    Assert.Equal(16L + 24L, FileInfo(path).Length)
    // The header is big-endian: magic 00 00 08 03, then 00 00 00 03 for the first dimension.
    let raw = File.ReadAllBytes path
    Assert.Equal<byte[]>([| 0uy; 0uy; 8uy; 3uy; 0uy; 0uy; 0uy; 3uy |], raw.[0..7])

[<Fact>]
let ``readFirst reads only the first items and loadImages scales bytes to 0..1`` () =
    let path = Path.Combine(tempDir (), "tiny-idx3-ubyte")
    Idx.write path [| 3; 2; 4 |] tinyBytes
    let a = Idx.readFirst 2 path
    Assert.Equal<int[]>([| 2; 2; 4 |], a.Dims)
    Assert.Equal<byte[]>(tinyBytes.[0..15], a.Data)
    use images = Idx.loadImages 0 path
    Assert.Equal<int64[]>([| 3L; 2L; 4L |], images.shape)
    let values = images.data<float32>().ToArray()
    for i in 0 .. values.Length - 1 do
        Assert.Equal(float32 tinyBytes.[i] / 255.0f, values.[i], 6)

[<Fact>]
let ``labels and images round trip through their writers`` () =
    let dir = tempDir ()
    let labels = [| 0; 9; 3; 255; 7 |]
    Idx.writeLabels (Path.Combine(dir, "l")) labels
    Assert.Equal<int[]>(labels, Idx.loadLabels 0 (Path.Combine(dir, "l")))
    use images = Consistency.synthetic 3 5
    Idx.writeImages (Path.Combine(dir, "i")) images
    use back = Idx.loadImages 0 (Path.Combine(dir, "i"))
    use diff = (back - images).abs().max ()
    Assert.True(diff.item<float32> () <= 0.5f / 255.0f + 1e-6f, sprintf "max difference %g" (diff.item<float32> ()))

[<Fact>]
let ``a truncated file is rejected with a message naming the file`` () =
    let path = Path.Combine(tempDir (), "cut-idx3-ubyte")
    Idx.write path [| 3; 2; 4 |] tinyBytes
    let raw = File.ReadAllBytes path
    File.WriteAllBytes(path, raw.[0 .. raw.Length - 6])
    rejects<InvalidDataException> path "truncated data" (fun () -> Idx.read path |> ignore)
    File.WriteAllBytes(path, raw.[0..9])
    rejects<InvalidDataException> path "truncated header" (fun () -> Idx.read path |> ignore)
    File.WriteAllBytes(path, raw.[0..1])
    rejects<InvalidDataException> path "fewer than the 4-byte magic" (fun () -> Idx.read path |> ignore)

[<Fact>]
let ``bad magic, unsupported dtype and trailing bytes are rejected with a message naming the file`` () =
    let path = Path.Combine(tempDir (), "bad-idx3-ubyte")
    Idx.write path [| 3; 2; 4 |] tinyBytes
    let raw = File.ReadAllBytes path
    let patched (i: int) (v: byte) = Array.mapi (fun j b -> if j = i then v else b) raw
    File.WriteAllBytes(path, patched 0 0x89uy)
    rejects<InvalidDataException> path "bad magic number" (fun () -> Idx.read path |> ignore)
    File.WriteAllBytes(path, patched 2 0x0Duy)
    rejects<InvalidDataException> path "dtype 0x0D (float32)" (fun () -> Idx.read path |> ignore)
    File.WriteAllBytes(path, Array.append raw [| 1uy; 2uy |])
    rejects<InvalidDataException> path "2 unexpected bytes" (fun () -> Idx.read path |> ignore)
    let missing = Path.Combine(tempDir (), "nothing-here")
    rejects<FileNotFoundException> missing "does not exist" (fun () -> Idx.read missing |> ignore)

[<Fact>]
let ``images must be rank 3 and the writer checks the byte count`` () =
    let path = Path.Combine(tempDir (), "labels-idx1-ubyte")
    Idx.writeLabels path [| 1; 2; 3 |]
    rejects<InvalidDataException> path "need 3 dimensions" (fun () -> Idx.loadImages 0 path |> ignore)
    let ex = Assert.Throws<ArgumentException>(fun () -> Idx.write path [| 2; 2 |] [| 1uy; 2uy; 3uy |])
    Assert.Contains("[2;2] need 4 bytes but 3", ex.Message)

/// Where data/fetch-mnist.sh puts MNIST: $MMG_DATA_CACHE, else data/cache/mnist under the
/// repository root (found by walking up from the test binaries to the folder with Mmg.sln).
let mnistFolder () =
    let fromEnv = Environment.GetEnvironmentVariable "MMG_DATA_CACHE"
    if not (String.IsNullOrWhiteSpace fromEnv) then fromEnv
    else
        let rec up (d: DirectoryInfo) =
            if isNull d then None
            elif File.Exists(Path.Combine(d.FullName, "Mmg.sln")) then Some d.FullName
            else up d.Parent
        match up (DirectoryInfo AppContext.BaseDirectory) with
        | Some root -> Path.Combine(root, "data", "cache", "mnist")
        | None -> Path.Combine("data", "cache", "mnist")

let private mnistNames = [| "train-images-idx3-ubyte"; "train-labels-idx1-ubyte"; "t10k-images-idx3-ubyte"; "t10k-labels-idx1-ubyte" |]

/// The four MNIST files' paths, or None when any is absent.
let mnistPaths () =
    let folder = mnistFolder ()
    let paths = mnistNames |> Array.map (fun n -> Path.Combine(folder, n))
    if paths |> Array.forall File.Exists then Some paths else None

/// The four MNIST files' paths for a test that needs the real MNIST (optional: fetched by
/// data/fetch-mnist.sh, not committed); writes the folder to the test output. When any file is
/// absent the test stops here and is reported as SKIPPED, with the reason (xunit v3's dynamic
/// skip, Assert.Skip), rather than passed. Call it first, before any work.
let mnistFiles (output: ITestOutputHelper) =
    match mnistPaths () with
    | Some paths ->
        output.WriteLine(sprintf "MNIST files in %s" (mnistFolder ()))
        paths
    | None ->
        Assert.Skip(sprintf "MNIST not found in %s; run data/fetch-mnist.sh (or set MMG_DATA_CACHE) to run this test." (mnistFolder ()))
        // Assert.Skip always throws; F# does not know it returns no value.
        Array.empty

type RealMnist(output: ITestOutputHelper) =
    [<Fact>]
    member _.``real MNIST files, when fetched, have the published shapes``() =
        let files = mnistFiles output
        let trainImages, trainLabels, testImages, testLabels = files.[0], files.[1], files.[2], files.[3]
        Assert.Equal<int[]>([| 60000; 28; 28 |], Idx.dims trainImages)
        Assert.Equal<int[]>([| 10000; 28; 28 |], Idx.dims testImages)
        let labels = Idx.loadLabels 0 trainLabels
        Assert.Equal(60000, labels.Length)
        Assert.Equal<int[]>([| 0 .. 9 |], labels |> Array.distinct |> Array.sort)
        Assert.Equal(10000, (Idx.loadLabels 0 testLabels).Length)
        use first = Idx.loadImages 100 trainImages
        use mx = first.max ()
        use mn = first.min ()
        Assert.Equal(1.0f, mx.item<float32> ())
        Assert.Equal(0.0f, mn.item<float32> ())
        output.WriteLine(sprintf "checked the real MNIST files in %s" (mnistFolder ()))
