"""The run report: where the time went, how much memory and GPU, what the tracks cover."""

from __future__ import annotations

import contextlib
import resource
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from vidscope.timeline.coverage import Coverage


@dataclass
class StageStats:
    """Busy time of one stage (an analyzer, or the decoder), measured around its work only."""

    busy: float = 0.0
    setup: float = 0.0
    """Model loading time, paid once per engine (0 when the model was already resident)."""
    items: int = 0
    batches: int = 0
    records: int = 0
    analyzed: Coverage | None = None
    """Media time the stage actually looked at (frame analyzers: each sampled frame's tick)."""
    counters: dict[str, Any] = field(default_factory=dict)
    """What the analyzer itself reports (see ``Analyzer.report``)."""

    def timed(self) -> _Timer:
        return _Timer(self)


class _Timer:
    def __init__(self, stats: StageStats) -> None:
        self.stats = stats

    def __enter__(self) -> None:
        self._t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.stats.busy += time.perf_counter() - self._t0


class _Gpu:
    """GPU utilisation sampling through NVML, when a GPU analyzer runs and pynvml is present."""

    def __init__(self) -> None:
        self.handles: list[Any] = []
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self.handles = [
                pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())
            ]
        except Exception:
            self.handles = []

    def sample(self) -> tuple[float, float]:
        util = [self._nvml.nvmlDeviceGetUtilizationRates(h).gpu for h in self.handles]
        mem = [self._nvml.nvmlDeviceGetMemoryInfo(h).used for h in self.handles]
        return sum(util) / len(util), sum(mem) / 2**20


def _process_peak_rss() -> int:
    """This process's peak resident memory since it started, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class ResourceMonitor:
    """Samples resident memory (this process and its worker processes) in the background."""

    START_DELAY = 0.5

    def __init__(self, interval: float = 0.1, gpu: bool = False) -> None:
        self.interval = interval
        self.peak_rss = 0
        self._gpu = _Gpu() if gpu else None
        self._gpu_util: list[float] = []
        self.peak_gpu_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vidscope-monitor", daemon=True)
        self._proc: Any = None
        self._children: list[Any] = []
        self._samples = 0

    def _rss(self) -> int:
        if self._proc is None:
            # Imported on first sample, normally on the monitor's own thread: the caller's
            # thread is on the critical path of a short run, the monitor's is not.
            import psutil

            self._psutil = psutil
            self._proc = psutil.Process()
        total = self._proc.memory_info().rss
        # Finding children scans every process on the machine; worker processes live as long
        # as the engine, so looking for new ones once a second is enough.
        if self._samples % 10 == 0:
            with contextlib.suppress(self._psutil.Error):
                self._children = self._proc.children(recursive=True)
        self._samples += 1
        for child in self._children:
            with contextlib.suppress(self._psutil.Error):
                total += child.memory_info().rss
        return total

    def _run(self) -> None:
        # Importing psutil holds the GIL for tens of milliseconds, a sixth of a short run:
        # a run that ends within the first interval is measured at exit instead.
        self._stop.wait(self.START_DELAY)
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self._rss())
            if self._gpu and self._gpu.handles:
                util, mem = self._gpu.sample()
                self._gpu_util.append(util)
                self.peak_gpu_mb = max(self.peak_gpu_mb, mem)
            self._stop.wait(self.interval)

    def __enter__(self) -> ResourceMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._proc is None:
            # Never sampled: a run this short has no worker processes worth counting, and the
            # process's own peak is exact.
            self.peak_rss = _process_peak_rss()
        else:
            self.peak_rss = max(self.peak_rss, self._rss())

    def gpu(self) -> dict[str, Any] | None:
        if not self._gpu_util:
            return None
        return {
            "mean_utilisation": round(sum(self._gpu_util) / len(self._gpu_util), 1),
            "peak_memory_mb": round(self.peak_gpu_mb, 1),
        }


def build_report(
    *,
    wall: float,
    duration: float,
    span: tuple[float, float],
    stages: dict[str, StageStats],
    monitor: ResourceMonitor,
    coverage: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report stored in the manifest and printed at the end of a run."""
    analyzers: dict[str, dict[str, Any]] = {}
    for name, s in stages.items():
        analyzers[name] = {
            "busy_s": round(s.busy, 3),
            "setup_s": round(s.setup, 3),
            "items": s.items,
            "batches": s.batches,
            "records": s.records,
            "rtf": round(s.busy / duration, 4) if duration else None,
            "share_of_wall": round(s.busy / wall, 3) if wall else None,
            # Records per busy second: seconds captioned, shots described, frames scored.
            "records_per_s": round(s.records / s.busy, 3) if s.busy and s.records else None,
        }
        tokens = s.counters.get("tokens")
        if isinstance(tokens, int) and s.busy:
            analyzers[name]["tokens_per_s"] = round(tokens / s.busy, 2)
        if s.analyzed is not None:
            analyzers[name]["analyzed_coverage"] = round(s.analyzed.fraction(*span), 4)
        if s.counters:
            analyzers[name]["counters"] = s.counters
    return {
        "wall_s": round(wall, 3),
        "media_duration_s": round(duration, 3),
        "rtf": round(wall / duration, 4) if duration else None,
        "peak_rss_mb": round(monitor.peak_rss / 2**20, 1),
        "process_peak_rss_mb": round(_process_peak_rss() / 2**20, 1),
        "gpu": monitor.gpu(),
        "stages": analyzers,
        "coverage": {k: round(v, 4) for k, v in coverage.items()},
        **(extra or {}),
    }
