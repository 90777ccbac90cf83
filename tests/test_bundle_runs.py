"""One bundle, one writer: a second run on a bundle being written fails at once or waits, and
a run that is interrupted or killed leaves a bundle that says so and that a rerun resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import vidscope
from conftest import foreground
from test_cli import assert_clean_error
from test_cli import vidscope as run_cli
from vidscope.errors import BundleBusy
from vidscope.timeline.lock import bundle_lock
from vidscope.timeline.result import Result

pytestmark = pytest.mark.slow

# OCR reads each sampled frame for a fifth of a second or more, so an OCR run of a 24 s clip
# is still busy while a second command starts.  A queue deep enough for the whole clip lets
# the decoder (and with it the shots) finish first, so OCR is left with nearly all its work.
# OCR reads two frames a second and every one of them (no reuse of a still frame's lines, no
# extra frames around text edges, which would fill its queue) so that it keeps working long
# after the decoder ends; gradual transitions are off, as
# TransNetV2's windows over testvideo's dissolve would keep the shots busy as long as OCR.
OCR = (
    "-a",
    "ocr",
    "--set",
    "queue_size=64",
    "--set",
    "analyzer.ocr.fps=2",
    "--set",
    "analyzer.ocr.still_level=0",
    "--set",
    "analyzer.ocr.edge_fps=0",
    "--set",
    "analyzer.shots.transitions=off",
)


class Run:
    """A real ``vidscope analyze --json`` process whose events the test reads as they come."""

    def __init__(self, clip: Path, out: Path, *args: str, stderr: Path) -> None:
        self.stderr_path = stderr
        command = [sys.executable, "-m", "vidscope.cli", "analyze", str(clip), "-o", str(out)]
        with stderr.open("w") as errors:
            # A session of its own, as a terminal gives a command: Ctrl-C is a SIGINT to its
            # whole process group, worker processes included.
            self.proc = subprocess.Popen(
                [*command, *args, "--json"],
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                start_new_session=True,
                preexec_fn=foreground,
            )
        self.events: list[dict[str, Any]] = []

    def until(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """Read events up to the first one ``wanted`` accepts."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(json.loads(line))
            if wanted(self.events[-1]):
                return self.events[-1]
        raise AssertionError(f"the run ended without that event: {self.events}, {self.stderr}")

    def ctrl_c(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self) -> int:
        """Read the remaining events and wait for the exit status."""
        rest, _ = self.proc.communicate(timeout=300)
        self.events += [json.loads(line) for line in rest.splitlines()]
        return self.proc.returncode

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()


def consistent(out: Path) -> dict[str, Any]:
    """The manifest, after checking it counts the records each track file holds."""
    manifest = json.loads((out / "manifest.json").read_text())
    for name, entry in manifest["tracks"].items():
        lines = (out / entry["path"]).read_bytes().splitlines()
        assert entry["records"] == len(lines), (name, entry, len(lines))
    return manifest


