"""Short utterances: the word error rate of the ``transcript`` analyzer (Whisper behind
vidscope's voice-activity filtering) and of the same Whisper model with no filtering, side by
side on the same recordings, and what each costs.

Two sources of commands (``tests/spoken.py``), each at two levels, ``loud`` and ``quiet``
(20 dB lower), over faint white noise:

- ``espeak``: 18 commands of one to three words ("stop", "open the door", "next page
  please") synthesised by espeak-ng in random voices and speeds, 1-3 s of silence between
  them (peaks near -9 dBFS when loud);
- ``recorded``: alsa-utils' recordings of a human voice saying the eight channel names
  ("front center", "rear left"), each twice in a random order, 1-3 s of silence between
  them (peaks near -6 dBFS when loud, as recorded).

WER is over all the words of ``--recordings`` recordings per source and level; CPU time is
the process's, per second of audio (Whisper ``base``, int8, models loaded before timing).

    .venv/bin/python bench/bench_short_utterances.py [--recordings 4]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from common import ROOT, table

sys.path.insert(0, str(ROOT / "tests"))

import espeak
import spoken
from vidscope.analyzers.speech.transcript import TranscriptAnalyzer

LEVELS = {"espeak": {"loud": 0.5, "quiet": 0.05}, "recorded": {"loud": 1.0, "quiet": 0.1}}
NOISE = 0.002


def text_of_filtered(asr: TranscriptAnalyzer, audio: np.ndarray) -> str:
    return " ".join(r["text"] for r in spoken.filtered(asr, audio))


def recording(source: str, seed: int, gain: float, clips: dict) -> tuple:
    if source == "espeak":
        return spoken.commands(18, seed, gain=gain, noise=NOISE)
    return spoken.recorded(clips, seed, gain=gain, noise=NOISE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=4)
    args = parser.parse_args()
    if not espeak.available():
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng)")
    asr = TranscriptAnalyzer()
    asr.setup()
    clips = spoken.channel_clips()
    rows = []
    for source, levels in LEVELS.items():
        for level, gain in levels.items():
            errors = {"vidscope filter": 0.0, "no filter": 0.0}
            cpu = dict.fromkeys(errors, 0.0)
            words = seconds = 0.0
            for seed in range(args.recordings):
                audio, said = recording(source, seed, gain, clips)
                reference = " ".join(u.text for u in said)
                n = len(spoken.words(reference))
                words += n
                seconds += len(audio) / spoken.RATE
                for name, transcribe in (
                    ("vidscope filter", text_of_filtered),
                    ("no filter", spoken.unfiltered),
                ):
                    t0 = time.process_time()
                    text = transcribe(asr, audio)
                    cpu[name] += time.process_time() - t0
                    errors[name] += spoken.wer(reference, text) * n
            per_second = {name: f"{cpu[name] / seconds:.3f}" for name in cpu}
            rows += [
                [source, level, name, int(words), f"{errors[name] / words:.3f}", per_second[name]]
                for name in errors
            ]
    print(table(["source", "level", "transcript", "words", "WER", "CPU s per audio s"], rows))


if __name__ == "__main__":
    main()
