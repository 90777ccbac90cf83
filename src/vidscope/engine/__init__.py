"""Planning and running analyzers: dependency graph, workers, executor, run report."""
