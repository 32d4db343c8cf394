using Xunit;
using Xunit.Sdk;
using Xunit.v3;

// No two tests of this assembly run at once (xunit 2's CollectionBehavior(DisableTestParallelization = true)).
[assembly: Parallelization(Mode = ParallelMode.None)]

namespace Mmg.Tests;

/// <summary>Tests that train torch models or touch global torch state run one at a time.</summary>
[CollectionDefinition("torch", DisableParallelization = true)]
public class TorchCollection;
