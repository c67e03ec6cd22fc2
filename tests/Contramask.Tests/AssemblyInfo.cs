// Model weights are initialized from libtorch's global generator (seeded per run): tests that train in parallel
// would draw from it in turn and lose their determinism, so the tests run one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
