// A C# program that uses Mmg only through its NuGet package: one KSG estimate on a bivariate
// normal benchmark task (ρ = 0.75), printed next to its closed-form truth, computed twice: on
// doubles, and by the Gaussian closed form on torch tensors (so libtorch's natives must have
// arrived through the packages). Exit code 0 when the estimate lies within 0.1 nats of the truth.
using System.Globalization;
using Mmg;

var task = BenchmarkTasks.Find("1v1-normal-0.75");
var (x, y) = task.Sample(500, seed: 1);
var estimator = Estimators.Create("ksg", new EstimatorSettings { Seed = 1 });
var result = estimator.Estimate(x, y);
var truth = MutualInformation.BivariateNormal(0.75);
var torchTruth = MutualInformation.Gaussian(new[,] { { 1.0, 0.75 }, { 0.75, 1.0 } }, dimX: 1);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"estimator={result.Estimator} estimate={result.Estimate:R} truth={truth:R} torch_truth={torchTruth:R}"));
return Math.Abs(result.Estimate - truth) < 0.1 ? 0 : 1;
