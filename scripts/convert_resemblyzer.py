"""Convert Resemblyzer's GE2E voice encoder (``resemblyzer/pretrained.pt``) to float32 NumPy
arrays in an ``.npz`` that :mod:`vidscope.models.voice_encoder` runs without torch.

Usage::

    python scripts/convert_resemblyzer.py [pretrained.pt] [out.npz]

Defaults: the ``pretrained.pt`` of the installed ``resemblyzer`` package (0.1.4) and
``src/vidscope/models/data/resemblyzer_ge2e.npz``.  Needs torch (only here).  The archive
keeps PyTorch's names and layouts (LSTM gates in the order input, forget, cell, output), and
``numpy.savez`` writes fixed zip timestamps, so a conversion is byte-for-byte repeatable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np

KEYS = [
    f"lstm.{kind}_l{layer}"
    for layer in range(3)
    for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
] + ["linear.weight", "linear.bias"]


def default_source() -> Path:
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("resemblyzer is not installed: pip install --no-deps resemblyzer==0.1.4")
    return Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"


def main(argv: list[str]) -> None:
    import torch

    src = Path(argv[0]) if argv else default_source()
    out = (
        Path(argv[1])
        if len(argv) > 1
        else Path(__file__).resolve().parents[1] / "src/vidscope/models/data/resemblyzer_ge2e.npz"
    )
    state = torch.load(src, map_location="cpu", weights_only=False)["model_state"]
    arrays = {key: state[key].numpy().astype(np.float32) for key in KEYS}
    np.savez(out, **arrays)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"{out}: {out.stat().st_size} bytes, sha256 {digest}")


if __name__ == "__main__":
    main(sys.argv[1:])
