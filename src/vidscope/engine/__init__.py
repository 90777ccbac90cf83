"""Planning and running analyzers: the plan, the one-input run and its scheduler, the workers
that host analyzers, the executors (local, Ray) and the run report."""
