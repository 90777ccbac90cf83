"""One pass over the file: demux once, decode video and audio once, hand out what was asked.

Every analyzer declares a :class:`~vidscope.media.frames.FrameSpec`; the decoder converts
each decoded frame once per distinct ``(width, format)`` and gives it to every spec whose
sampling clock is due.  Audio is resampled once to 16 kHz float32 and cut into fixed-size
chunks.  Damaged packets are skipped and counted, the way the FFmpeg command line does,
instead of ending the stream (a broken AC3 frame must not cost the rest of the soundtrack).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, cast

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidscope.errors import InputError
from vidscope.media.frames import AudioChunk, Frame, FrameSpec, seconds
from vidscope.media.probe import MediaInfo
from vidscope.media.timestamps import TimestampGuesser, time_base

SAMPLE_RATE = 16000
AudioChannel = Literal["mix", "left", "right"]


class FrameClock:
    """Decides which frames a spec receives: every frame, or the first frame at or after each
    tick of ``1/fps`` seconds counted from the media start.  Ticks that fall inside a gap of a
    variable-frame-rate stream are served by the next frame instead of being dropped."""

    __slots__ = ("_next", "origin", "period")

    def __init__(self, fps: float | None, origin: float) -> None:
        self.period = 1.0 / fps if fps else 0.0
        self.origin = origin
        self._next = origin

    def due(self, time: float) -> bool:
        if not self.period:
            return True
        if time + 1e-6 < self._next:
            return False
        k = math.floor((time - self.origin) / self.period + 1e-6) + 1
        self._next = self.origin + k * self.period
        return True


@dataclass
class DecodeStats:
    damaged_packets: int = 0
    warnings: list[str] = field(default_factory=list)


def rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    # The display matrix rotates counter-clockwise; np.rot90 does the same for k > 0.
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def scaled_size(width: int, height: int, target: int | None, rotation: int) -> tuple[int, int]:
    """Decode-space (w, h) that becomes ``target`` pixels wide after rotation."""
    if target is None:
        return width, height
    display_w, display_h = (height, width) if rotation in (90, 270) else (width, height)
    target = min(target, display_w)
    out_w, out_h = target, max(2, round(display_h * target / display_w))
    return (out_h, out_w) if rotation in (90, 270) else (out_w, out_h)


def _i420(frame: av.VideoFrame) -> np.ndarray | None:
    """A decoded yuv420p frame as one ``(h * 3 / 2, w)`` I420 array, or None when the frame
    is stored otherwise.

    PyAV's ``to_ndarray(format="yuv420p")`` copies each plane twice (flattening the padded
    plane, then concatenating); one copy per plane into the output is 1.5x faster, which
    matters at every frame of a 1080p stream.
    """
    w, h = frame.width, frame.height
    if frame.format.name != "yuv420p" or w % 2 or h % 2:
        return None
    out = np.empty((h * 3 // 2, w), np.uint8)
    flat = out.reshape(-1)
    offset = 0
    sizes = ((w, h), (w // 2, h // 2), (w // 2, h // 2))
    for plane, (pw, ph) in zip(frame.planes, sizes, strict=True):
        rows = np.frombuffer(memoryview(plane), np.uint8)[: ph * plane.line_size]
        if plane.line_size < pw or rows.size < ph * plane.line_size:
            return None
        flat[offset : offset + pw * ph].reshape(ph, pw)[...] = rows.reshape(ph, -1)[:, :pw]
        offset += pw * ph
    return out


class _AudioAssembler:
    """Decoded audio frames in, fixed-size 16 kHz float32 chunks on the media clock out.

    Frames are gathered in an ``AudioFifo`` and resampled about once per output chunk instead
    of once per codec frame (32 ms for AC3): swresample's output does not depend on how its
    input is cut (checked sample for sample), and each call spends its time in Python holding
    the GIL that the analyzers are waiting for.  A gap in the input timestamps (a skipped
    damaged packet) becomes silence, so later audio keeps its true time.
    """

    def __init__(
        self, channel: AudioChannel, chunk: int, origin: float, time_base: Fraction
    ) -> None:
        self._channel = channel
        self._chunk = chunk
        self._origin = origin
        self._time_base = time_base
        self._resampler = self._new_resampler()
        self._fifo = av.AudioFifo()
        self._shape: tuple[str, int, int] | None = None
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._emitted = 0
        self._t0: float | None = None
        self._next_in: float | None = None

    def _new_resampler(self) -> av.AudioResampler:
        if self._channel == "mix":
            return av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        return av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)

    def _samples(self, frame: av.AudioFrame) -> np.ndarray:
        data = frame.to_ndarray()
        if self._channel == "mix":
            return data.reshape(-1)
        return data[0 if self._channel == "left" else 1]

    def _push(self, samples: np.ndarray) -> None:
        if len(samples):
            self._pending.append(samples.astype(np.float32, copy=False))
            self._pending_n += len(samples)

    def _resample(self, frame: av.AudioFrame | None) -> None:
        for out in self._resampler.resample(frame):
            self._push(self._samples(out))

    def _drain(self) -> None:
        if self._fifo.samples:
            self._resample(self._fifo.read())

    def _chunks(self, final: bool = False) -> Iterator[AudioChunk]:
        assert self._t0 is not None
        while self._pending_n >= self._chunk or (final and self._pending_n):
            buf = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            n = min(self._chunk, len(buf))
            yield AudioChunk(self._t0 + self._emitted / SAMPLE_RATE, buf[:n].copy())
            self._emitted += n
            rest = buf[n:]
            self._pending, self._pending_n = ([rest], len(rest)) if len(rest) else ([], 0)

    def add(self, frame: av.AudioFrame) -> Iterator[AudioChunk]:
        """Take one decoded frame; yields the chunks that are complete."""
        rate = frame.sample_rate or SAMPLE_RATE
        t_in = seconds(frame.pts, self._time_base) if frame.pts is not None else self._next_in
        if self._t0 is None:
            self._t0 = self._next_in = t_in if t_in is not None else self._origin
        if t_in is not None and self._next_in is not None and t_in - self._next_in > 0.05:
            self._drain()
            self._push(np.zeros(int((t_in - self._next_in) * SAMPLE_RATE), np.float32))
        self._next_in = (t_in if t_in is not None else self._next_in or 0.0) + (
            frame.samples / rate
        )
        shape = (frame.format.name, frame.layout.nb_channels, rate)
        if shape != self._shape:
            # The stream switched sample format, channels or rate (concatenated MPEG audio, a
            # broadcast recording going from 5.1 to stereo).  Neither the FIFO nor the
            # resampler may see mixed frames (PyAV's FIFO does not check the channel count
            # and overruns its buffer), so finish what came before and start over.
            if self._shape is not None:
                self._drain()
                self._resample(None)
                self._fifo, self._resampler = av.AudioFifo(), self._new_resampler()
            self._shape = shape
        # The FIFO checks that timestamps are contiguous; gaps are handled above.
        frame.pts = None
        self._fifo.write(frame)
        if self._fifo.samples * SAMPLE_RATE >= self._chunk * rate:
            self._drain()
            yield from self._chunks()

    def close(self) -> Iterator[AudioChunk]:
        """Flush the FIFO and the resampler; yields the last chunks (the final one shorter)."""
        if self._t0 is None:
            return
        self._drain()
        self._resample(None)
        yield from self._chunks(final=True)


class Decoder:
    """Iterate ``(spec, Frame)`` and ``(None, AudioChunk)`` pairs from one pass over the file.

    ``threads`` is FFmpeg's video decoding thread count: 0 lets FFmpeg choose, 1 decodes on
    the iterating thread only.
    """

    def __init__(
        self,
        media: MediaInfo,
        specs: list[FrameSpec],
        want_audio: bool,
        *,
        audio_channel: AudioChannel = "mix",
        chunk_seconds: float = 1.0,
        start: float | None = None,
        threads: int = 0,
        stop: threading.Event | None = None,
    ) -> None:
        self.media = media
        self.specs = list(dict.fromkeys(specs)) if media.video else []
        self.want_audio = want_audio and media.audio is not None
        self.audio_channel = audio_channel
        self.chunk = round(chunk_seconds * SAMPLE_RATE)
        self.threads = threads
        self.stop = stop or threading.Event()
        self.stats = DecodeStats()
        self._scalers: dict[tuple[int | None, str], VideoReformatter] = {}
        self._origin = media.start if start is None else start

    # -- video -------------------------------------------------------------------------
    def _convert(self, frame: av.VideoFrame, spec: FrameSpec, cache: dict) -> np.ndarray:
        key = (spec.width, spec.format)
        if key not in cache:
            rotation = self.media.video.rotation if self.media.video else 0
            if spec.format == "yuv420p":
                rotation = 0
            w, h = scaled_size(frame.width, frame.height, spec.width, rotation)
            if (w, h) == (frame.width, frame.height):
                image = _i420(frame) if spec.format == "yuv420p" else None
                if image is None:
                    image = frame.to_ndarray(format=spec.format)
            else:
                # One long-lived reformatter per output shape keeps its swscale context;
                # to_ndarray(width=...) builds a new one per call and is several times slower.
                scaler = self._scalers.setdefault(key, VideoReformatter())
                image = scaler.reformat(
                    frame, width=w, height=h, format=spec.format, interpolation="AREA"
                ).to_ndarray()
            image = rotate(image, rotation)
            image.flags.writeable = False
            cache[key] = image
        return cache[key]

    def __iter__(self) -> Iterator[tuple[FrameSpec | None, Frame | AudioChunk]]:
        media = self.media
        try:
            container = av.open(media.path)
        except av.error.FFmpegError as exc:
            raise InputError(f"{media.path}: cannot open ({exc})") from None
        with container:
            streams: list[av.stream.Stream] = []
            vstream = container.streams.video[0] if self.specs else None
            astream = container.streams.audio[0] if self.want_audio else None
            if vstream is not None:
                if self.threads != 1:
                    vstream.codec_context.thread_type = "AUTO"
                    vstream.codec_context.thread_count = self.threads
                streams.append(vstream)
            if astream is not None:
                streams.append(astream)
            if not streams:
                return
            clocks = [FrameClock(spec.fps, self._origin) for spec in self.specs]
            vguess = TimestampGuesser()
            index = 0
            if vstream is not None:
                vtb = time_base(vstream)
                fps = media.video.fps if media.video and media.video.fps else 25.0
                # A frame without a duration is shown for the nominal frame period, in whole
                # ticks: every time a frame gets lies on its stream's own clock.
                nominal = max(1, round(1 / (fps * vtb)))
                # A frame without any timestamp follows the previous one, as FFmpeg guesses.
                next_pts = round(Fraction(self._origin) / vtb)
            audio = (
                _AudioAssembler(self.audio_channel, self.chunk, self._origin, time_base(astream))
                if astream is not None
                else None
            )
            for packet in container.demux(*streams):
                if self.stop.is_set():
                    return
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    self.stats.damaged_packets += 1
                    continue
                if packet.stream is vstream:
                    for vf in cast("list[av.VideoFrame]", frames):
                        pts = vguess(vf.pts, vf.dts)
                        pts = next_pts if pts is None else pts
                        ticks = vf.duration or nominal
                        next_pts = pts + ticks
                        time = round(seconds(pts, vtb), 6)  # the frame's Frame.time
                        cache: dict = {}
                        for spec, clock in zip(self.specs, clocks, strict=True):
                            if clock.due(time):
                                image = self._convert(vf, spec, cache)
                                yield spec, Frame(index, pts, ticks, vtb, image)
                        index += 1
                elif packet.stream is astream:
                    assert audio is not None
                    for af in cast("list[av.AudioFrame]", frames):
                        yield from ((None, c) for c in audio.add(af))
            if audio is not None:
                yield from ((None, c) for c in audio.close())
            if self.stats.damaged_packets:
                self.stats.warnings.append(
                    f"skipped {self.stats.damaged_packets} damaged packet(s) while decoding"
                )


def load_audio(media: MediaInfo, channel: AudioChannel = "mix") -> tuple[float, np.ndarray]:
    """Decode a whole audio track to 16 kHz float32 (start time, samples): for tools and tests
    that want the full signal; the engine streams chunks instead."""
    parts: list[np.ndarray] = []
    start: float | None = None
    for _, chunk in Decoder(media, [], True, audio_channel=channel, chunk_seconds=30.0):
        assert isinstance(chunk, AudioChunk)
        start = chunk.time if start is None else start
        parts.append(chunk.samples)
    if not parts:
        return media.start, np.zeros(0, np.float32)
    return float(start or 0.0), np.concatenate(parts)
