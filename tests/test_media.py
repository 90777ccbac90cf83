"""Probing and the one-pass decoder on real and synthetic media."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from synth import make_audio, make_video
from vidscope.analyzers.base import AudioChunk, FrameSpec
from vidscope.errors import InputError
from vidscope.media.decode import Decoder, load_audio
from vidscope.media.probe import probe


def test_probe_variable_frame_rate(media):
    info = probe(media("pyscenedetect/goldeneye-vfr-drop3.mp4"))
    assert info.video is not None and info.audio is None
    assert info.video.vfr
    assert info.video.fps == pytest.approx(23.976, abs=1e-3)
    assert info.duration == pytest.approx(9.97, abs=0.01)


def test_probe_keeps_the_files_own_time_base(media):
    info = probe(media("pyscenedetect/delayed_start.mp4"))
    assert info.start == pytest.approx(1.075)
    frames = [f for _, f in Decoder(info, [FrameSpec()], False)]
    assert frames[0].time == pytest.approx(1.075)
    assert all(b.time > a.time for a, b in itertools.pairwise(frames))


def test_packed_b_frames_get_monotonic_times(media):
    info = probe(media("debian/Megamind.avi"))
    times = [f.time for _, f in Decoder(info, [FrameSpec(width=64)], False)]
    assert len(times) == 270
    # PTS in this AVI come in decode order (1, 2, 3, 5, 4, ...); re-timed they never go back.
    assert all(b >= a for a, b in itertools.pairwise(times))
    assert times[-1] == pytest.approx(270 / 23.976, abs=0.05)


def test_damaged_audio_packet_is_skipped_not_fatal(media):
    info = probe(media("debian/Megamind.avi"))
    decoder = Decoder(info, [], True)
    chunks = [c for _, c in decoder]
    assert decoder.stats.damaged_packets >= 1
    total = sum(len(c.samples) for c in chunks) / 16000
    # The whole soundtrack survives the broken AC3 frame, at its true times.
    assert total == pytest.approx(info.duration, abs=0.3)
    assert chunks[-1].end == pytest.approx(info.end, abs=0.3)


def test_one_decode_serves_each_analyzer_its_rate_and_size(media):
    info = probe(media("pyscenedetect/testvideo.mp4"))
    every = FrameSpec()
    small = FrameSpec(fps=2, width=128, format="gray")
    got: dict[FrameSpec, list] = {every: [], small: []}
    for spec, frame in Decoder(info, [every, small], False):
        got[spec].append(frame)
    assert len(got[every]) == 720
    assert got[every][0].image.shape == (720, 1280, 3)
    assert got[small][0].image.shape == (72, 128)
    assert len(got[small]) == pytest.approx(info.duration * 2, abs=1)
    gaps = np.diff([f.time for f in got[small]])
    assert gaps.max() < 0.5 + 1 / 29.97 + 1e-6


@pytest.mark.parametrize("name", ["debian/Megamind.avi", "pyscenedetect/counter.mp4"])
def test_yuv420p_frames_are_the_decoded_planes(media, name):
    """The decoder's own I420 packing (one copy per plane) equals PyAV's to_ndarray."""
    path = media(name)
    spec = FrameSpec(format="yuv420p")
    ours = [f.image for _, f in Decoder(probe(path), [spec], False)]
    with av.open(str(path)) as container:
        theirs = [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape
        assert np.array_equal(a, b)


@pytest.mark.parametrize("threads", [0, 2])
def test_threaded_decoding_gives_the_same_frames_and_times(media, threads):
    """FFmpeg's frame threading (what ``decode_threads`` turns on) changes nothing in what the
    analyzers receive, on a variable-frame-rate H.264 clip with dropped frames."""
    info = probe(media("pyscenedetect/goldeneye-vfr-drop3.mp4"))
    spec = FrameSpec(width=320, format="gray")

    def frames(n: int) -> list:
        return [f for _, f in Decoder(info, [spec], False, threads=n)]

    single, threaded = frames(1), frames(threads)
    assert len(single) == len(threaded) == 160
    for a, b in zip(single, threaded, strict=True):
        assert (a.index, a.time, a.duration) == (b.index, b.time, b.duration)
        assert np.array_equal(a.image, b.image)


def test_audio_is_16k_mono_and_channels_can_be_picked(media):
    info = probe(media("faster-whisper/stereo_diarization.wav"))
    _, mix = load_audio(info)
    _, left = load_audio(info, "left")
    _, right = load_audio(info, "right")
    assert mix.dtype == np.float32
    assert len(mix) == pytest.approx(5.0 * 16000, abs=400)
    assert not np.allclose(left, right)


def test_six_channel_and_8k_audio_decode(tmp_path):
    six = make_audio(tmp_path / "six.wav", np.full((6, 48000), 0.1), rate=48000, channels=6)
    low = make_audio(tmp_path / "low.wav", 0.1 * np.ones(8000), rate=8000)
    for path, seconds in ((six, 1.0), (low, 1.0)):
        _, samples = load_audio(probe(path))
        assert len(samples) == pytest.approx(seconds * 16000, abs=200)
        chunk_times = [c.time for _, c in Decoder(probe(path), [], True)]
        assert chunk_times == [0.0]


def test_audio_does_not_depend_on_how_it_is_cut(media):
    # Frames are gathered and resampled about once per chunk; the samples must be exactly
    # those of resampling each codec frame as it comes, whatever the chunk length.
    info = probe(media("faster-whisper/multilingual.mp3"))
    resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
    frame_by_frame = []
    with av.open(info.path) as container:
        for frame in container.decode(audio=0):
            frame_by_frame += [o.to_ndarray().reshape(-1) for o in resampler.resample(frame)]
    frame_by_frame += [o.to_ndarray().reshape(-1) for o in resampler.resample(None)]
    reference = np.concatenate(frame_by_frame)
    one_second = np.concatenate([c.samples for _, c in Decoder(info, [], True)])
    _, thirty_seconds = load_audio(info)
    assert np.array_equal(one_second, reference)
    assert np.array_equal(thirty_seconds, reference)


def test_audio_that_changes_rate_and_channels_mid_stream(tmp_path):
    # Concatenated MPEG audio: one second of 440 Hz stereo at 48 kHz, then one second of
    # 880 Hz mono at 32 kHz.  Both halves arrive, in order, at their times.
    def tone(name: str, rate: int, channels: int, hz: float) -> Path:
        wave = 0.3 * np.sin(2 * np.pi * hz * np.arange(rate) / rate)
        return make_audio(tmp_path / name, wave, rate, channels, codec="mp2")

    first, second = tone("a.mp2", 48000, 2, 440.0), tone("b.mp2", 32000, 1, 880.0)
    joined = tmp_path / "joined.mp2"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    start, samples = load_audio(probe(joined))
    assert start == 0.0
    assert len(samples) / 16000 == pytest.approx(2.0, abs=0.1)

    def pitch(part: np.ndarray) -> float:
        return float(np.argmax(np.abs(np.fft.rfft(part)))) * 16000 / len(part)

    assert pitch(samples[2000:14000]) == pytest.approx(440, abs=5)
    assert pitch(samples[20000:30000]) == pytest.approx(880, abs=5)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"this is a text file, not a video\n" * 20, "not a readable media file"),
    ],
)
def test_probe_rejects_non_media(tmp_path, content, message):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        probe(path)


def test_probe_rejects_truncated_video(tmp_path, media):
    data = media("pyscenedetect/testvideo.mp4").read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 50])
    with pytest.raises(InputError):
        probe(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "nope.mp4")


def test_synthetic_video_round_trip(tmp_path):
    cuts = make_video(tmp_path / "s.mp4", [1.0, 1.0], tone_hz=440)
    info = probe(tmp_path / "s.mp4")
    assert cuts == [1.0]
    assert info.video is not None and info.audio is not None
    items = list(Decoder(info, [FrameSpec(fps=5, width=32)], True))
    assert any(isinstance(i, AudioChunk) for _, i in items)
