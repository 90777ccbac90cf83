"""The command line as a user and a script see it: outputs, exit codes, one-line errors."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

FAST = "shots,visual_stats"


def vidscope(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vidscope.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def assert_clean_error(proc: subprocess.CompletedProcess, code: int, needle: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert any(needle in line for line in lines), proc.stderr


@pytest.fixture(scope="module")
def server(media):
    """A loopback HTTP server serving the shared media folder."""
    root = media("debian/Megamind.avi").parents[1]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_analyze_one_file_and_show(media, tmp_path):
    out = tmp_path / "clip"
    proc = vidscope("analyze", str(media("debian/Megamind.avi")), "-o", str(out), "-a", FAST)
    assert proc.returncode == 0, proc.stderr
    # It ends with what was found and the next commands (the timings are for --stats).
    assert "4 shots · also visual_stats" in proc.stderr and "RTF" not in proc.stderr
    assert f"next: vidscope report {out}" in proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    shown = vidscope("show", str(out), "--at", "5.0")
    assert shown.returncode == 0
    data = json.loads(shown.stdout)
    assert data["tracks"]["shots"][0]["index"] == 1
    assert len(data["tracks"]["visual_stats"]) == 1


def test_many_inputs_and_directories(media, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(media("pyscenedetect/counter.mp4"), clips / "a.mp4")
    shutil.copy(media("pyscenedetect/fades.mp4"), clips / "b.mp4")
    out = tmp_path / "out"
    proc = vidscope(
        "analyze",
        str(clips),
        str(media("debian/Megamind.avi")),
        "-o",
        str(out),
        "-a",
        "shots",
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("a", "b", "Megamind"):
        assert json.loads((out / name / "manifest.json").read_text())["status"] == "complete"


def test_url_input(server, tmp_path):
    out = tmp_path / "u"
    proc = vidscope(
        "analyze", f"{server}/debian/Megamind.avi", "-o", str(out), "-a", "shots", "-q",
        env={"VIDSCOPE_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["url"].endswith("/debian/Megamind.avi")
    assert len([json.loads(x) for x in (out / "tracks/shots.jsonl").read_text().splitlines()]) == 4


def test_json_event_stream(media, tmp_path):
    proc = vidscope(
        "analyze",
        str(media("pyscenedetect/counter.mp4")),
        "-o",
        str(tmp_path / "j"),
        "-a",
        "shots",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "input_started" and kinds[-1] == "input_done"
    assert "track_done" in kinds
    assert events[-1]["status"] == "complete"


@pytest.mark.parametrize(
    ("make", "code", "needle"),
    [
        (lambda p: None, 3, "no such file"),
        (lambda p: p.write_bytes(b""), 3, "empty file"),
        (lambda p: p.write_text("hello, I am text\n" * 10), 3, "not a readable media file"),
    ],
)
def test_bad_files(tmp_path, make, code, needle):
    path = tmp_path / "in.mp4"
    make(path)
    out = tmp_path / "out"
    proc = vidscope("analyze", str(path), "-o", str(out), "-a", "shots")
    assert_clean_error(proc, code, needle)
    assert not (out / "manifest.json").exists()


def test_truncated_video(media, tmp_path):
    data = media("debian/Megamind.avi").read_bytes()
    path = tmp_path / "cut.avi"
    path.write_bytes(data[:4096])
    proc = vidscope("analyze", str(path), "-o", str(tmp_path / "o"), "-a", "shots")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "error:" in proc.stderr
    manifest = tmp_path / "o" / "manifest.json"
    assert not manifest.exists() or json.loads(manifest.read_text())["status"] != "complete"


def test_unknown_analyzer(media, tmp_path):
    proc = vidscope(
        "analyze", str(media("pyscenedetect/counter.mp4")), "-o", str(tmp_path), "-a", "shots,bogus"
    )
    assert_clean_error(proc, 2, "unknown analyzer 'bogus'")


def test_unreachable_url(tmp_path):
    proc = vidscope(
        "analyze", "http://127.0.0.1:9/clip.mp4", "-o", str(tmp_path / "o"), "-a", "shots",
        env={"VIDSCOPE_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert_clean_error(proc, 3, "127.0.0.1:9")
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_analyzers_lists_everything_with_reasons():
    proc = vidscope("analyzers", "--json")
    assert proc.returncode == 0
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert {
        "shots",
        "visual_stats",
        "audio_features",
        "audio_class",
        "pacing",
        "shot_stats",
    } <= set(rows)
    for row in rows.values():
        assert row["available"] or (row["reason"] and row["fix"])


def test_config_layers_and_provenance(tmp_path):
    (tmp_path / "vidscope.toml").write_text(
        'device = "cuda"\nqueue_size = 4\n[analyzer.shots]\nthreshold = 30.0\n'
    )
    proc = vidscope(
        "config", "--json", "--set", "queue_size=8",
        env={"VIDSCOPE_ANALYZER__SHOTS__THRESHOLD": "33"}, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows["device"] == {"value": "cuda", "source": f"file {tmp_path / 'vidscope.toml'}"}
    assert rows["analyzer.shots.threshold"] == {
        "value": 33,
        "source": "env VIDSCOPE_ANALYZER__SHOTS__THRESHOLD",
    }
    assert rows["queue_size"] == {"value": 8, "source": "command line"}
    assert rows["analyzer.visual_stats.fps"]["source"] == "default"


def test_invalid_setting_is_a_usage_error(tmp_path):
    proc = vidscope("config", "--set", "analyzer.shots.min_scene_len=0")
    assert_clean_error(proc, 2, "analyzer.shots.min_scene_len")


def test_manifest_names_stay_inside_the_output(media, tmp_path):
    """A manifest's ``name`` column names a sub-folder of the output: ``..`` or ``.`` must not
    put a bundle in the output's parent or in the output itself."""
    shutil.copy(media("pyscenedetect/counter.mp4"), tmp_path / "a.mp4")
    shutil.copy(media("pyscenedetect/fades.mp4"), tmp_path / "b.mp4")
    manifest = tmp_path / "list.csv"
    manifest.write_text("input,name\na.mp4,..\nb.mp4,.\n")
    out = tmp_path / "nest" / "out"
    proc = vidscope("analyze", str(manifest), "-o", str(out), "-a", "shots", "-q")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "nest" / "manifest.json").exists()
    assert not (out / "manifest.json").exists()
    assert sorted(p.name for p in out.iterdir()) == ["input", "input-2"]
    for name in ("input", "input-2"):
        assert json.loads((out / name / "manifest.json").read_text())["status"] == "complete"


def test_short_help_and_version():
    version = vidscope("-V")
    assert version.returncode == 0, version.stderr
    lines = version.stdout.splitlines()
    assert lines[0].startswith("vidscope ") and lines[1].startswith("Python 3.")
    assert any(line.startswith("av ") for line in lines)
    assert vidscope("--version").stdout == version.stdout
    for args in (("-h",), ("analyze", "-h"), ("export", "-h")):
        proc = vidscope(*args)
        assert proc.returncode == 0 and "Usage:" in proc.stdout, (args, proc.stderr)
