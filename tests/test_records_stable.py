"""Every analyzer's records on the shared clips, byte for byte, against digests kept in
``tests/goldens/records.json``.

Restructuring the engine, the decoder or an analyzer's module must not change a single byte of
what a user reads.  Each track file is hashed whole (records, order, rounding); a change that
is meant to alter records updates the goldens in the same commit, with the reason:

    VIDSCOPE_UPDATE_GOLDENS=1 .venv/bin/python -m pytest tests/test_records_stable.py

Two tracks come from 8-bit integer arithmetic whose last digits depend on the CPU: Whisper
runs int8 in CTranslate2 (oneDNN picks AVX2, AVX-512 VNNI or AMX kernels by the processor) and
YAMNet is a w8a8 ONNX model (onnxruntime's quantised kernels differ the same way).  Those are
kept whole in ``tests/goldens/approximate.json`` and compared field by field within
``TOLERANCE``: text, labels, speakers and shots exactly, times and scores within what one
machine showed between instruction sets (``ONEDNN_MAX_CPU_ISA=AVX2`` against its AMX
default: every word the same, word times one 20 ms step apart, probabilities up to 0.05).

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
APPROXIMATE = GOLDENS.with_name("approximate.json")
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


# Per field of the CPU-dependent tracks: how far a number may move (seconds for times, 0-1
# for scores): times five Whisper steps, probabilities four times what was measured, an audio
# event's edges two YAMNet hops (0.48 s each) and its score 0.15.
TOLERANCE = {
    "transcript": {"start": 0.1, "end": 0.1, "probability": 0.2, "confidence": 0.1,
                   "no_speech_prob": 0.1},
    "audio_events": {"start": 1.0, "end": 1.0, "score": 0.15},
}  # fmt: skip


def digests(bundle: Path) -> dict[str, str]:
    return {
        track.stem: hashlib.sha256(track.read_bytes()).hexdigest()
        for track in sorted((bundle / "tracks").glob("*.jsonl"))
        if track.stem not in TOLERANCE
    }


def records(bundle: Path) -> dict[str, list]:
    return {
        name: [orjson.loads(line) for line in path.read_bytes().splitlines()]
        for name in TOLERANCE
        if (path := bundle / "tracks" / f"{name}.jsonl").exists()
    }


def differences(found: object, known: object, tolerance: dict[str, float], at: str) -> list[str]:
    """Where ``found`` differs from ``known`` beyond ``tolerance`` (by field name)."""
    if isinstance(known, dict) and isinstance(found, dict):
        if found.keys() != known.keys():
            return [f"{at}: fields {sorted(found)} != {sorted(known)}"]
        out = []
        for key in known:
            if key in tolerance and known[key] is not None and found[key] is not None:
                if abs(found[key] - known[key]) > tolerance[key]:
                    out.append(f"{at}.{key}: {found[key]} != {known[key]}")
            else:
                out += differences(found[key], known[key], tolerance, f"{at}.{key}")
        return out
    if isinstance(known, list) and isinstance(found, list):
        if len(found) != len(known):
            return [f"{at}: {len(found)} items != {len(known)}"]
        out = []
        for i, (f, k) in enumerate(zip(found, known, strict=True)):
            out += differences(f, k, tolerance, f"{at}[{i}]")
        return out
    return [] if found == known else [f"{at}: {found!r} != {known!r}"]


def _update(path: Path, clip: str, value: object) -> dict:
    known = orjson.loads(path.read_bytes()) if path.exists() else {}
    if UPDATE:
        known[clip] = value
        path.write_bytes(orjson.dumps(known, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return known


@pytest.mark.slow
@pytest.mark.parametrize("clip", list(CLIPS))
def test_records_are_byte_identical(clip: str, media, tmp_path: Path) -> None:
    result = vidscope.analyze(media(clip), CLIPS[clip], tmp_path / "bundle")
    assert result.status == "complete", result.manifest.get("tracks")
    found = digests(tmp_path / "bundle")
    approximate = records(tmp_path / "bundle")
    assert set(CLIPS[clip]) <= set(found) | set(approximate)
    known = _update(GOLDENS, clip, found)
    assert found == known.get(clip), f"records of {clip} changed"
    known_approximate = _update(APPROXIMATE, clip, approximate).get(clip, {})
    assert approximate.keys() == known_approximate.keys()
    for name, value in approximate.items():
        changed = differences(value, known_approximate[name], TOLERANCE[name], name)
        assert not changed, f"{name} of {clip} changed: {changed[:10]}"
