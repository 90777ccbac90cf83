"""The command line against its environment: a full disk, read-only and missing directories,
damaged bundles and inputs, impossible settings.  Each ends in one line on stderr and a
documented exit code (see ``vidscope.errors``), never a traceback or a temporary file."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import need
from test_cli import FAST, assert_clean_error, vidscope
from test_server import ALICE, Served, submitted, upload, wait_for

OUTPUT, INPUT, MODEL, USAGE = 5, 3, 4, 2


def one_line_error(proc: subprocess.CompletedProcess, code: int, needle: str) -> None:
    """Exit ``code`` with exactly one line on stderr, which contains ``needle``."""
    assert_clean_error(proc, code, needle)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def no_temp_files(root: Path) -> None:
    assert [p for p in root.rglob("*") if ".tmp" in p.name] == []


def with_file_size_limit(limit: int, *args: str) -> subprocess.CompletedProcess:
    """``vidscope ARGS`` where no file may grow past ``limit`` bytes: writes beyond it fail
    with EFBIG, as they fail with ENOSPC on a full disk, on any file system and without
    root."""

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "vidscope.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limited,
    )


@pytest.fixture(scope="module")
def bundle(media, tmp_path_factory) -> Path:
    """A finished bundle of the shots and visual_stats of Megamind.avi."""
    out = tmp_path_factory.mktemp("bundle") / "b"
    proc = vidscope("analyze", str(media("debian/Megamind.avi")), "-o", str(out), "-a", FAST, "-q")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def damaged(bundle, tmp_path) -> Path:
    """A copy of ``bundle`` for a test to damage."""
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    return copy


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``path`` for the block; skips the test where it cannot be mounted
    (it needs root)."""
    path.mkdir()
    cmd = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)]
    if os.geteuid() != 0 or subprocess.run(cmd, capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nothing can be written to: a read-only tmpfs for root (which ignores
    permissions), a directory without write permission for anyone else."""
    path = tmp_path / "ro"
    if os.geteuid() == 0:
        with tmpfs(path, "ro,size=64k"):
            yield path
        return
    path.mkdir()
    path.chmod(0o555)
    yield path
    path.chmod(0o755)


def test_an_output_path_that_is_a_file(media, tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a directory")
    proc = vidscope("analyze", str(media("debian/Megamind.avi")), "-o", str(target), "-a", FAST)
    one_line_error(proc, OUTPUT, f"cannot write {target}: a file is in the way")
    assert target.read_text() == "not a directory"


def test_a_full_disk_while_tracks_are_written(media, tmp_path):
    out = tmp_path / "b"
    # About 16 kB of shots (a cut at every change), 4 kB of visual_stats, a 3 kB manifest.
    proc = with_file_size_limit(
        8192, "analyze", str(media("pyscenedetect/testvideo.mp4")), "-o", str(out), "-a", FAST,
        "-q", "--set", "analyzer.shots.threshold=1", "--set", "analyzer.shots.min_scene_len=1",
    )  # fmt: skip
    one_line_error(proc, OUTPUT, f"cannot write {out / 'tracks' / 'shots.jsonl'}: File too large")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert "shots.jsonl: File too large" in manifest["error"]
    assert manifest["tracks"]["shots"]["status"] == "failed"
    assert manifest["tracks"]["shots"]["records"] == 0
    assert (out / "tracks" / "shots.jsonl").stat().st_size == 0
    assert manifest["tracks"]["visual_stats"]["status"] == "complete"
    no_temp_files(out)


def test_a_full_file_system(media, tmp_path):
    """ENOSPC itself: the failed track's file is emptied, so the manifest can still say why
    the run failed."""
    with tmpfs(tmp_path / "small", "size=16k") as small:
        out = small / "b"
        proc = vidscope(
            "analyze", str(media("pyscenedetect/testvideo.mp4")), "-o", str(out), "-a", FAST,
            "-q", "--set", "analyzer.shots.threshold=1", "--set", "analyzer.shots.min_scene_len=1",
        )  # fmt: skip
        message = f"cannot write {out / 'tracks' / 'shots.jsonl'}: No space left on device"
        one_line_error(proc, OUTPUT, message)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["status"] == "failed" and message in manifest["error"]
        no_temp_files(out)


def test_a_full_disk_before_the_manifest_is_written(media, tmp_path):
    out = tmp_path / "b"
    proc = with_file_size_limit(
        1024, "analyze", str(media("debian/Megamind.avi")), "-o", str(out), "-a", FAST, "-q"
    )
    one_line_error(proc, OUTPUT, f"cannot write {out / 'manifest.json'}: File too large")
    no_temp_files(out)


def test_a_full_disk_on_standard_output(bundle):
    for args in (["export", str(bundle), "-t", "shots", "-f", "csv"], ["show", str(bundle)]):
        with open("/dev/full", "w") as full:
            proc = subprocess.run(
                [sys.executable, "-m", "vidscope.cli", *args],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
            )
        one_line_error(proc, OUTPUT, "cannot write the output: No space left on device")


def test_a_read_only_directory(media, bundle, read_only_dir):
    clip = str(media("debian/Megamind.avi"))
    for args, target in (
        (["analyze", clip, "-o", str(read_only_dir / "b"), "-a", FAST], read_only_dir / "b"),
        (["export", str(bundle), "-o", str(read_only_dir / "s.csv")], read_only_dir / "s.csv"),
        (["report", str(bundle), "-o", str(read_only_dir / "r.html")], read_only_dir / "r.html"),
    ):
        one_line_error(vidscope(*args), OUTPUT, f"cannot write {target}")
    assert list(read_only_dir.iterdir()) == []


def test_export_and_report_into_a_missing_directory(bundle, tmp_path):
    for command, name in (("export", "shots.csv"), ("report", "r.html")):
        target = tmp_path / "missing" / name
        proc = vidscope(command, str(bundle), "-o", str(target))
        one_line_error(proc, OUTPUT, f"cannot write {target}: No such file or directory")
    assert not (tmp_path / "missing").exists()


READERS = (
    ["show", "--at", "5"],
    ["export", "-t", "shots", "-f", "csv"],
    ["report", "--no-video"],
)


def test_a_corrupt_track_line(damaged):
    track = damaged / "tracks" / "shots.jsonl"
    lines = track.read_text().splitlines()
    lines[1] = lines[1][: len(lines[1]) // 2]  # a record cut in half
    track.write_text("\n".join(lines) + "\n")
    for command, *options in READERS:
        proc = vidscope(command, str(damaged), *options)
        one_line_error(proc, INPUT, f"{track.resolve()}:2: corrupt track line")


def test_a_corrupt_track_a_rerun_reuses_fails_its_consumers(media, tmp_path):
    out = tmp_path / "b"
    clip = str(media("debian/Megamind.avi"))
    assert vidscope("analyze", clip, "-o", str(out), "-a", "shots", "-q").returncode == 0
    track = out / "tracks" / "shots.jsonl"
    lines = track.read_text().splitlines()
    track.write_text("\n".join([lines[0], "{garbled", *lines[1:]]) + "\n")
    proc = vidscope("analyze", clip, "-o", str(out), "-a", "shots,pacing", "-q")
    one_line_error(proc, 1, f"{track}:2: corrupt track line")
    entry = json.loads((out / "manifest.json").read_text())["tracks"]["pacing"]
    assert entry["status"] == "failed" and "shots.jsonl:2: corrupt track line" in entry["error"]


@pytest.mark.parametrize("path", ["../../../../../../etc/passwd", "/etc/passwd"])
def test_a_track_path_outside_the_bundle(damaged, path):
    manifest = json.loads((damaged / "manifest.json").read_text())
    manifest["tracks"]["shots"]["path"] = path
    (damaged / "manifest.json").write_text(json.dumps(manifest))
    for command, *options in READERS:
        proc = vidscope(command, str(damaged), *options)
        one_line_error(proc, INPUT, f"track path {path!r} leads outside the bundle")


def test_a_truncated_input_is_complete_with_gaps(media, tmp_path):
    for clip, analyzers, gap in (
        ("debian/Megamind.avi", FAST, "the file declares 11.3 s of video, holds 4.5 s"),
        ("faster-whisper/jfk.flac", "audio_features", "audio_features covers 39% of the media"),
    ):
        data = media(clip).read_bytes()
        cut = tmp_path / f"cut-{Path(clip).name}"
        cut.write_bytes(data[: len(data) * 4 // 10])
        out = tmp_path / cut.stem
        for quiet in ([], ["-q"]):
            proc = vidscope("analyze", str(cut), "-o", str(out), "-a", analyzers, *quiet)
            assert proc.returncode == 0, proc.stderr
            # The status line, said even by a quiet run (a loud one then names the next commands).
            status = [line for line in proc.stderr.splitlines() if "complete_with_gaps" in line]
            assert len(status) == 1 and status[0].startswith(f"complete_with_gaps: {out}: ")
            assert gap in status[0]
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["status"] == "complete_with_gaps"
        assert gap in manifest["gaps"]


def test_an_unknown_device_is_a_usage_error(media, tmp_path):
    out = tmp_path / "b"
    proc = vidscope(
        "analyze", str(media("debian/Megamind.avi")), "-o", str(out), "-a", FAST, "--device", "tpu"
    )
    one_line_error(proc, USAGE, "'tpu' is not cpu, cuda or cuda:N")
    assert not out.exists()


def test_a_missing_model_folder_is_a_model_error(media, tmp_path):
    out = tmp_path / "b"
    need("faster_whisper")
    proc = vidscope(
        "analyze", str(media("faster-whisper/jfk.flac")), "-o", str(out), "-a", "transcript",
        "--asr-model", str(tmp_path / "no-such-model"),
    )  # fmt: skip
    one_line_error(proc, MODEL, f"Whisper model folder not found: {tmp_path / 'no-such-model'}")
    need("transformers")
    proc = vidscope(
        "analyze", str(media("debian/Megamind.avi")), "-o", str(out), "-a", "captions",
        "--vlm-model", str(tmp_path / "no-such-model"),
    )  # fmt: skip
    one_line_error(proc, MODEL, f"model folder {tmp_path / 'no-such-model'} does not exist")
    assert not out.exists()


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_model_that_fails_to_load_is_a_model_error_in_any_worker(media, tmp_path, isolation):
    # Found only when the analyzer sets up (no folder to check at plan time): the track
    # fails with the model's reason, and the run's exit code says it was the model.
    model = tmp_path / "detector.onnx"
    model.write_bytes(b"not an onnx model")
    proc = vidscope(
        "analyze", str(media("pyscenedetect/counter.mp4")), "-o", str(tmp_path / "b"),
        "-a", "objects", "--set", f"analyzer.objects.model={model}",
        "--set", f"isolation.objects={isolation}", "-q",
    )  # fmt: skip
    one_line_error(proc, MODEL, f"ModelError: cannot load detector model {model}")


def test_the_server_refuses_a_corrupt_or_escaping_track_with_404(media, tmp_path):
    """The server reads tracks through the same checks: a 404 that names no server path,
    never a 500."""
    server = Served(tmp_path / "data", "--set", 'analyzers=["shots","visual_stats"]')
    try:
        with server.client(ALICE) as client:
            job_id = submitted(upload(client, media("pyscenedetect/counter.mp4")))
            assert wait_for(client, job_id)["status"] == "succeeded"
            bundle = server.data_dir / "jobs" / job_id / "result"
            url = f"/v1/jobs/{job_id}/tracks/visual_stats"
            assert client.get(url).status_code == 200
            track = bundle / "tracks" / "visual_stats.jsonl"
            track.write_bytes(track.read_bytes().replace(b"}\n", b"\n", 1))
            corrupt = client.get(url)
            assert corrupt.status_code == 404 and "corrupt" in corrupt.json()["detail"]
            manifest = json.loads((bundle / "manifest.json").read_text())
            manifest["tracks"]["visual_stats"]["path"] = "../../../../etc/passwd"
            (bundle / "manifest.json").write_text(json.dumps(manifest))
            outside = client.get(url)
            assert outside.status_code == 404 and "outside" in outside.json()["detail"]
            assert str(server.data_dir) not in corrupt.text + outside.text
    finally:
        server.stop()
    assert "Traceback" not in server.output(), server.output()
