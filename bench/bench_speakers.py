"""Speakers: diarization error rate and speaker-count accuracy on conversations with known
turns, the analyzer's real-time factor, and its memory on a short and a long input.

Inputs (16 kHz mono WAV, written by ``tests/dialogue.py``):

- espeak-ng voices taking turns (one sentence a turn unless said otherwise, 0.8 s pauses);
- ``stereo_diarization.wav``'s two recorded voices one after the other (the file has one
  voice per channel, talking over each other);
- for memory: the four-voice conversation looped to 1 and ``--minutes`` minutes.

DER is scored on a 10 ms grid with a 0.25 s collar around every reference boundary and the
best one-to-one mapping of labels (``tests/dialogue.py``: ``der``).  Each threshold reuses
the bundle's ``speech`` track, so only the speakers analyzer runs again.  Memory is the peak
RSS of a fresh process running ``speech`` alone and ``speech`` + ``speakers`` on each length;
the speakers analyzer's own time is ``busy_s`` from the manifest, shown beside the ``speech``
analyzer's of the same run (a ratio that holds on a busy machine).

    .venv/bin/python bench/bench_speakers.py [--minutes 12] [--skip-long]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from common import MEDIA, ROOT, manifest, table

sys.path.insert(0, str(ROOT / "tests"))
from dialogue import RATE, conversation, der, stereo_turns, write_wav

THRESHOLDS = [0.6, 0.65, 0.7, 0.75, 0.8]
DEFAULT = 0.7


def cases() -> dict[str, tuple[np.ndarray, list]]:
    return {
        "1 voice, 4 turns": conversation("AAAA"),
        "2 voices, 4 turns": conversation("ABAB"),
        "3 voices, 6 turns": conversation("ABCACB"),
        "4 voices, 8 turns": conversation("ABCDBADC"),
        "3 voices, 2 sentences a turn": conversation("ABCBAC", sentences=2),
        "2 voices, 0.3 s pauses (one speech span)": conversation("ABBA", pause=0.3),
        "stereo_diarization, voices in turn": stereo_turns(
            MEDIA / "faster-whisper" / "stereo_diarization.wav"
        ),
    }


def run(path: Path, bundle: Path, threshold: float) -> tuple[list, float]:
    import vidscope

    settings = {"analyzer.speakers.threshold": threshold}
    result = vidscope.analyze(path, ["speakers"], bundle, settings=settings)
    turns = [(t["start"], t["end"], t["speaker"]) for t in result.track("speakers")]
    busy = manifest(bundle)["tracks"]["speakers"]["timings"]["busy_s"]
    return turns, busy


def accuracy(folder: Path) -> None:
    rows, sweep = [], {t: [0, []] for t in THRESHOLDS}
    speech_s = busy_s = 0.0
    for name, (audio, reference) in cases().items():
        path = write_wav(folder / f"{len(rows)}.wav", audio)
        bundle = folder / f"{len(rows)}.bundle"
        expected = len({r[2] for r in reference})
        for threshold in THRESHOLDS:
            turns, busy = run(path, bundle, threshold)
            found = len({t[2] for t in turns})
            error = der(reference, turns)
            sweep[threshold][0] += found == expected
            sweep[threshold][1].append(error)
            if threshold == DEFAULT:
                rows.append([name, f"{len(audio) / RATE:.1f}", expected, found, f"{error:.3f}"])
                speech_s += len(audio) / RATE
                busy_s += busy
    print(f"threshold {DEFAULT} (default):\n")
    print(table(["conversation", "seconds", "speakers", "found", "DER"], rows))
    print(
        f"\nspeakers analyzer: {busy_s:.1f} s busy for {speech_s:.0f} s of audio, "
        f"RTF {busy_s / speech_s:.3f}\n"
    )
    print(table(
        ["threshold", "speaker count right", "mean DER", "worst DER"],
        [
            [t, f"{ok}/{len(rows)}", f"{np.mean(errors):.3f}", f"{max(errors):.3f}"]
            for t, (ok, errors) in sweep.items()
        ],
    ))  # fmt: skip


def peak_rss_mb() -> float:
    """This process's peak RSS since it started its program: ``VmHWM``, not ``getrusage``'s
    ``ru_maxrss``, which Linux keeps across ``exec`` from the forked parent (the children
    reported the bench's own 240-340 MB, the same for every analyzer set)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def child(path: str, analyzers: str, bundle: str) -> None:
    """Run in a fresh process and report its peak RSS (for ``long``)."""
    import vidscope

    result = vidscope.analyze(path, analyzers.split(","), bundle)
    out: dict = {"peak_rss_mb": peak_rss_mb()}
    tracks = manifest(Path(bundle))["tracks"]
    out["busy"] = {name: tracks[name]["timings"]["busy_s"] for name in analyzers.split(",")}
    if "speakers" in analyzers:
        out["turns"] = [(t["start"], t["end"], t["speaker"]) for t in result.track("speakers")]
    print(json.dumps(out))


def fed(audio: np.ndarray, spans: list[tuple[float, float]], lag: float = 30.0) -> dict:
    """Feed the analyzer directly: 1 s audio chunks, each speech span ``lag`` seconds after
    its end (as the speech track's 30 s blocks deliver them); its traced peak allocation."""
    from vidscope.analyzers.base import AudioChunk, TrackRecord
    from vidscope.analyzers.speech.speakers import SpeakersAnalyzer

    threadpool_limits(limits=1, user_api="blas")  # as the engine runs analyzers
    analyzer = SpeakersAnalyzer()
    analyzer.setup()
    state = analyzer.start(None, frozenset({"speech"}))  # type: ignore[arg-type]
    pending = [{"start": a, "end": b} for a, b in spans]
    tracemalloc.start()
    started = time.perf_counter()
    for at in range(0, len(audio), RATE):
        chunk = AudioChunk(at / RATE, audio[at : at + RATE])
        items: list = [chunk]
        while pending and pending[0]["end"] + lag <= chunk.end:
            items.append(TrackRecord("speech", pending.pop(0)))
        analyzer.process_batch(state, items)
    analyzer.process_batch(state, [TrackRecord("speech", s) for s in pending])
    turns = list(analyzer.finish(state))
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"peak_mb": peak, "seconds": seconds, "turns": turns}


