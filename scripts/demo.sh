#!/usr/bin/env bash
# Fresh machine -> analysis of the bundled real clip (examples/Megamind.avi) into out/Megamind.
# Installs `all`: every analyzer family without PyTorch (captions need a model and either
# --vlm-endpoint, or `scripts/setup.sh all,vlm` for the in-process backend).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all
.venv/bin/vidscope analyze examples/Megamind.avi -o out/Megamind "$@"
.venv/bin/vidscope show out/Megamind
