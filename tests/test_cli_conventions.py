"""The command line as its conventions promise: bundles named after their input, help a
person can read, progress and an end-of-run summary on a terminal (through a pseudo-terminal),
and output that stays whole when piped."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from test_cli import vidscope

COMMANDS = [
    ("analyze",), ("analyzers",), ("show",), ("report",), ("export",), ("config",),
    ("compare",), ("index",), ("search",), ("serve",), ("metrics",), ("setup", "people"),
    ("keys", "add"), ("keys", "list"), ("keys", "revoke"),
]  # fmt: skip
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def on_terminal(*args: str, cwd: Path) -> tuple[int, str]:
    """Run ``vidscope ARGS`` with a pseudo-terminal as its stdout and stderr, as a person at a
    terminal would; its exit code and what the terminal showed, without escape codes, one
    line per redraw."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidscope.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERM")}
        | {"TERM": "xterm-256color"},
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 300)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    code = proc.wait(timeout=60)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    return code, text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.fixture(scope="module")
def megamind_bundle(media, tmp_path_factory):
    out = tmp_path_factory.mktemp("conv") / "megamind"
    clip = media("debian/Megamind.avi")
    proc = vidscope("analyze", str(clip), "-o", str(out), "-a", "shots,speech", "-q")
    assert proc.returncode == 0, proc.stderr
    return out


