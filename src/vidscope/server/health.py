"""``GET /health`` (no authentication), and the Prometheus text of ``GET /metrics`` (a key's own
jobs) and ``vidscope metrics`` (the whole server, for its operator)."""

from __future__ import annotations

import contextlib
import sys

from pydantic import BaseModel

from vidscope._version import __version__


class Gpu(BaseModel):
    index: int
    name: str
    memory_total_mb: float
    memory_used_mb: float | None = None


class Health(BaseModel):
    """Field names follow the shot-analysis service the trailer tools know."""

    status: str
    version: str
    model: str | None
    vlm: str
    device: str
    gpu_count: int
    gpu_memory_total: str | None
    gpus: list[Gpu]
    workers: int


def gpus() -> list[Gpu]:
    """The GPUs here, through NVML (pynvml) or else torch if a model already loaded it (a
    health check must not spend seconds importing torch); none when neither can tell."""
    with contextlib.suppress(Exception):
        import pynvml

        pynvml.nvmlInit()
        try:
            out = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(i)
                mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
                name = pynvml.nvmlDeviceGetName(handle)
                out.append(
                    Gpu(
                        index=i,
                        name=name.decode() if isinstance(name, bytes) else name,
                        memory_total_mb=round(mem.total / 2**20, 1),
                        memory_used_mb=round(mem.used / 2**20, 1),
                    )
                )
            return out
        finally:
            pynvml.nvmlShutdown()
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            return [
                Gpu(
                    index=i,
                    name=torch.cuda.get_device_name(i),
                    memory_total_mb=round(
                        torch.cuda.get_device_properties(i).total_memory / 2**20, 1
                    ),
                )
                for i in range(torch.cuda.device_count())
            ]
    return []


def health(device: str, model: str | None, workers: int) -> Health:
    found = gpus()
    total = sum(g.memory_total_mb for g in found) / 1024
    return Health(
        status="healthy",
        version=__version__,
        model=model,
        vlm="configured" if model is not None else "not configured",
        device=device,
        gpu_count=len(found),
        gpu_memory_total=f"{total:.1f} GB" if found else None,
        gpus=found,
        workers=workers,
    )


def _labels(**labels: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


def metrics_text(counts: dict[str, int], busy: dict[str, float] | None = None) -> str:
    """Jobs by state and the queue's depth (and, given ``busy``, busy time per pipeline stage)
    in the Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = [
        "# HELP vidscope_jobs Jobs in the store, by state.",
        "# TYPE vidscope_jobs gauge",
        *(f"vidscope_jobs{_labels(state=s)} {n}" for s, n in counts.items()),
        "# HELP vidscope_queue_depth Jobs waiting for a worker.",
        "# TYPE vidscope_queue_depth gauge",
        f"vidscope_queue_depth {counts.get('queued', 0)}",
    ]
    if busy is not None:
        lines += [
            "# HELP vidscope_stage_busy_seconds_total Busy time per pipeline stage (the decoder"
            " and each analyzer), summed over finished runs.",
            "# TYPE vidscope_stage_busy_seconds_total counter",
            *(
                f"vidscope_stage_busy_seconds_total{_labels(stage=s)} {v:.6g}"
                for s, v in busy.items()
            ),
        ]
    return "\n".join(lines) + "\n"
