using Xunit;

namespace Mmg.Tests;

public class GaussianTests
{
    [Fact]
    public void BivariateNormalMatchesClosedForm()
    {
        var mi = MutualInformation.Gaussian(new[,] { { 1.0, 0.75 }, { 0.75, 1.0 } }, 1);
        Assert.Equal(-0.5 * Math.Log(1 - 0.75 * 0.75), mi, 12);
        Assert.Equal(0.4133, mi, 4);
    }

    [Fact]
    public void IndependentBlocksHaveZeroMutualInformation()
    {
        var cov = new[,] { { 2.0, 0.3, 0, 0 }, { 0.3, 1.0, 0, 0 }, { 0, 0, 1.0, 0 }, { 0, 0, 0, 1.0 } };
        Assert.Equal(0.0, MutualInformation.Gaussian(cov, 2), 12);
    }

    [Fact]
    public void NonPositiveDefiniteCovarianceIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => MutualInformation.Gaussian(new[,] { { 1.0, 2.0 }, { 2.0, 1.0 } }, 1));
        Assert.Contains("positive definite", e.Message);
    }

    [Fact]
    public void CliPrintsTheBivariateMi()
    {
        var o = new StringWriter();
        var e = new StringWriter();
        Assert.Equal(0, Cli.Run(new[] { "gaussian-mi", "--rho", "0.75" }, o, e));
        Assert.Contains("0.413", o.ToString());
        Assert.Equal(1, Cli.Run(new[] { "gaussian-mi", "--rho", "2" }, o, e));
        Assert.Contains("rho", e.ToString());
    }
}
