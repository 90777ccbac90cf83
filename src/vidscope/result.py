"""The public :class:`Result`: a bundle read back, exported to other tools' formats, reported
as an HTML page.

It sits above both :mod:`vidscope.timeline` (reading and exports) and :mod:`vidscope.report`
(which needs the analyzers' report views), so the engine returns it and
``vidscope.analyze(...).report("clip.html")`` works without the bundle reader knowing the
report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from vidscope.report import write_report
from vidscope.timeline import result as bundle
from vidscope.timeline.exports import export


class Result(bundle.Result):
    """A finished (or partial) analysis on disk: query it by track and time, export a track,
    write its report.

    >>> result = vidscope.analyze("clip.mp4", output="out/clip")
    >>> result.export("srt", "clip.srt")             # the transcript as subtitles
    >>> result.export("csv", "shots.csv", track="shots")
    >>> result.report("clip.html")                   # the HTML report
    """

    def export(
        self,
        fmt: str | None,
        path: str | os.PathLike[str] | IO[Any],
        track: str | None = None,
    ) -> int:
        """Write ``track`` (default: the format's own, ``transcript`` for subtitles, text and
        JSON, else ``shots``) as ``fmt`` to ``path``, a file or an open stream; returns the
        cues, records, clips or thumbnails written.

        Formats: ``srt``, ``vtt``, ``txt``, ``json``, ``otio``, ``edl``, ``csv``,
        ``parquet``, ``png``/``jpg`` (a contact sheet); ``fmt=None`` takes the format from
        ``path``'s suffix.  A file is written beside the target and renamed over it.

        Raises:
            UsageError: an unknown format or track, or a track the format cannot hold; nothing
                is written.
            OutputError: the file cannot be written.
        """
        return export(self, track, fmt, path)

    def report(self, path: str | os.PathLike[str] | None = None, *, video: bool = True) -> Path:
        """Write the self-contained HTML report (default ``BUNDLE/report.html``) and return
        its path.  ``video=False`` embeds a keyframe per shot instead of linking the analysed
        file.

        Raises:
            OutputError: the report cannot be written.
        """
        return write_report(self.path, None if path is None else Path(path), video=video).path
