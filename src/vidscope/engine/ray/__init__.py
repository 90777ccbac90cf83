"""The Ray executor: the same analyzers over many videos, GPUs and machines.

```
driver (RayExecutor)                     cluster
  probe nothing, submit videos  ──>  video task (1 CPU): decode + model-free analyzers,
  (at most max_videos in flight)        the same Scheduler as the local executor
                                          │ batches by reference, one in flight per
                                          ▼ analyzer and video (backpressure)
                                     model actors: one pool per model-backed analyzer,
                                     setup() once per actor, CPU/GPU share as declared
  progress relay  <──  events from every video task
```
Tracks are written by the video task straight into the bundle directory, so on several
machines the output folder must be shared storage (NFS, a mounted bucket).
"""

from __future__ import annotations

import importlib.util

from vidscope.errors import UsageError


def require_ray() -> None:
    """Fail with the fix when Ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise UsageError(
            "the ray executor needs Ray: pip install 'vidscope[ray]' (or use --executor local)"
        )
