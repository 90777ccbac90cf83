#!/usr/bin/env bash
# Fresh machine -> analysis of the bundled real clip (examples/Megamind.avi) into out/Megamind.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh all
.venv/bin/vidscope analyze examples/Megamind.avi -o out/Megamind "$@"
.venv/bin/vidscope show out/Megamind
