using Xunit;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Mmg.Tests;

/// <summary>Tests that train torch models or touch global torch state run one at a time.</summary>
[CollectionDefinition("torch", DisableParallelization = true)]
public class TorchCollection;
