"""Every analyzer's records on the shared clips, byte for byte, against digests kept in
``tests/goldens/records.json``.

Restructuring the engine, the decoder or an analyzer's module must not change a single byte of
what a user reads.  Each track file is hashed whole (records, order, rounding); a change that
is meant to alter records updates the digests in the same commit, with the reason:

    VIDSCOPE_UPDATE_GOLDENS=1 .venv/bin/python -m pytest tests/test_records_stable.py

The VLM analyzers are left out: their records come from a model the tests build with random
weights, which ``tests/test_vlm.py`` checks on its own terms.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import orjson
import pytest

import vidscope

GOLDENS = Path(__file__).with_name("goldens") / "records.json"
UPDATE = os.environ.get("VIDSCOPE_UPDATE_GOLDENS") == "1"

# Each clip with the analyzers whose records it exercises: dialogue with faces and sound,
# variable frame rate, burned-in text.
CLIPS = {
    "debian/Megamind.avi": [
        "shots", "visual_stats", "audio_features", "audio_class", "pacing", "shot_stats",
        "speech", "transcript", "audio_events", "objects", "faces", "pose", "segmentation",
    ],
    "pyscenedetect/goldeneye-vfr-drop3.mp4": ["shots", "visual_stats", "objects", "pacing"],
    "pyscenedetect/testvideo.mp4": ["shots", "ocr"],
}  # fmt: skip


def digests(bundle: Path) -> dict[str, str]:
    return {
        track.stem: hashlib.sha256(track.read_bytes()).hexdigest()
        for track in sorted((bundle / "tracks").glob("*.jsonl"))
    }


@pytest.mark.slow
@pytest.mark.parametrize("clip", list(CLIPS))
def test_records_are_byte_identical(clip: str, media, tmp_path: Path) -> None:
    result = vidscope.analyze(media(clip), CLIPS[clip], tmp_path / "bundle")
    assert result.status == "complete", result.manifest.get("tracks")
    found = digests(tmp_path / "bundle")
    assert set(CLIPS[clip]) <= set(found)
    known = orjson.loads(GOLDENS.read_bytes()) if GOLDENS.exists() else {}
    if UPDATE:
        known[clip] = found
        GOLDENS.write_bytes(orjson.dumps(known, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    assert found == known.get(clip), f"records of {clip} changed"