def test_a_second_run_on_a_bundle_being_written_fails_at_once_or_waits(media, tmp_path):
    clip = media("pyscenedetect/testvideo.mp4")
    out = tmp_path / "bundle"
    first = Run(clip, out, *OCR, stderr=tmp_path / "first.err")
    first.until(lambda e: e["event"] == "input_started")
    assert Result(out).status == "running"

    busy = run_cli("analyze", str(clip), "-o", str(out), *OCR, "-q")
    message = f"bundle {out} is being written by another run (pid {first.proc.pid})"
    assert_clean_error(busy, 3, message + "; wait for it or use --wait")
    # It failed at once, not once the first run let go.
    assert first.proc.poll() is None

    second = Run(clip, out, *OCR, "--wait", stderr=tmp_path / "second.err")
    waiting = second.until(lambda e: e["event"] in ("warning", "input_started"))
    assert waiting["event"] == "warning", second.events
    assert waiting["message"] == message + "; waiting for it to finish"
    assert first.proc.poll() is None

    assert first.finish() == 0, first.stderr
    assert first.events[-1]["event"] == "input_done"
    assert first.events[-1]["status"] == "complete"
    assert second.finish() == 0, second.stderr
    # The second run read the bundle the first one finished: everything in it was reused.
    manifest = consistent(out)
    assert manifest["status"] == "complete"
    assert manifest["report"]["reused_tracks"] == ["ocr", "shots"]
    assert manifest["tracks"]["shots"]["records"] > 0
    assert manifest["tracks"]["ocr"]["records"] > 0


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_ctrl_c_while_ocr_runs_marks_the_bundle_interrupted_and_a_rerun_resumes(
    media, tmp_path, isolation
):
    clip = media("pyscenedetect/testvideo.mp4")
    out = tmp_path / "bundle"
    ocr = (*OCR, "--set", f"isolation.ocr={isolation}")
    run = Run(clip, out, *ocr, stderr=tmp_path / "run.err")
    run.until(lambda e: e["event"] == "track_done" and e["analyzer"] == "shots")
    # OCR has read a frame and has most of the clip still to read: it is inside onnxruntime
    # now or about to be.
    run.until(lambda e: e["event"] == "progress" and e["analyzer"] == "ocr" and e["done"] < 12)
    run.ctrl_c()
    assert run.finish() == 130, run.stderr
    for needle in ("terminate called", "FATAL", "Traceback"):
        assert needle not in run.stderr, run.stderr
    assert "interrupted" in run.stderr
    manifest = consistent(out)
    assert manifest["status"] == "interrupted"
    assert manifest["tracks"]["shots"]["status"] == "complete"
    assert manifest["tracks"]["ocr"]["status"] == "interrupted"

    rerun = run_cli("analyze", str(clip), "-o", str(out), *ocr, "-q")
    assert rerun.returncode == 0, rerun.stderr
    manifest = consistent(out)
    assert manifest["status"] == "complete"
    assert manifest["report"]["reused_tracks"] == ["shots"]
    assert manifest["tracks"]["ocr"]["status"] == "complete"
    assert manifest["tracks"]["ocr"]["records"] > 0


def test_sigterm_stops_a_run_as_ctrl_c_does(media, tmp_path):
    # A service manager or `kill` sends SIGTERM: before, the run died at once with the bundle
    # left `running` and the OCR thread inside onnxruntime.
    out = tmp_path / "bundle"
    run = Run(media("pyscenedetect/testvideo.mp4"), out, *OCR, stderr=tmp_path / "run.err")
    run.until(lambda e: e["event"] == "progress" and e["analyzer"] == "ocr" and e["done"] < 12)
    run.proc.send_signal(signal.SIGTERM)
    assert run.finish() == 143, run.stderr
    for needle in ("terminate called", "FATAL", "Traceback"):
        assert needle not in run.stderr, run.stderr
    manifest = consistent(out)
    assert manifest["status"] == "interrupted"
    assert manifest["tracks"]["ocr"]["status"] == "interrupted"


def test_a_run_killed_outright_reads_as_interrupted(media, tmp_path):
    out = tmp_path / "bundle"
    run = Run(media("debian/Megamind.avi"), out, "-a", "shots", stderr=tmp_path / "run.err")
    run.until(lambda e: e["event"] == "input_started")
    run.proc.kill()
    assert run.finish() == -signal.SIGKILL
    # It had no chance to write so; no run holds the bundle any more.
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    assert Result(out).status == "interrupted"
    shown = run_cli("show", str(out))
    assert shown.returncode == 0, shown.stderr
    assert f"{out}: interrupted" in shown.stdout


def test_the_python_api_fails_on_a_held_bundle_or_waits(media, tmp_path):
    clip = media("pyscenedetect/counter.mp4")
    out = tmp_path / "bundle"
    waiting = threading.Event()
    outcome: dict[str, Any] = {}

    def on_event(event: str, **data: Any) -> None:
        if event == "warning" and "waiting for it to finish" in data["message"]:
            waiting.set()

    def wait_for_it() -> None:
        outcome["result"] = vidscope.analyze(clip, ["shots"], out, wait=True, progress=on_event)

    with bundle_lock(out):
        with pytest.raises(BundleBusy, match=rf"another run \(pid {os.getpid()}\)"):
            vidscope.analyze(clip, ["shots"], out)
        assert not (out / "manifest.json").exists()
        thread = threading.Thread(target=wait_for_it)
        thread.start()
        assert waiting.wait(60)
        assert thread.is_alive() and not (out / "manifest.json").exists()
    thread.join(120)
    assert outcome["result"].status == "complete"
