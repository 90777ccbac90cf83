"""Presentation times that can be trusted.

Some containers carry broken PTS: AVI files with packed B-frames (``Megamind.avi``) hand the
decoder packet timestamps in decode order, so frames come out with PTS 1, 2, 3, 5, 4, 6, 8, 7…
FFmpeg fixes this with ``best_effort_timestamp`` (``guess_correct_pts`` in libavcodec), which
PyAV does not expose; this is the same heuristic: count how often PTS and DTS each went
backwards and trust the one that failed less.
"""

from __future__ import annotations

from fractions import Fraction

import av

from vidscope.errors import InputError


def time_base(stream: av.stream.Stream) -> Fraction:
    """The seconds per tick of an opened input stream (FFmpeg always sets one; PyAV's types
    allow None)."""
    if stream.time_base is None:
        raise InputError(f"stream {stream.index} has no time base")
    return stream.time_base


class TimestampGuesser:
    """Per-stream equivalent of libavcodec's ``guess_correct_pts``."""

    __slots__ = ("_faulty_dts", "_faulty_pts", "_last_dts", "_last_pts")

    def __init__(self) -> None:
        self._faulty_pts = 0
        self._faulty_dts = 0
        self._last_pts: int | None = None
        self._last_dts: int | None = None

    def __call__(self, pts: int | None, dts: int | None) -> int | None:
        if dts is not None:
            if self._last_dts is not None and dts <= self._last_dts:
                self._faulty_dts += 1
            self._last_dts = dts
        if pts is not None:
            if self._last_pts is not None and pts <= self._last_pts:
                self._faulty_pts += 1
            self._last_pts = pts
        if pts is not None and (self._faulty_pts <= self._faulty_dts or dts is None):
            return pts
        return dts
