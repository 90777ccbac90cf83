"""Gaps: parts of the media a run that otherwise finished could not analyse.

A truncated download or a damaged file decodes without an error: the decoder skips what it
cannot read and the streams end early.  Every track then finishes, so the run would say
``complete`` while a third of the media was never seen.  A run with gaps says
``complete_with_gaps`` instead, and its manifest's ``gaps`` say what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping

from vidscope.media.probe import MediaInfo

MIN_COVERAGE = 0.98
"""Share of the media a per-second track must cover.  Intact clips measure 0.999 to 1.0: the
last frame or audio chunk may stop a few milliseconds short of the container's end."""


def find_gaps(media: MediaInfo, coverage: Mapping[str, float]) -> list[str]:
    """What a run missed, one short sentence each: video the container declares but the file
    does not hold, and per-second tracks (``coverage`` maps them to the share of the media
    they cover) below :data:`MIN_COVERAGE`.

    Damaged packets the decoder skipped are the manifest's ``warnings``, not gaps: an intact
    file may end in one cut short (the shared ``Megamind.avi`` does), a loss of milliseconds.
    """
    gaps = []
    video = media.video
    # A cut AVI still declares every frame in its header, while its duration is measured
    # from what is there; only the frame count tells that the rest is missing.
    declared = video.frames / video.fps if video and video.frames and video.fps else 0.0
    if declared * MIN_COVERAGE > media.duration:
        gaps.append(f"the file declares {declared:.1f} s of video, holds {media.duration:.1f} s")
    gaps += [
        f"{track} covers {100 * share:.0f}% of the media"
        for track, share in coverage.items()
        if share < MIN_COVERAGE
    ]
    return gaps