def test_without_output_each_input_gets_out_slash_its_name(media, tmp_path):
    """A second analyze without -o adds a bundle beside the first instead of replacing it."""
    for name in ("counter.mp4", "fades.mp4"):
        proc = vidscope(
            "analyze", str(media(f"pyscenedetect/{name}")), "-a", "shots", "-q", cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["counter", "fades"]
    for name in ("counter", "fades"):
        manifest = json.loads((tmp_path / "out" / name / "manifest.json").read_text())
        assert manifest["status"] == "complete"
        assert manifest["source"]["input"].endswith(f"{name}.mp4")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_help_names_values_by_metavar_and_leads_with_examples():
    for args in [(), *COMMANDS]:
        proc = vidscope(*args, "-h")
        assert proc.returncode == 0, (args, proc.stderr)
        text = proc.stdout
        # No Python types, no boxes, no truncated command lines.
        assert not re.search(r"<(list\[|bool|str|int|float|path)", text), (args, text)
        assert "╭" not in text and "│" not in text, args
        listed = [line for line in text.splitlines() if not line.startswith("Usage:")]
        assert not any(line.rstrip().endswith("...") for line in listed), (args, text)
    helped = vidscope("analyze", "-h").stdout
    assert re.match(r"Usage: .*\banalyze \[OPTIONS\] INPUT\.\.\.\n", helped)
    assert "-a, --analyzers NAME[,NAME...]" in helped and "-o, --output DIR" in helped
    assert "--set KEY=VALUE" in helped and "--force " in helped and "--no-force" not in helped
    assert helped.index("Examples:") < helped.index("Options:")
    assert "vidscope analyze clip.mp4 " in helped
    # The docstring's paragraphs are rewrapped: each sentence runs on from line to line.
    prose = " ".join(line.strip() for line in helped.split("Arguments:")[0].splitlines())
    assert "several inputs, a directory or a CSV manifest" in prose
    assert re.search(r"^  manifest \(an$", helped, re.M) is None


def test_progress_and_summary_on_a_terminal(media, tmp_path):
    clip = tmp_path / "clip.avi"
    shutil.copy(media("debian/Megamind.avi"), clip)
    code, shown = on_terminal("analyze", clip.name, "-a", "shots,speech", cwd=tmp_path)
    assert code == 0, shown
    assert shown.lstrip().startswith("starting: loading analyzers…")
    assert "clip.avi (11.3 s) -> out/clip" in shown
    bars = [line for line in shown.splitlines() if re.match(r"\s+(shots|speech) ", line)]
    # Media time done, speed in media seconds per second, elapsed<left, how it ended.
    final = {line.split()[0]: line for line in bars if line.rstrip().endswith("done")}
    assert set(final) == {"shots", "speech"}, shown
    for line in final.values():
        assert re.search(r"100% 11\.3/11\.3 s \d+\.\dx +\d+:\d\d<0:00 done", line), line
    # Before the end the bars moved through the media and said what they were doing.
    assert any(re.search(r" [1-9]\d?% \d+\.\d/11\.3 s", line) for line in bars), shown
    assert any("loading…" in line for line in bars), shown
    # The end: what was found, the status and the next commands; no timing table.
    lines = [line.strip() for line in shown.splitlines() if line.strip()]
    end = lines[lines.index("complete: out/clip") - 2 :]
    assert end[0] == "4 shots · speech 86 %", shown
    assert end[1] == "warning: skipped 1 damaged packet(s) while decoding"
    assert end[3].startswith("next: vidscope report out/clip")
    assert end[4] == "vidscope export out/clip -o clip.csv"
    assert "share of wall" not in shown and "time per stage" not in shown


def test_stats_table_on_request_states_what_its_shares_are(media, megamind_bundle, tmp_path):
    code, shown = on_terminal(
        "analyze", str(media("pyscenedetect/counter.mp4")), "-a", "shots", "--stats", cwd=tmp_path
    )
    assert code == 0, shown
    assert "time per stage" in shown and "busy / wall" in shown
    assert "stages run side by side, so these shares overlap" in shown
    shown = vidscope("show", str(megamind_bundle), "--report").stdout
    rows = {line.split()[0]: line for line in shown.splitlines() if "│" in line}
    assert {"decode", "shots", "speech"} <= set(rows)
    assert "busy / wall" in shown and "share of wall" not in shown
    # Without --report, show leaves the timings out.
    assert "time per stage" not in vidscope("show", str(megamind_bundle)).stdout


def test_progress_events_say_when_analyzers_are_ready_and_finishing(media, tmp_path):
    proc = vidscope(
        "analyze", str(media("pyscenedetect/counter.mp4")), "-o", str(tmp_path / "b"),
        "-a", "shots,visual_stats", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    for name in ("shots", "visual_stats"):
        mine = [e for e in events if e.get("analyzer") == name]
        states = [e["state"] for e in mine if e["event"] == "analyzer_state"]
        assert states == ["running", "finishing"], mine
        kinds = [e["event"] for e in mine]
        # Running before its first progress, finishing after its last input, then done.
        assert kinds.index("analyzer_state") < kinds.index("progress")
        assert kinds[-2:] == ["analyzer_state", "track_done"] or kinds[-1] == "track_done"


def test_show_names_the_format_and_piped_output_is_not_wrapped(megamind_bundle):
    shown = vidscope("show", str(megamind_bundle))
    assert shown.returncode == 0, shown.stderr
    first = shown.stdout.splitlines()[0]
    assert (
        first
        == f"{megamind_bundle}: complete, 0:11.3 of AVI (mpeg4 720x528 at 23.976 fps, ac3 audio)"
    )
    assert shown.stdout.splitlines()[1] == "4 shots · speech 86 %"
    listed = vidscope("analyzers").stdout.splitlines()
    # Each analyzer is one line, its fix whole, however long.
    row = next(line for line in listed if line.lstrip().startswith("captions "))
    assert "fix: give --vlm-model" in row and "vlm.endpoint" in row
    assert all(len(line) > 0 for line in listed)


def test_config_prints_toml_values(tmp_path):
    proc = vidscope("config", "--set", "queue_size=8", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines()[2:]:
        key, value, source = (cell.strip() for cell in line.split("│"))
        rows[key] = (value, source)
    assert rows["queue_size"] == ("8", "command line")
    assert rows["analyzer.audio_events.model"][0] == '"auto"'
    assert rows["analyzer.audio_class.smooth"][0] == "true"
    assert rows["analyzer.audio_class.flatness_range"][0] == "[0.04, 0.12]"
    unset = [k for k, (v, _) in rows.items() if v == "(not set)"]
    assert unset and "None" not in {v for v, _ in rows.values()}
    # Every other value reads back as TOML.
    for value, _ in rows.values():
        if value != "(not set)":
            tomllib.loads(f"v = {value}")