def long(folder: Path, minutes: float) -> None:
    audio, reference = conversation("ABCDBADC")
    clip = len(audio) / RATE
    rows, direct = [], []
    for length in (1.0, minutes):
        copies = int(np.ceil(length * 60 / clip))
        looped = np.tile(audio, copies)
        path = write_wav(folder / f"long{length}.wav", looped)
        truth = [(s + k * clip, e + k * clip, v) for k in range(copies) for s, e, v in reference]
        alone = fed(looped, [(s - 0.1, e + 0.1) for s, e, _ in truth])
        direct.append([
            f"{len(looped) / RATE / 60:.1f}",
            f"{alone['peak_mb']:.1f}",
            f"{alone['seconds']:.1f}",
            f"{alone['seconds'] / (len(looped) / RATE):.4f}",
        ])  # fmt: skip
        peaks = []
        for analyzers in ("speech", "speech,speakers"):
            bundle = folder / f"long{length}-{analyzers}.bundle"
            cmd = [sys.executable, __file__, "--child", str(path), analyzers, str(bundle)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            peaks.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        speakers = peaks[1]
        found = len({t[2] for t in speakers["turns"]})
        rows.append([
            f"{len(looped) / RATE / 60:.1f}",
            f"{peaks[0]['peak_rss_mb']:.0f}",
            f"{speakers['peak_rss_mb']:.0f}",
            f"{speakers['busy']['speech']:.1f}",
            f"{speakers['busy']['speakers']:.1f}",
            f"{speakers['busy']['speakers'] / (len(looped) / RATE):.4f}",
            found,
            f"{der(truth, speakers['turns']):.3f}",
        ])  # fmt: skip
    print(table(
        ["minutes", "peak RSS speech (MB)", "peak RSS speech+speakers (MB)",
         "speech busy (s)", "speakers busy (s)", "speakers RTF", "speakers found (4)",
         "DER"],
        rows,
    ))  # fmt: skip
    print("\nThe analyzer alone, fed directly (reference spans as the speech track, 30 s late):\n")
    print(table(["minutes", "traced peak (MB)", "seconds", "RTF"], direct))


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--skip-long", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        accuracy(Path(tmp))
        if not args.skip_long:
            print()
            long(Path(tmp), args.minutes)


if __name__ == "__main__":
    main()
