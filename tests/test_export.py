"""Transcript exports (SRT, WebVTT, text, JSON) from result bundles, and ``vidscope export``."""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import need
from vidscope.errors import UsageError
from vidscope.timeline.bundle import BundleWriter
from vidscope.timeline.export import CUE_CHARS, CUE_SECONDS, cues, export, timestamp
from vidscope.timeline.result import Result


def _words(text: str, start: float, step: float) -> list[dict]:
    return [
        {
            "word": " " + w,
            "start": round(start + i * step, 3),
            "end": round(start + (i + 1) * step, 3),
        }
        for i, w in enumerate(text.split())
    ]


LONG = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
    "software and associated documentation files, to deal in the software without restriction"
)
SEGMENTS = [
    {"start": 0.5, "end": 2.25, "text": "Hello there.", "language": "en", "words": []},
    {"start": 3661.0, "end": 3662.0, "text": "Fish & <chips>\nplease", "language": "en"},
    {"start": 3663.0, "end": 3664.0, "text": "  ", "language": "en", "words": []},
    {"start": 10.0, "end": 19.0, "text": LONG, "language": "en", "words": _words(LONG, 10.0, 0.3)},
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A bundle with a transcript, a track without text, and a failed track."""
    root = tmp_path_factory.mktemp("bundle")
    writer = BundleWriter(root, {"media": {"duration": 3700.0}})
    for name, records, status in (
        ("transcript", SEGMENTS, "complete"),
        ("speech", [{"start": 0.5, "end": 2.25, "confidence": 0.9}], "complete"),
        ("ocr", [], "failed"),
    ):
        track = writer.open_track(name, {"analyzer": name})
        for record in records:
            track.write(record)
        track.close()
        fields = {"error": "ModelError: no model"} if status == "failed" else {}
        writer.update_track(name, status=status, records=len(records), **fields)
    writer.set(status="incomplete")
    return root


def render(bundle: Path, fmt: str, track: str = "transcript") -> str:
    out = io.StringIO()
    export(Result(bundle), track, fmt, out)
    return out.getvalue()


def test_timestamps():
    assert timestamp(3661.5, ",") == "01:01:01,500"
    assert timestamp(0.9996, ".") == "00:00:01.000"
    assert timestamp(-0.2, ",") == "00:00:00,000"


def test_srt(bundle):
    text = render(bundle, "srt")
    blocks = text.strip().split("\n\n")
    assert blocks[0] == "1\n00:00:00,500 --> 00:00:02,250\nHello there."
    assert blocks[1] == "2\n01:01:01,000 --> 01:01:02,000\nFish & <chips> please"
    assert [b.split("\n")[0] for b in blocks] == [str(i) for i in range(1, len(blocks) + 1)]
    assert "01:01:03" not in text  # the blank segment is no cue


def test_vtt(bundle):
    text = render(bundle, "vtt")
    assert text.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.250\nHello there.\n\n")
    assert "01:01:01.000 --> 01:01:02.000\nFish &amp; &lt;chips&gt; please\n" in text


def test_long_segments_split_at_words():
    (segment,) = [s for s in SEGMENTS if s["text"] == LONG]
    parts = list(cues([segment]))
    assert len(parts) > 1
    assert " ".join(c.text for c in parts) == LONG
    assert all(len(c.text) <= CUE_CHARS and c.end - c.start <= CUE_SECONDS for c in parts)
    assert parts[0].start == 10.0 and parts[-1].end == segment["words"][-1]["end"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(parts))


def test_cues_break_at_punctuation_and_pauses():
    # Whisper's one segment for the JFK clip; each word lasts until the next one starts.
    times = [0.22, 0.52, 0.82, 1.18, 1.58, 3.196, 3.74, 4.24, 5.52, 5.76, 6.24, 6.62, 6.84]
    times += [7.08, 8.124, 8.48, 8.76, 9.04, 9.32, 9.56, 9.78, 9.96, 10.36]
    text = (
        "And so my fellow Americans, ask not what your country can do for you, "
        "ask what you can do for your country."
    )
    words = [
        {"word": " " + w, "start": a, "end": b}
        for w, a, b in zip(text.split(), times, times[1:], strict=False)
    ]
    segment = {"start": 0.22, "end": 10.36, "text": text, "words": words}
    assert [c.text for c in cues([segment])] == [
        "And so my fellow Americans,",
        "ask not what your country can do for you,",
        "ask what you can do for your country.",
    ]


def test_srt_lines_wrap(bundle):
    text = render(bundle, "srt")
    assert all(len(line) <= 42 for line in text.splitlines())


def test_txt_and_json(bundle):
    assert render(bundle, "txt").splitlines() == ["Hello there.", "Fish & <chips> please", LONG]
    data = json.loads(render(bundle, "json"))
    assert data["track"] == "transcript" and data["records"] == SEGMENTS
    assert json.loads(render(bundle, "json", "speech"))["records"][0]["confidence"] == 0.9


def test_errors_name_the_problem(bundle):
    with pytest.raises(
        UsageError, match=r"no track 'captions' \(finished tracks: transcript, speech\)"
    ):
        render(bundle, "srt", "captions")
    with pytest.raises(UsageError, match=r"'ocr' did not finish \(failed: ModelError: no model\)"):
        render(bundle, "srt", "ocr")
    with pytest.raises(UsageError, match="no text for srt; export it as json"):
        render(bundle, "srt", "speech")
    with pytest.raises(UsageError, match="unknown export format 'docx'"):
        render(bundle, "docx")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vidscope.cli", "export", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )


def test_cli_export(bundle, tmp_path):
    out = tmp_path / "subs.vtt"
    proc = cli(str(bundle), "-o", str(out))  # the format follows the suffix
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("WEBVTT")
    proc = cli(str(bundle), "--format", "txt", "--track", "transcript")
    assert proc.returncode == 0 and proc.stdout.splitlines()[0] == "Hello there."


def test_cli_export_missing_track(bundle, tmp_path):
    out = tmp_path / "subs.srt"
    proc = cli(str(bundle), "--track", "captions", "-o", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no track 'captions'" in proc.stderr
    assert not out.exists() and not list(tmp_path.iterdir())  # no partial or temp file


def test_transcript_bundle_to_srt(media, tmp_path):
    need("faster_whisper", reason="the speech extra is not installed")
    import vidscope

    result = vidscope.analyze(
        media("faster-whisper/jfk.flac"),
        analyzers=["transcript"],
        output=tmp_path / "jfk",
        settings={"analyzer.transcript.asr_model": "tiny.en"},
    )
    srt = io.StringIO()
    cues_written = export(result, "transcript", "srt", srt)
    blocks = [b.splitlines() for b in srt.getvalue().strip().split("\n\n")]
    assert len(blocks) == cues_written >= 1
    text = " ".join(" ".join(lines[2:]) for lines in blocks).lower()
    assert "ask not what your country can do for you" in text
    assert blocks[0][1].startswith("00:00:00,") and " --> 00:00:" in blocks[0][1]
    assert all(len(" ".join(lines[2:]).split()) >= 3 for lines in blocks)  # no stub cues
