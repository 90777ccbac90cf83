"""Screen hints: word error rate, name accuracy, word timing and cost of the transcript with
and without the text seen on screen, on synthetic promos.

Each promo (``tests/promo.py``) is espeak-ng narrating three sentences that name an invented
organisation three times, in several voices; the name's spoken spans are known.  Four ways
of transcribing it, all through the transcript analyzer (windows, VAD, word snapping):

- ``plain``: no on-screen text;
- ``screen``: the name on screen as an ``ocr`` record (vidscope: a plain decode, a hinted
  re-decode of the window when the name is missing, and only the words where the hinted
  decode wrote the name spliced in);
- ``prompt`` / ``prompt.`` / ``hotwords``: every window decoded once with the name as
  faster-whisper's ``initial_prompt`` (without and with a closing full stop) or
  ``hotwords``: the alternatives to ``screen``.

Then the same with *unrelated* on-screen text (words never said) to show what hints cost
when they cannot help.  Reported per way: WER against the narration, names right (of 3 per
clip), the name's start/end error against espeak's spans, the largest and mean shift of the
other words against ``plain`` (words the two decodes agree on), and the CPU seconds of
decoding (all threads; the wall time on a shared machine says little).

``--long``: one longer input instead, a promo whose name is on screen, ten times JFK's
inaugural excerpt (the name neither shown nor said), and the promo again with nothing on
screen: how many windows each way decodes, and with hints; then the same input with the
unrelated text on screen from start to end instead of the name.

    .venv/bin/python bench/bench_screen_hints.py [--model tiny.en] [--voices en-us,en-gb]
        [--names Brightwell,Novalune] [--ways plain,screen,hotwords] [--long [NAME]]
"""

from __future__ import annotations

import argparse
import difflib
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from common import MEDIA, ROOT, table

sys.path.insert(0, str(ROOT / "tests"))

from promo import Promo, narration
from vidscope.analyzers.base import AudioChunk, Item, Record, TrackRecord
from vidscope.analyzers.speech.buffer import SAMPLE_RATE
from vidscope.analyzers.speech.screen_hints import norm
from vidscope.analyzers.speech.transcript import (
    TranscriptAnalyzer,
    TranscriptParams,
)

NAMES = ["Brightwell", "Novalune", "Thornbury", "Velcora", "Quorvia", "Halcyra"]
UNRELATED = "Quarterly Dividends Ledger, Marzipan Observatory"
WAYS = ["plain", "screen", "prompt", "prompt.", "hotwords"]


class Forced(TranscriptAnalyzer):
    """The transcript analyzer decoding every window with one faster-whisper hint."""

    forced: dict[str, str]

    calls: dict[str, int]

    def _decode(self, audio, language, at, spans, **hint):  # type: ignore[no-untyped-def]
        way = "hinted" if hint else "plain"
        self.calls[way] = self.calls.get(way, 0) + 1
        return super()._decode(audio, language, at, spans, **(hint or self.forced))


def transcribe(
    asr: TranscriptAnalyzer, promo: Promo, screen: list[Record] | None, ocr_first: bool = False
) -> Any:
    chunks: list[Item] = [
        AudioChunk(t / SAMPLE_RATE, promo.audio[t : t + SAMPLE_RATE])
        for t in range(0, len(promo.audio), SAMPLE_RATE)
    ]
    state = asr.start(None, frozenset() if screen is None else frozenset({"ocr"}))  # type: ignore[arg-type]
    t0 = time.process_time()
    out: list[Record] = []
    records: list[Item] = [TrackRecord("ocr", r) for r in screen or []]
    for item in [*records, *chunks] if ocr_first else [*chunks, *records]:
        out.extend(asr.process_batch(state, [item]))
    out += asr.finish(state)
    return [w for r in out for w in r["words"]], time.process_time() - t0


