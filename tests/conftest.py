"""Shared test fixtures.

Real media lives outside the repository; tests find it through ``VIDSCOPE_TEST_MEDIA``
(default ``../shared/media`` from the project root).  A missing file skips the test with the
reason locally, and fails it in CI (``CI=true``), where the media must be present.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MEDIA_DIR = Path(os.environ.get("VIDSCOPE_TEST_MEDIA", ROOT.parent / "shared" / "media"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(path: Path, why: str = "") -> Path:
    """Return ``path`` if it exists; otherwise fail in CI and skip elsewhere, with the reason."""
    if path.exists():
        return path
    missing(f"test media missing: {path}" + (f" ({why})" if why else ""))


def missing(message: str) -> None:
    """A test's optional dependency is absent: fail in CI, skip elsewhere, with the reason."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def need(module: str, reason: str = "") -> Any:
    """Import an optional package: skipped locally when it is missing, a failure in CI, where
    every extra is installed (so a broken install cannot pass as skipped tests)."""
    if IN_CI:
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=reason or f"{module} is not installed")


@pytest.fixture(scope="session")
def media():
    """``media("debian/Megamind.avi")`` -> Path to a shared test clip."""

    def get(name: str) -> Path:
        return require(MEDIA_DIR / name, "set VIDSCOPE_TEST_MEDIA to the shared media folder")

    return get


@pytest.fixture(scope="session")
def debian_file():
    """``debian_file("/usr/share/...", "package")`` -> the file from a Debian package.

    The package is installed on demand when apt is usable (CI installs them up front)."""

    def get(path: str, package: str) -> Path:
        p = Path(path)
        if not p.exists() and shutil.which("apt-get") and os.geteuid() == 0:
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                check=False,
                capture_output=True,
                timeout=600,
            )
        return require(p, f"from Debian package {package}")

    return get


def foreground() -> None:
    """``preexec_fn`` for a command the test interrupts as a terminal's Ctrl-C would: SIGINT
    at its default, as in a terminal's foreground job, also when the tests themselves run as
    a background job (whose commands inherit SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
