using System.Globalization;

namespace Mmg;

/// <summary>
/// Checks of option values shared by every command, made before anything is read, trained or
/// written (and without loading libtorch): counts must be positive and below their limits, and
/// names (--device, --profile) must be known. Each failure is one line naming the option and value.
/// </summary>
internal static class Options
{
    /// <summary>The largest --threads accepted.</summary>
    public const int MaxThreads = 1024;

    /// <summary>The largest --samples accepted by any command (the smallest task has 2 columns);
    /// a task with more columns allows fewer (Core.Tasks.MaxValues values in all).</summary>
    public const int MaxSamples = Core.Tasks.MaxValues / 2;

    /// <summary>The devices --device accepts.</summary>
    public static readonly string[] Devices = ["cpu", "cuda"];

    /// <summary>The profiles --profile accepts.</summary>
    public static readonly string[] Profiles = ["default", "paper", "quick"];

    public static void Check(string command, CommandContext c)
    {
        AtLeast(c, "threads", 1, MaxThreads);
        AtLeast(c, "steps", 1, int.MaxValue);
        AtLeast(c, "seeds", 1, int.MaxValue);
        AtLeast(c, "images", 1, int.MaxValue);
        AtLeast(c, "samples", command == "estimate" ? 2 : 1, MaxSamples);
        if (command == "estimate")
        {
            AtLeast(c, "folds", 1, 100);
            AtLeast(c, "test", 1, 1_000_000);
        }
        if (command == "citest")
        {
            AtLeast(c, "k", 1, 1000);
            AtLeast(c, "kperm", 1, 1000);
            AtLeast(c, "permutations", 1, 1_000_000);
            AtLeast(c, "runs", 1, 1_000_000);
        }
        OneOf(c, "device", Devices);
        OneOf(c, "profile", Profiles);
        if (command == "bench merge" && string.IsNullOrWhiteSpace(c.Get("dirs")))
            throw new ArgumentException("bench merge needs the shard folders to merge, e.g. `mmg bench merge runs/s0 runs/s1 --out runs/all`.");
    }

    private static void AtLeast(CommandContext c, string name, int min, int max)
    {
        if (c.Get(name) is not { } text) return;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            throw new ArgumentException($"--{name} must be a whole number, got '{text}'.");
        if (v < min) throw new ArgumentException($"--{name} must be at least {min}, got {v}.");
        if (v > max) throw new ArgumentException($"--{name} must be at most {max}, got {v}.");
    }

    private static void OneOf(CommandContext c, string name, string[] known)
    {
        if (c.Get(name) is not { } text) return;
        if (!known.Contains(text.Trim().ToLowerInvariant()))
            throw new ArgumentException($"unknown --{name} '{text}'; use {string.Join(" or ", known)}.");
    }
}