def wer(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    d = np.arange(len(hypothesis) + 1)
    for i, ref in enumerate(reference, 1):
        prev, d[0] = d.copy(), i
        for j, hyp in enumerate(hypothesis, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (ref != hyp))
    return float(d[-1]) / max(1, len(reference))


def shifts(words: list[Record], plain: list[Record]) -> list[float]:
    a, b = [norm(w["word"]) for w in plain], [norm(w["word"]) for w in words]
    out = []
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            p, w = plain[block.a + k], words[block.b + k]
            out.append(max(abs(p["start"] - w["start"]), abs(p["end"] - w["end"])))
    return out


def name_errors(words: list[Record], name: str, spans: list[tuple[float, float]]) -> list:
    said = [w for w in words if norm(w["word"]) == name.lower()]
    out = []
    for start, end in spans:
        near = [w for w in said if start - 0.5 <= (w["start"] + w["end"]) / 2 <= end + 0.5]
        if near:
            out.append((abs(near[0]["start"] - start), abs(near[0]["end"] - end)))
    return out


def long_input(asr: Forced, name: str) -> None:
    """The ``--long`` case (see the module's docstring)."""
    from vidscope.media.decode import load_audio
    from vidscope.media.probe import probe

    _, jfk = load_audio(probe(MEDIA / "faster-whisper/jfk.flac"))
    promo = narration(name, "en-us")
    gap = np.zeros(SAMPLE_RATE, np.float32)
    long = Promo(np.concatenate([promo.audio, gap, *[jfk, gap] * 10, promo.audio]))
    # The name on screen during the first promo; then OCR has passed the whole input.
    shown = {"start": 0.0, "end": promo.duration, "text": name.upper(), "score": 0.97}
    passed = {"start": long.duration, "end": long.duration + 20, "text": "", "score": 1.0}
    # Words never said on screen from start to end (a logo, a ticker).
    stays = {"start": 0.0, "end": long.duration, "text": UNRELATED, "score": 0.97}
    rows = []
    for way, screen in (
        ("plain", None),
        ("screen (vidscope)", [shown, passed]),
        ("screen, unrelated text throughout", [stays, passed]),
    ):
        asr.forced, asr.calls = {}, {}
        words, seconds = transcribe(asr, long, screen, ocr_first=True)
        right = sum(norm(w["word"]) == name.lower() for w in words)
        decodes = f"{asr.calls.get('plain', 0)} + {asr.calls.get('hinted', 0)} hinted"
        rows.append([way, f"{long.duration:.0f}", decodes, f"{right}/6", f"{seconds:.1f}"])
        print(f"{way}: {' '.join(w['word'] for w in words[-12:])}")
    header = ["way", "audio s", "window decodes", "names right", "CPU s"]
    print(table(header, rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--voices", default="en-us,en-gb,en-029")
    ap.add_argument("--names", default=",".join(NAMES))
    ap.add_argument("--ways", default=",".join(WAYS), help="plain must be one of them")
    ap.add_argument("--long", metavar="NAME", nargs="?", const="Novalune", help="the long input")
    args = ap.parse_args()
    params = TranscriptParams(asr_model=args.model, download=False)
    asr = Forced(params)
    asr.setup()
    asr.calls = {}
    if args.long:
        long_input(asr, args.long)
        return
    stats: dict[str, dict[str, list]] = {}
    for name in args.names.split(","):
        for voice in args.voices.split(","):
            promo = narration(name, voice)
            reference = [norm(w) for piece in promo.text for w in piece.split()]
            spans = promo.spans[name]
            results: dict[str, Any] = {}
            for case, text in (("name", name.upper()), ("unrelated", UNRELATED)):
                card = [{"start": 0.0, "end": promo.duration, "text": text, "score": 0.97}]
                for way in args.ways.split(","):
                    hint = name if case == "name" else UNRELATED
                    asr.forced = {
                        "prompt": {"initial_prompt": hint},
                        "prompt.": {"initial_prompt": hint + "."},
                        "hotwords": {"hotwords": hint},
                    }.get(way, {})
                    if case == "unrelated" and way == "plain":
                        results[(case, way)] = results[("name", "plain")]
                        continue
                    words, seconds = transcribe(asr, promo, card if way == "screen" else None)
                    results[(case, way)] = (words, seconds)
            plain = results[("name", "plain")][0]
            for (case, way), (words, seconds) in results.items():
                s = stats.setdefault(f"{case} {way}", {})
                s.setdefault("wer", []).append(wer(reference, [norm(w["word"]) for w in words]))
                errors = name_errors(words, name, spans) if case == "name" else []
                right = sum(norm(w["word"]) == name.lower() for w in words)
                s.setdefault("right", []).append(min(right, 3))
                s.setdefault("start_err", []).extend(e[0] for e in errors)
                s.setdefault("end_err", []).extend(e[1] for e in errors)
                s.setdefault("shift", []).extend(shifts(words, plain))
                s.setdefault("seconds", []).append(seconds)
                print(f"{name} {voice} {case} {way}: {' '.join(w['word'] for w in words)}")
    clips = len(stats["name plain"]["wer"])
    rows = []
    for key, s in stats.items():
        rows.append(
            [
                key,
                f"{100 * statistics.mean(s['wer']):.1f}",
                f"{sum(s['right'])}/{3 * clips}" if key.startswith("name") else "-",
                f"{statistics.mean(s['start_err']):.3f}" if s["start_err"] else "-",
                f"{statistics.mean(s['end_err']):.3f}" if s["end_err"] else "-",
                f"{max(s['shift']):.3f} / {statistics.mean(s['shift']):.3f}",
                f"{sum(s['seconds']):.1f}",
            ]
        )
    print(f"\n{clips} clips, Whisper {args.model}, voices {args.voices}\n")
    header = ["text on screen, way", "WER %", "names right", "name start err s"]
    header += ["name end err s", "other words' shift max / mean s", "CPU s"]
    print(table(header, rows))


if __name__ == "__main__":
    main()
