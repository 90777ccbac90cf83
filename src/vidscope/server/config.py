"""What one server process is told: where its data lives, its limits, its URL policy."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The data directory's default is also the search index's: one definition, in the settings.
from vidscope.config import DATA_DIR_ENV as DATA_DIR_ENV
from vidscope.config import default_data_dir as default_data_dir


@dataclass(frozen=True)
class ServerConfig:
    """Server settings; engine settings (analyzers, device, ...) come from ``vidscope.config``.

    All of them are the operator's (``vidscope serve`` flags): no request can change them.

    ``allow_private_urls`` is ``False`` (URL jobs may only reach public addresses), ``True``
    (anything, for a trusted network), or a list of ``host`` / ``host:port`` entries that may be
    private, e.g. an in-house media server; a redirect is checked against the same list.
    """

    data_dir: Path
    workers: int = 1
    max_upload_mb: int = 2048
    max_body_mb: int = 64
    """Largest body of the shot-analysis endpoints (they carry base64 images or video)."""
    max_json_kb: int = 64
    """Largest body of every other endpoint (a URL job is a few hundred bytes)."""
    max_attempts: int = 2
    """Runs a job may start: one interrupted this often (the server stopped or crashed while
    running it) fails instead of being queued again, so a job that crashes the server cannot
    crash every restart."""
    max_queued_per_key: int = 32
    allow_private_urls: bool | tuple[str, ...] = False
    url_timeout_s: float = 30.0
    config_file: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    """Dotted engine settings from the command line (``--set``), applied to every job."""

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def keys_path(self) -> Path:
        return self.data_dir / "keys.json"

    def relative(self, text: str) -> str:
        """``text`` with the data directory's absolute path taken out of every path in it:
        messages shown to clients name files by their place in the data directory."""
        for root in {str(self.data_dir.absolute()), str(self.data_dir.resolve())}:
            text = text.replace(root + os.sep, "")
        return text
