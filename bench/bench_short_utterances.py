"""Short utterances: the word error rate of the ``transcript`` analyzer (Whisper behind
vidscope's voice-activity filtering) and of the same Whisper model with no filtering, side by
side on the same recordings, and what each costs.

Each recording holds 18 spoken commands of one to three words ("stop", "open the door",
"next page please"), synthesised by espeak-ng in random voices and speeds with 1-3 s of
silence between them, over faint white noise (``tests/spoken.py``), at two levels: ``loud``
(peaks near -6 dBFS) and ``quiet`` (20 dB lower).  WER is over all the words of
``--recordings`` recordings per level; CPU time is the process's, per second of audio
(Whisper ``base``, int8, models loaded before timing).

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

LEVELS = {"loud": 0.5, "quiet": 0.05}
NOISE = 0.002


def text_of_filtered(asr: TranscriptAnalyzer, audio: np.ndarray) -> str:
    return " ".join(r["text"] for r in spoken.filtered(asr, audio))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=4)
    args = parser.parse_args()
    if not espeak.available():
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng)")
    asr = TranscriptAnalyzer()
    asr.setup()
    rows = []
    for level, gain in LEVELS.items():
        errors = {"vidscope filter": 0.0, "no filter": 0.0}
        cpu = dict.fromkeys(errors, 0.0)
        words = seconds = 0.0
        for seed in range(args.recordings):
            audio, said = spoken.commands(18, seed, gain=gain, noise=NOISE)
            reference = " ".join(u.text for u in said)
            n = len(spoken.words(reference))
            words += n
            seconds += len(audio) / spoken.RATE
            for name, transcribe in (
                (
                    "vidscope filter",
                    lambda asr, a: " ".join(r["text"] for r in spoken.filtered(asr, a)),
                ),
                ("no filter", spoken.unfiltered),
            ):
                t0 = time.process_time()
                text = transcribe(asr, audio)
                cpu[name] += time.process_time() - t0
                errors[name] += spoken.wer(reference, text) * n
        rows += [
            [level, name, int(words), f"{errors[name] / words:.3f}", f"{cpu[name] / seconds:.3f}"]
            for name in errors
        ]
    print(table(["level", "transcript", "words", "WER", "CPU s per audio s"], rows))


if __name__ == "__main__":
    main()
