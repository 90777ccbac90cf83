"""Speech: Whisper tiny.en and base real-time factors on this machine, and vidscope's whole
audio stage (speech + transcript + audio_events through the engine) against faster-whisper
alone on the same file.

Inputs (written as 16 kHz mono WAV, so decoding costs nothing worth comparing):

- ``english``: the English half of multilingual.mp3, jfk.flac and Megamind.avi's dialogue,
  repeated to ``--minutes``.  The clips differ, so no 30-second window hears one sentence
  twice (a clip looped on itself sends Whisper into repetition loops and times the fallback
  decoding instead);
- ``multilingual``: multilingual.mp3 as it is (English, then German).

faster-whisper alone is what a user would run by hand: one ``transcribe`` call with the
options the transcript analyzer uses (VAD filter at 0.35, word timestamps, beam 5, no
conditioning on previous text, one CPU thread per core).  On the multilingual file it
decodes everything in the language detected at the start, so its German half comes out as
about half as many tokens of wrong text; its ``multilingual=True`` mode (a language per
30-second decoding window) is the fair comparison there.  vidscope's models are loaded
before timing (a warm-up run), as they stay loaded in a CLI batch or a server worker.  Each
figure is the best of ``--runs`` runs, alternating contenders.

    .venv/bin/python bench/bench_speech.py [--minutes 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from common import MEDIA, table

AUDIO_STAGE = ["speech", "transcript", "audio_events"]
OURS = "vidscope speech + transcript (base) + audio_events"
RATE = 16000


def load(path: Path, seconds: float | None = None) -> np.ndarray:
    from vidscope.media.decode import load_audio
    from vidscope.media.probe import probe

    _, audio = load_audio(probe(path))
    return audio if seconds is None else audio[: round(seconds * RATE)]


def write_wav(path: Path, audio: np.ndarray) -> float:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return len(audio) / RATE


def english(minutes: float) -> np.ndarray:
    clips = [
        load(MEDIA / "faster-whisper" / "multilingual.mp3", 29.5),
        load(MEDIA / "faster-whisper" / "jfk.flac"),
        load(MEDIA / "debian" / "Megamind.avi"),
    ]
    block = np.concatenate(clips)
    return np.tile(block, max(1, int(np.ceil(minutes * 60 * RATE / len(block)))))


class Alone:
    """faster-whisper by itself, one model per size, loaded once."""

    def __init__(self, name: str) -> None:
        from faster_whisper import WhisperModel

        from vidscope.models.whisper import resolve_whisper

        t0 = time.perf_counter()
        self.model = WhisperModel(
            str(resolve_whisper(name).path),
            device="cpu",
            compute_type="int8",
            cpu_threads=len(os.sched_getaffinity(0)),
        )
        self.load_s = time.perf_counter() - t0

    def __call__(self, path: Path, multilingual: bool = False) -> float:
        from faster_whisper.audio import decode_audio

        t0 = time.perf_counter()
        segments, _ = self.model.transcribe(
            decode_audio(str(path)),
            vad_filter=True,
            vad_parameters={"threshold": 0.35},
            word_timestamps=True,
            condition_on_previous_text=False,
            beam_size=5,
            multilingual=multilingual,
        )
        list(segments)
        return time.perf_counter() - t0


def main() -> None:
    from vidscope.analyzers.settings import load_settings
    from vidscope.engine.local import Engine

    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        audio = {
            "english": english(args.minutes),
            "multilingual": load(MEDIA / "faster-whisper" / "multilingual.mp3"),
        }
        inputs = {k: (tmp / f"{k}.wav", write_wav(tmp / f"{k}.wav", a)) for k, a in audio.items()}
        alone = {name: Alone(name) for name in ("tiny.en", "base")}
        best: dict[tuple[str, str], float] = {}
        reports: dict[str, dict] = {}
        settings = load_settings(overrides={"analyzers": AUDIO_STAGE}).settings
        with Engine(settings) as engine:
            engine.analyze(MEDIA / "faster-whisper" / "jfk.flac", tmp / "warmup")
            for i in range(args.runs):
                for label, (path, _) in inputs.items():
                    for name, run in alone.items():
                        if label == "english" or name == "base":
                            key = (label, f"faster-whisper {name} alone")
                            best[key] = min(best.get(key, float("inf")), run(path))
                    if label == "multilingual":
                        key = (label, "faster-whisper base alone, multilingual=True")
                        best[key] = min(best.get(key, float("inf")), alone["base"](path, True))
                    t0 = time.perf_counter()
                    result = engine.analyze(path, tmp / f"{label}{i}")
                    wall = time.perf_counter() - t0
                    key = (label, OURS)
                    if wall < best.get(key, float("inf")):
                        best[key], reports[label] = wall, result.run_report
    cpus = len(os.sched_getaffinity(0))
    print(f"command: .venv/bin/python {' '.join(sys.argv)}")
    print(f"{cpus} CPU cores, int8, best of {args.runs}; model load: "
          + ", ".join(f"{n} {a.load_s:.2f} s" for n, a in alone.items()) + "\n")  # fmt: skip
    rows = []
    for (label, run), wall in best.items():
        duration = inputs[label][1]
        rows.append([label, f"{duration:.1f}", run, f"{wall:.2f}", f"{wall / duration:.3f}"])
    print(table(["input", "media s", "run", "wall s", "RTF"], rows))
    for label, reference in (
        ("english", "faster-whisper base alone"),
        ("multilingual", "faster-whisper base alone, multilingual=True"),
    ):
        change = 100 * (best[(label, OURS)] / best[(label, reference)] - 1)
        print(f"\n{label}: vidscope's audio stage takes {change:+.1f}% of the time of {reference}")
    base = best[("english", "faster-whisper base alone")]
    print("\nbusy seconds per stage in the best vidscope run on english (stages overlap):")
    print(
        table(
            ["stage", "busy s", "RTF", "share of base-alone time"],
            [
                [k, v["busy_s"], v["rtf"], f"{100 * v['busy_s'] / base:.1f}%"]
                for k, v in reports["english"]["stages"].items()
            ],
        )
    )


if __name__ == "__main__":
    main()
