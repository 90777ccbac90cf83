"""Speech the tests synthesise: espeak-ng's voice as 16 kHz mono float32.

One home for the synthesis that ``promo.py`` (screen hints), ``dialogue.py`` (speakers) and
``spoken.py`` (short commands) build their recordings from.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

RATE = 16000


def available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(
    text: str,
    voice: str = "en-us",
    speed: int = 160,
    *,
    pitch: int | None = None,
    silence: float = 0.01,
) -> np.ndarray:
    """``text`` spoken by espeak-ng ``voice`` at ``speed`` words per minute (and ``pitch``,
    0-99), resampled to 16 kHz, with the leading and trailing samples quieter than
    ``silence`` cut."""
    cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text]
    if pitch is not None:
        cmd[3:3] = ["-p", str(pitch)]
    wav = subprocess.run(cmd, capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    n = int(len(pcm) * RATE / rate)
    audio = np.interp(np.linspace(0, len(pcm) - 1, n), np.arange(len(pcm)), pcm)
    voiced = np.flatnonzero(np.abs(audio) > silence)
    return audio[voiced[0] : voiced[-1] + 1].astype(np.float32) if len(voiced) else audio
