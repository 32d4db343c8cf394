namespace Mmg.CliArguments

open System
open System.Collections.Generic

// The options of each `mmg` command as one typed, validated record of plain .NET types, built by
// CommandLine.parse from Argu's parse results. Conventions: a field is named after its option
// (--save-model → SaveModel); counts, names and lists are checked when the record is built, so a
// command reads values that are already in range; an option whose absence means something (a
// default that depends on other options, or a check of whether it was given) is null when it is
// not given (string | null, Nullable<int>), every other option carries its default.

/// --profile, --steps, --device, --threads: the options of the commands that train networks
/// (estimate, bench, highmi, consistency), read and checked by one function for all four.
type TrainingOptions =
    { /// --profile: "default", "paper" or "quick" (lower case); null when not given (the default profile).
      Profile: string | null
      /// --steps, at least 1; null when not given (the profile's).
      Steps: Nullable<int>
      /// --device: "cpu" or "cuda" (lower case); null when not given (cpu).
      Device: string | null
      /// --threads, 1 to 1024; null when not given (1, or SLURM_CPUS_PER_TASK in the job runs).
      Threads: Nullable<int> }

/// --out, --shard, --shard-count, --allow-version-change: where a resumable, shardable job run
/// (bench, highmi, consistency) writes, and which shard it is.
type JobOptions =
    { /// --out: the output folder, possibly with '{shard}'; null when not given (an error for a run).
      Out: string | null
      /// --shard: "i/n" or "auto", as given (the shard is resolved against the environment when the run starts).
      Shard: string | null
      /// --shard-count, at least 1; null when not given.
      ShardCount: Nullable<int>
      /// --allow-version-change.
      AllowVersionChange: bool }

/// `mmg estimate`.
type EstimateOptions =
    { /// --task: a benchmark task id.
      Task: string | null
      /// --input: a CSV file.
      Input: string | null
      /// --x, --y, --z: column lists as given (the CSV reader checks them against the header).
      X: string | null
      Y: string | null
      Z: string | null
      /// --samples, 2 to CommandLine.MaxSamples; null: the profile's.
      Samples: Nullable<int>
      /// --estimator; null: the default for I(X;Y) or I(X;Y|Z).
      Estimator: string | null
      /// --seed (default 0).
      Seed: int
      Training: TrainingOptions
      Json: string | null
      Plot: string | null
      SaveModel: string | null
      LoadModel: string | null
      Pointwise: string | null
      /// --folds, 1 to 100.
      Folds: Nullable<int>
      /// --test: permutations, 1 to 1 000 000.
      Test: Nullable<int>
      /// --set key=value,…: the estimator-specific options (free-form by design: each estimator
      /// refuses keys it does not read), keys unique; null when not given.
      Set: IReadOnlyDictionary<string, string> | null }

/// `mmg tasks`.
type TasksOptions =
    { Json: string | null }

/// `mmg estimators`.
type EstimatorsOptions =
    { Json: string | null }

/// `mmg sample`.
type SampleOptions =
    { Task: string
      /// --samples, 1 to CommandLine.MaxSamples (default 10000).
      Samples: int
      /// --seed (default 0).
      Seed: int
      Out: string }

/// `mmg bench merge`.
type MergeOptions =
    { /// The shard folders, at least one.
      Dirs: string[]
      Out: string
      AllowPartial: bool
      AllowVersionChange: bool }

/// `mmg bench`.
type BenchOptions =
    { /// --tasks, split at commas (default ["all"]; ["cmi"]: the CMI tasks).
      Tasks: string[]
      /// --estimators, split at commas (["all"]: every one); null: the default for the kind of task.
      Estimators: string[] | null
      /// --seeds, at least 1 (default 1).
      Seeds: int
      /// --samples, 1 to CommandLine.MaxSamples; null: the profile's.
      Samples: Nullable<int>
      Training: TrainingOptions
      Job: JobOptions
      /// --set key=value,…: estimator-specific options for every job, keys unique; null when not given.
      Set: IReadOnlyDictionary<string, string> | null
      Speed: bool }

/// `mmg highmi`.
type HighMiOptions =
    { /// --estimators, split at commas (default mmg-adaptive, mmg-orthogonal-adaptive, mmg-debiased).
      Estimators: string[]
      /// --seeds, at least 1 (default 1).
      Seeds: int
      /// --samples, 1 to CommandLine.MaxSamples; null: the profile's.
      Samples: Nullable<int>
      /// --mi: positive, finite nats (default 1, 2.5, 5, 7.5, 10, 12.5, 15).
      Mi: float[]
      /// --transforms, split at commas (default none, half_cube, spiral).
      Transforms: string[]
      Training: TrainingOptions
      Job: JobOptions
      /// --set key=value,…: estimator-specific options for every job, keys unique; null when not given.
      Set: IReadOnlyDictionary<string, string> | null
      FigureOnly: bool }

/// `mmg consistency`.
type ConsistencyOptions =
    { /// --test: baseline, dpi, additivity or all (default all; the runner checks the name).
      Test: string
      /// --estimators, split at commas; null: the default estimator.
      Estimators: string[] | null
      /// --seeds, at least 1 (default 1).
      Seeds: int
      /// --images, at least 1; null: the configuration's.
      Images: Nullable<int>
      /// --data: the MNIST folder; null: data/cache/mnist (or synthetic images with --quick).
      Data: string | null
      Training: TrainingOptions
      Job: JobOptions
      Quick: bool
      FigureOnly: bool }

/// `mmg citest`.
type CiTestOptions =
    { /// --tasks, split at commas; null: the calibration's default, every CMI task (also ["cmi"]).
      Tasks: string[] | null
      Input: string | null
      X: string | null
      Y: string | null
      Z: string | null
      /// --runs, 1 to 1 000 000; null: 100.
      Runs: Nullable<int>
      /// --samples, 1 to CommandLine.MaxSamples; null: 500.
      Samples: Nullable<int>
      /// --permutations, 1 to 1 000 000 (default 99).
      Permutations: int
      /// --k, 1 to 1000 (default 5).
      K: int
      /// --kperm, 1 to 1000 (default 5).
      KPerm: int
      /// --alpha, in (0, 1) (default 0.05).
      Alpha: float
      /// --seed (default 0).
      Seed: int
      Out: string | null }

/// `mmg gaussian-mi`.
type GaussianMiOptions =
    { /// --rho (default 0.75; the closed form checks its range).
      Rho: float }

/// A parsed `mmg` command line: the command and its options.
[<RequireQualifiedAccess>]
type Command =
    | Estimate of Options: EstimateOptions
    | Tasks of Options: TasksOptions
    | Estimators of Options: EstimatorsOptions
    | Sample of Options: SampleOptions
    | Bench of Options: BenchOptions
    | BenchMerge of Options: MergeOptions
    | HighMi of Options: HighMiOptions
    | Consistency of Options: ConsistencyOptions
    | GaussianMi of Options: GaussianMiOptions
    | CiTest of Options: CiTestOptions
