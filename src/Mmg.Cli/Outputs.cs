namespace Mmg;

/// <summary>
/// Output paths: checked before any work (so a bad path fails in a second, not after training)
/// and written atomically (a uniquely named temporary file in the target folder, renamed into
/// place, removed if anything fails), so no half-written file or <c>*.tmp</c> debris remains.
/// </summary>
internal static class Outputs
{
    /// <summary>Checks that <paramref name="path"/> can become a file, without writing anything:
    /// not a directory, and its nearest existing parent is a writable folder. "-" (stdout) passes.</summary>
    public static void CheckFile(string option, string? path)
    {
        if (path is null || path == "-") return;
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException($"--{option} is empty; give a file name.");
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            throw new ArgumentException($"--{option} {path} is a directory; give a file name (e.g. {Path.Combine(path, "out" + Extension(option))}).");
        if (File.Exists(full) && File.GetAttributes(full).HasFlag(FileAttributes.ReadOnly))
            throw new ArgumentException($"--{option} {path} exists and is read-only.");
        CheckParent(option, path, full);
    }

    /// <summary>Checks a --save-model folder (see <see cref="Core.ModelFiles.checkTarget"/>) and its parent.</summary>
    public static void CheckModelFolder(string option, string path)
    {
        try
        {
            Core.ModelFiles.checkTarget(path);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"--{option} {path}: {e.Message.Replace(" (Parameter 'dir')", "", StringComparison.Ordinal)}");
        }
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        CheckParent(option, path, full);
    }

    /// <summary>Refuses two outputs (or an output and the input) on the same path.</summary>
    public static void CheckDistinct(IEnumerable<(string Option, string? Path)> paths)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (option, path) in paths)
        {
            if (path is null || path == "-") continue;
            var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
            if (seen.TryGetValue(full, out var other))
                throw new ArgumentException($"--{option} and --{other} both name {path}; give each its own path.");
            seen[full] = option;
        }
    }

    private static void CheckParent(string option, string path, string full)
    {
        var dir = Path.GetDirectoryName(full);
        while (dir is not null && !Directory.Exists(dir))
        {
            if (File.Exists(dir)) throw new ArgumentException($"--{option} {path}: {dir} is a file, not a folder.");
            dir = Path.GetDirectoryName(dir);
        }
        if (dir is null) throw new ArgumentException($"--{option} {path}: no folder of this path exists.");
        if (!Writable(dir)) throw new ArgumentException($"--{option} {path}: the folder {dir} is not writable.");
    }

    /// <summary>Whether a file can be created in <paramref name="dir"/> (a probe file, deleted at once).</summary>
    private static bool Writable(string dir)
    {
        try
        {
            using var _ = new FileStream(Path.Combine(dir, $".mmg-probe-{Guid.NewGuid():N}"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
            return true;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return false;
        }
    }

    private static string Extension(string option) => option switch
    {
        "json" => ".json",
        "plot" => ".png",
        _ => ".csv",
    };

    /// <summary>Writes a file atomically: <paramref name="write"/> fills a temporary file next to
    /// <paramref name="path"/> (named .NAME.RANDOM.tmp + <paramref name="suffix"/>), which is then
    /// renamed over <paramref name="path"/>; on any failure the temporary file is removed.</summary>
    public static void WriteAtomically(string path, Action<string> write, string suffix = "")
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new ArgumentException($"{path} is a directory; give a file name.");
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp{suffix}");
        try
        {
            write(tmp);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
