using Mmg.Core;

namespace Mmg;

/// <summary>Closed-form mutual information, for checking estimators and for Gaussian data.</summary>
public static class MutualInformation
{
    /// <summary>
    /// Exact I(X;Y) in nats of a jointly Gaussian (X, Y) with the given covariance, whose first
    /// <paramref name="dimX"/> rows and columns belong to X and the rest to Y.
    /// </summary>
    /// <exception cref="ArgumentException">The covariance is not square, symmetric and positive
    /// definite, or <paramref name="dimX"/> leaves X or Y empty.</exception>
    public static double Gaussian(double[,] covariance, int dimX)
    {
        ArgumentNullException.ThrowIfNull(covariance);
        using var cov = Core.Gaussian.ofArray2D(covariance);
        return Core.Gaussian.mutualInformation(dimX, cov);
    }

    /// <summary>Exact I(X;Y) = −½ log(1 − ρ²) of a bivariate normal with correlation ρ, |ρ| &lt; 1.</summary>
    public static double BivariateNormal(double rho)
    {
        if (!(Math.Abs(rho) < 1.0))
            throw new ArgumentException($"rho must lie strictly between -1 and 1, got {rho}.", nameof(rho));
        // closed form on doubles (no libtorch needed): −½ log((1 − ρ)(1 + ρ))
        return -0.5 * Math.Log((1.0 - rho) * (1.0 + rho));
    }
}
