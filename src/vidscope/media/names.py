"""Filesystem-safe names for output folders and downloaded files."""

from __future__ import annotations

import re


def safe_name(raw: str, fallback: str = "input") -> str:
    """Reduce ``raw`` to letters, digits, ``_``, ``-`` and ``.``, at most 80 characters.

    Leading and trailing dots are stripped, so the result is never ``.`` or ``..``: a name
    taken from a URL, a page title or a manifest cannot lead out of the folder it names a
    child of."""
    name = re.sub(r"[^\w.-]+", "_", raw).strip("._-")[:80].strip("._-")
    return name or fallback
