"""Still frames: the picture shown at a list of times, for thumbnails and keyframe previews.

The analysis :class:`~vidscope.media.decode.Decoder` reads the whole file in one pass; a few
stills from a long file are cheaper to reach by seeking to the keyframe before each one and
decoding forward from there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import av

from vidscope.media.timestamps import TimestampGuesser, time_base

# Seeking costs a decode from the previous keyframe; a target this close ahead is reached
# faster by decoding on.
SEEK_AHEAD = 3.0


def _decode(
    container: av.container.InputContainer, stream: av.VideoStream
) -> Iterator[tuple[float | None, av.VideoFrame]]:
    """Frames from where the container stands, with their presentation times in seconds
    (None where a frame has no timestamp at all)."""
    # A fresh guesser per seek: the PTS/DTS history before the seek says nothing here.
    guess = TimestampGuesser()
    tb = time_base(stream)
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            continue  # a damaged packet; the next keyframe decodes again
        for frame in frames:
            ts = guess(frame.pts, frame.dts)
            yield (float(ts * tb) if ts is not None else None), frame


def frames_at(path: str | os.PathLike[str], times: Iterable[float]) -> Iterator[av.VideoFrame]:
    """The frame shown at each of ``times`` (ascending seconds): the first frame that starts
    at or after it, the last frame standing in for a time past the end.  Yields one frame per
    time, or nothing at all when no frame decodes.

    A time more than ``SEEK_AHEAD`` seconds past the last decoded frame is reached by seeking
    to the keyframe before it, a nearer one by decoding on.  Presentation times come from
    :class:`~vidscope.media.timestamps.TimestampGuesser`, since some containers (AVI with
    packed B-frames) carry PTS in decode order.  Damaged packets are skipped.

    Raises:
        av.FFmpegError: the file cannot be opened or seeked.
        IndexError: the file has no video stream.
    """
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        decoded: Iterator[tuple[float | None, av.VideoFrame]] | None = None
        last: av.VideoFrame | None = None
        last_time: float | None = None
        ended = False
        for target in times:
            if not ended and (last_time is None or last_time < target):
                if decoded is None or last_time is None or target - last_time > SEEK_AHEAD:
                    container.seek(max(0, int(target / time_base(stream))), stream=stream)
                    decoded = _decode(container, stream)
                for time, frame in decoded:
                    last_time, last = time, frame
                    # A frame without a timestamp cannot be placed: take it rather than run on.
                    if time is None or time >= target:
                        break
                else:
                    # The end of the stream: every later time is past it too.
                    ended = True
            if last is None:
                return
            yield last
