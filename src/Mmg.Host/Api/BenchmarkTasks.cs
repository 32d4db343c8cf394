namespace Mmg;

/// <summary>A benchmark task: a named sampler that knows its true MI.</summary>
public sealed class BenchmarkTask
{
    private readonly Core.BenchmarkTask _inner;

    internal BenchmarkTask(Core.BenchmarkTask inner) => _inner = inner;

    /// <summary>bmi's id, e.g. "1v1-normal-0.75".</summary>
    public string Id => _inner.Id;

    /// <summary>Display name.</summary>
    public string Name => _inner.Name;

    /// <summary>Family, e.g. "multinormal".</summary>
    public string Family => _inner.Family;

    /// <summary>Dimension of X.</summary>
    public int DimX => _inner.DimX;

    /// <summary>Dimension of Y.</summary>
    public int DimY => _inner.DimY;

    /// <summary>The exact MI in nats.</summary>
    public double TrueMutualInformation => _inner.TrueMI;

    /// <summary>n samples with the given seed: (x [n, DimX], y [n, DimY]).</summary>
    public (double[,] X, double[,] Y) Sample(int n, int seed)
    {
        var (x, y) = _inner.Sample.Invoke(n).Invoke(seed);
        return (x, y);
    }
}

/// <summary>The 40 tasks of the standard benchmark (Czyż et al. 2023) and the high-MI family.</summary>
public static class BenchmarkTasks
{
    /// <summary>All 40 tasks, in bmi's order.</summary>
    public static IReadOnlyList<BenchmarkTask> All { get; } = Core.Tasks.all.Select(t => new BenchmarkTask(t)).ToArray();

    /// <summary>A task by id.</summary>
    /// <exception cref="ArgumentException">Unknown id (the message lists close ids).</exception>
    public static BenchmarkTask Find(string id) => new(Core.Tasks.find(id));

    /// <summary>The sparse 3×3 two-pair task with the given true MI (nats), transformed by "none", "half_cube" or "spiral".</summary>
    public static BenchmarkTask HighMi(string transform, double mutualInformation) =>
        new(Core.Tasks.highMi(transform, Core.Tasks.strengthForMi(mutualInformation)));
}
