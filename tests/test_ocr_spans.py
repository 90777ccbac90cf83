"""ocr: phrases drawn over real footage come back one record each, with their edges to the
tenth of a second and nothing else; and the three pieces that make that (blocks, edges,
the sanity rules) on their own."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from conftest import need

need("rapidocr", reason="the vision extra is not installed")
need("cv2", reason="the shots extra is not installed")

from ocr_clips import (
    CREDITS,
    PHRASES,
    Phrase,
    alike,
    generated,
    joined,
    render,
    score,
    words,
)
from vidscope.analyzers.settings import load_settings
from vidscope.analyzers.vision.text_blocks import merge_lines
from vidscope.analyzers.vision.text_edges import Step
from vidscope.analyzers.vision.text_filter import SpanFilter
from vidscope.analyzers.vision.text_spans import Line, normalise
from vidscope.engine.local import Engine


@pytest.fixture(scope="module")
def clip_result(media, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ocr_spans")
    clip = render(tmp / "phrases.mp4", media("debian/Megamind.avi"))
    with Engine(load_settings(overrides={"analyzers": ["ocr"]}).settings) as engine:
        return engine.analyze(clip, tmp / "out")


@pytest.mark.slow
def test_phrases_over_footage_are_read_once_each_with_their_edges(clip_result):
    records = clip_result.track("ocr")
    found = score(records)
    assert found.recall >= 0.95
    assert found.worst_edge <= 0.1, found.edge_errors
    assert found.unlisted == []
    # One record per phrase and shot: a phrase is never cut into pieces within a shot.
    per_shot = Counter((words(r["text"]), r["shot"]) for r in records)
    assert set(per_shot.values()) == {1}
    block = [r for r in records if words(r["text"]) == words(PHRASES[1].text)]
    assert block and all(
        [words(p["text"]) for p in r["lines"]] == ["meettheteam", "atninetonight"] for r in block
    )
    for r in records:
        x0, y0, x1, y1 = r["box"]
        for part in r["lines"]:
            px0, py0, px1, py1 = part["box"]
            assert x0 - 0.05 < px0 < px1 < x1 + 0.05 and y0 - 0.05 < py0 < py1 < y1 + 0.05
    counters = clip_result.run_report["stages"]["ocr"]["counters"]
    assert counters["edges_timed"] >= 2 * len(PHRASES)
    assert counters["edge_frames_compared"] > 0  # the still background is settled by pixels


@pytest.mark.slow
def test_scrolling_credits_and_a_fading_title_are_one_record_each(media, tmp_path):
    clip = render(tmp_path / "credits.mp4", media("debian/Megamind.avi"), CREDITS)
    with Engine(load_settings(overrides={"analyzers": ["ocr"]}).settings) as engine:
        records = engine.analyze(clip, tmp_path / "out").track("ocr")
    found = score(records, CREDITS)
    assert found.recall == 1.0 and found.unlisted == []  # the credits in one piece
    scroll, title, lower = (
        next(s for s in joined(records) if alike(s["text"], p.text)) for p in CREDITS
    )
    assert abs(scroll["start"] - 1.32) <= 0.1 and abs(scroll["end"] - 5.72) <= 0.1
    # A fade's edges are where its text can be read: inside the fade.
    assert 2.4 <= title["start"] <= 2.9 and 6.1 <= title["end"] <= 6.64
    assert abs(lower["start"] - 6.32) <= 0.04 and abs(lower["end"] - 9.72) <= 0.1


@pytest.mark.slow
@pytest.mark.parametrize(
    "footage",
    [
        "pyscenedetect/testvideo.mp4",
        "pyscenedetect/counter.mp4",
        "lavfi:testsrc2",
        "lavfi:smptehdbars",
    ],
)
def test_phrases_beside_the_footages_own_text_are_records_of_their_own(media, tmp_path, footage):
    """Footage with text of its own where the phrases are drawn: testvideo.mp4's copyright
    line under the lower phrases, counter.mp4's frame counter (ticking every 0.1 s) beside
    them, FFmpeg's testsrc2 with its running timecode; and FFmpeg's colour bars, over which
    the detector reads a line only in part in some samples.  Each phrase is still one record
    with its edges, and the footage's text is never part of a phrase's record."""
    if footage.startswith("lavfi:"):
        source = generated(footage.removeprefix("lavfi:"), tmp_path / "footage.mp4")
    else:
        source = media(footage)
    clip = render(tmp_path / "phrases.mp4", source)
    with Engine(load_settings(overrides={"analyzers": ["ocr"]}).settings) as engine:
        records = engine.analyze(clip, tmp_path / "out").track("ocr")
    found = score(records)
    assert found.recall == 1.0
    assert found.worst_edge <= 0.1, found.edge_errors
    said = [words(p.text) for p in PHRASES]
    mixed = [r["text"] for r in records if any(w in words(r["text"]) for w in said)]
    assert all(words(t) in said for t in mixed), mixed


@pytest.mark.slow
def test_a_sample_whose_detector_misses_the_text_does_not_break_it(tmp_path):
    """White letters without an outline over FFmpeg's moving testsrc: the detector misses
    them in the sample at 10 s though they are shown from 6.9 s to 12.4 s.  The recogniser,
    asked only because the text seemed to go exactly at that sample, reads them in place, so
    they stay one record with their true edges (were: 6.92-9.92 s and 11.0-12.4 s)."""
    phrase = Phrase(
        "Episode seven", 6.9, 12.4, "DejaVuSans-Oblique.ttf", 18, (420, 300), outline=False
    )
    clip = render(
        tmp_path / "c.mp4", generated("testsrc", tmp_path / "f.mp4"), (phrase,), seconds=14.0
    )
    with Engine(load_settings(overrides={"analyzers": ["ocr"]}).settings) as engine:
        records = engine.analyze(clip, tmp_path / "out").track("ocr")
    assert [r["text"] for r in records] == ["Episode seven"]
    found = score(records, (phrase,))
    assert found.worst_edge <= 0.1, found.edge_errors


def line(text: str, box: tuple[float, float, float, float], score: float = 0.95) -> Line:
    return Line(text, normalise(text), box, score)


def test_text_that_moved_between_samples_is_the_same_line():
    """Scrolling credits move a line's whole height or more between two samples a second
    apart: the same text at the same size is followed; short text or text of another size
    is not."""
    from vidscope.analyzers.vision.text_spans import pair_up

    credit = line("Directed by Someone Famous", (0.10, 0.70, 0.60, 0.78))
    scrolled = line("Directed by Someone Famous", (0.10, 0.58, 0.60, 0.66))
    misread = line("Directed by Someone Famuos", (0.11, 0.58, 0.61, 0.66))
    assert pair_up([credit], [scrolled], 0.8, 0.3) == [(0, 0)]
    assert pair_up([credit], [misread], 0.8, 0.3) == [(0, 0)]
    bigger = line("Directed by Someone Famous", (0.10, 0.50, 0.80, 0.62))
    assert pair_up([credit], [bigger], 0.8, 0.3) == []
    short = (line("SALE", (0.1, 0.1, 0.2, 0.15)), line("SALE", (0.6, 0.6, 0.7, 0.65)))
    assert pair_up([short[0]], [short[1]], 0.8, 0.3) == []
    # In place before moved: the line that stayed is the one continued.
    again = line("Directed by Someone Famous", (0.10, 0.70, 0.60, 0.78))
    assert pair_up([credit], [scrolled, again], 0.8, 0.3) == [(0, 1)]


def test_pieces_of_a_row_and_rows_of_a_caption_are_one_block():
    # 16:9 frame; boxes as the detector gives them for 40-pixel text on a 640x360 frame.
    pieces = [
        line("Final", (0.10, 0.60, 0.20, 0.71)),
        line("notice today", (0.26, 0.60, 0.55, 0.72)),
    ]
    caption = [
        line("Meet the team", (0.55, 0.05, 0.90, 0.12)),
        line("at nine", (0.56, 0.14, 0.80, 0.21)),
    ]
    apart = [
        line("Copyright 2013", (0.05, 0.85, 0.55, 0.92)),
        line("www.site.com", (0.70, 0.85, 0.95, 0.92)),
    ]
    title = [line("BIG TITLE", (0.10, 0.30, 0.60, 0.50))]
    blocks = merge_lines(pieces + caption + apart + title, 16 / 9)
    assert [b.text for b in blocks] == [
        "Meet the team\nat nine",
        "BIG TITLE",
        "Final notice today",
        "Copyright 2013",
        "www.site.com",
    ]
    caption_block = blocks[0]
    assert [t for t, _ in caption_block.parts] == ["Meet the team", "at nine"]
    assert caption_block.box == (0.55, 0.05, 0.90, 0.21)
    assert blocks[2].key == "final notice today" and len(blocks[2].parts) == 1


def _brief(text: str, frames: int = 1, score: float = 0.95) -> dict:
    return {"text": text, "frames": frames, "score": score}


def test_a_sample_that_reads_a_block_in_part_does_not_cut_its_record():
    """One sample reads only "notice" of "Final notice today" (the detector misses the
    rest over some backgrounds), the next reads it whole again: one record, its text the
    whole reading.  A counter's number that changed is other text, not a part."""
    from vidscope.analyzers.vision.text_spans import TextSpanTracker, pair_up

    whole = line("Final notice today", (0.10, 0.60, 0.70, 0.70))
    part = line("notice", (0.33, 0.60, 0.52, 0.70))
    assert pair_up([whole], [part], 0.8, 0.3) == [(0, 0)]
    tracker = TextSpanTracker(0.8, 0.3)
    out = []
    for time, lines in ((7.0, [whole]), (8.0, [part]), (9.0, [whole]), (10.0, [])):
        out += tracker.observe(time, None, lines)
    assert [(r["start"], r["end"], r["text"]) for r in out] == [(7.0, 10.0, "Final notice today")]
    ticked = (line("Frame = 21", (0.4, 0.4, 0.6, 0.46)), line("Frame = 1", (0.4, 0.4, 0.58, 0.46)))
    assert pair_up([ticked[0]], [ticked[1]], 0.8, 0.3) == []
    short = line("today", (0.55, 0.60, 0.70, 0.70))
    assert pair_up([whole], [short], 0.8, 0.3) == []  # too short to say it is a part


def test_brief_stray_readings_go_and_persistent_text_stays():
    spans = SpanFilter(persist=3)
    kept_now = spans.add(
        [_brief("Breaking news", 8), _brief("O", 5), _brief("m"), _brief("0"), _brief("口口")]
    )
    assert [r["text"] for r in kept_now] == ["Breaking news", "O"]
    # A brief span in the persistent text's script goes out at once (the transcript's screen
    # hints need it while its audio is decoded); one in another script waits for the end.
    later = spans.add([_brief("Tonight", 2), _brief("Tomght", 1, 0.62), _brief("Привет", 2)])
    assert [r["text"] for r in later] == ["Tonight"]
    assert spans.finish() == []
    assert spans.dropped == 5
    # With no persistent text, the brief spans' own letters say which script the video uses.
    alone = SpanFilter(persist=3)
    assert alone.add([_brief("Привет мир друзья", 2), _brief("ok", 1)]) == []
    assert [r["text"] for r in alone.finish()] == ["Привет мир друзья"]


def _frame(text_on: bool, shift: int = 0, seed: int = 0) -> np.ndarray:
    """A 64x256 BGR frame: a textured background (blobs of 16 pixels, as footage is smooth
    at that scale; moved ``shift`` pixels) with a white bar standing for text in the middle
    when ``text_on``."""
    import cv2

    rng = np.random.default_rng(seed)
    blobs = rng.integers(0, 120, (4, 32, 3)).astype(np.uint8)
    background = cv2.resize(blobs, (512, 64), interpolation=cv2.INTER_CUBIC)
    image = np.ascontiguousarray(background[:, shift : shift + 256])
    if text_on:
        image[24:40, 64:192:8] = 255
    return image


def _i420(bgr: np.ndarray) -> np.ndarray:
    """A BGR frame as the decoder hands it over: I420 planes."""
    import cv2

    return cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)


def _picture(raw: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(raw, cv2.COLOR_YUV2BGR_I420)


def _step(before: np.ndarray, after: np.ndarray | None, frames, recognise) -> Step:
    return Step(
        _picture(_i420(before)),
        None if after is None else _picture(_i420(after)),
        [(t, _i420(f)) for t, f in frames],
        _picture,
        recognise,
        (_i420(before), None if after is None else _i420(after)),
    )


@pytest.mark.parametrize("moving", [False, True])
def test_edges_are_found_without_reading_where_the_pixels_tell(moving):
    box = (64 / 256, 24 / 64, 192 / 256, 40 / 64)
    text = line("TEXT", box)
    appears = 7  # of 10 frames between the samples
    frames = [(1.0 + i / 10, _frame(i >= appears, 4 * i * moving)) for i in range(10)]
    reads: list[int] = []

    def recognise(image: np.ndarray, target: Line) -> bool:
        reads.append(1)
        return bool(image[24:40, 64:192:8].min() >= 250)

    step = _step(_frame(False), _frame(True, 40 * moving), frames, recognise)
    assert step.appeared(text, 2.0) == pytest.approx(1.7)
    # Still or panning, the box changes most at one step, and the picture around it does not
    # change as a whole there: that step is the edge, no frame looked at.
    assert (step.by_change, step.by_pixels, step.by_reading) == (1, 0, 0)
    vanishing = [(1.0 + i / 10, _frame(i < 4, 4 * i * moving)) for i in range(10)]
    gone = _step(_frame(True), _frame(False, 40 * moving), vanishing, recognise)
    assert gone.vanished(text, 2.0) == pytest.approx(1.4)
    assert (gone.by_change, gone.by_pixels, gone.by_reading) == (1, 0, 0)
    # Past the last sample there is no picture without the text to compare with: the
    # pixels that stand out with it, matched where the text may have moved, tell.
    past_end = _step(_frame(True), None, vanishing, recognise)
    assert past_end.vanished(text, 2.0) == pytest.approx(1.4)
    assert past_end.by_reading == 0 and 0 < past_end.by_pixels <= 5  # the last, then log2(9)
    still_on = _step(_frame(True), None, vanishing[:3], recognise)
    assert still_on.vanished(text, 2.0) is None


def test_text_fading_in_starts_at_its_first_readable_frame():
    """Text fading in over grainy footage that moves: on its first frame (5 % of the way in)
    the strokes' correlation calls it empty, the recogniser still reads it, and that frame
    is the edge."""
    box = (64 / 256, 24 / 64, 192 / 256, 40 / 64)
    text = line("TEXT", box)
    grain = np.random.default_rng(7).normal(0.0, 20.0, (64, 512, 1))

    def picture(i: int) -> np.ndarray:
        image = np.clip(_frame(False, 4 * i) + grain[:, 4 * i : 4 * i + 256], 0, 255)
        if i >= 6:
            alpha = 0.05 if i == 6 else 1.0
            image[24:40, 64:192:8] += alpha * (255 - image[24:40, 64:192:8])
        return np.round(image).astype(np.uint8)

    def recognise(image: np.ndarray, target: Line) -> bool:
        return bool(image[24:40, 64:192:8].mean() >= 70)  # the grain alone: about 66

    frames = [(1.0 + i / 10, picture(i)) for i in range(10)]
    step = _step(_frame(False), picture(10), frames, recognise)
    assert step.appeared(text, 2.0) == pytest.approx(1.6)
    assert 0 < step.by_reading <= 2


def test_a_cut_between_the_samples_is_not_taken_for_the_edge():
    """The text appears at the 8th frame between two samples, and the shot changes at the
    4th: the box changes most at the cut, which is not the edge."""
    box = (64 / 256, 24 / 64, 192 / 256, 40 / 64)
    text = line("TEXT", box)

    def picture(text_on: bool, shot: int) -> np.ndarray:
        # Thin strokes: the text changes its box far less than the cut does.
        image = _frame(False, seed=shot)
        if text_on:
            image[30:34, 64:192:16] = 255
        return image

    frames = [(1.0 + i / 10, picture(i >= 7, int(i >= 3))) for i in range(10)]

    def recognise(image: np.ndarray, target: Line) -> bool:
        return bool(image[30:34, 64:192:16].min() >= 250)

    step = _step(picture(False, 0), picture(True, 1), frames, recognise)
    changes = step._changes(text)
    assert changes.argmax() == 3 and changes.max() >= 2 * np.partition(changes, -2)[-2]
    assert step.appeared(text, 2.0) == pytest.approx(1.7)
    # Two looks either side of the cut, then a search of the frames after it.
    assert step.by_change == 0 and step.by_pixels + step.by_reading <= 2 + 3


def test_a_caption_beside_text_already_on_screen_is_its_own_block():
    """Near enough to join, but the copyright line was there before the caption came: they
    stay apart while both are shown; rows that change together (a counter) stay one."""
    copyright_ = line("Copyright 2013 Someone", (0.05, 0.85, 0.55, 0.92))
    caption = line("Final notice today", (0.05, 0.74, 0.50, 0.82))
    first = merge_lines([copyright_], 16 / 9, time=0.0)
    assert merge_lines([caption, copyright_], 16 / 9, time=0.0)[0].text.count("\n") == 1
    second = merge_lines([caption, copyright_], 16 / 9, first, time=1.0)
    assert [(b.text, b.born) for b in second] == [
        ("Final notice today", 1.0),
        ("Copyright 2013 Someone", 0.0),
    ]
    third = merge_lines([caption, copyright_], 16 / 9, second, time=2.0)
    assert [(b.text, b.born) for b in third] == [(b.text, b.born) for b in second]
    # A word misread in place is the same text; a number that changed is new text.
    misread = line("Copyright 2013 Sameone", copyright_.box)
    assert merge_lines([misread], 16 / 9, first, time=1.0)[0].born == 0.0
    ticked = line("Copyright 2014 Someone", copyright_.box)
    assert merge_lines([ticked], 16 / 9, first, time=1.0)[0].born == 1.0

    frame = [
        line("Frame = 1", (0.40, 0.40, 0.60, 0.46)),
        line("PTS = 0.0s", (0.40, 0.48, 0.60, 0.54)),
    ]
    ticked_rows = [line("Frame = 11", frame[0].box), line("PTS = 1.0s", frame[1].box)]
    counter = merge_lines(frame, 16 / 9, time=0.0)
    assert [b.text for b in merge_lines(ticked_rows, 16 / 9, counter, time=1.0)] == [
        "Frame = 11\nPTS = 1.0s"
    ]


def test_rows_that_came_together_are_parted_when_the_next_sample_tells():
    """A caption appeared in the same second as the counter beside it ticked: both new, one
    block.  The next sample shows the caption unchanged and the counter changed again, so the
    earlier block is cut in two, and the caption's record can start where it appeared."""
    from vidscope.analyzers.vision.text_blocks import split_back

    caption = line("Final notice today", (0.40, 0.30, 0.70, 0.37))
    counter = [
        line("Frame = 11", (0.40, 0.40, 0.60, 0.46)),
        line("PTS = 1.0s", (0.40, 0.48, 0.60, 0.54)),
    ]
    before = merge_lines([caption, *counter], 16 / 9, time=6.0)
    assert [b.text for b in before] == ["Final notice today\nFrame = 11\nPTS = 1.0s"]
    later = [line("Frame = 21", counter[0].box), line("PTS = 2.0s", counter[1].box)]
    after = merge_lines([caption, *later], 16 / 9, before, time=7.0)
    assert [(b.text, b.born) for b in after] == [
        ("Final notice today", 6.0),
        ("Frame = 21\nPTS = 2.0s", 7.0),
    ]
    parted = split_back(before, after)
    assert [b.text for b in parted] == ["Final notice today", "Frame = 11\nPTS = 1.0s"]
    assert [len(b.parts) for b in parted] == [1, 2] and parted[0].box == caption.box
    # When the next sample keeps them together, nothing is cut.
    still = merge_lines([caption, *counter], 16 / 9, before, time=7.0)
    assert split_back(before, still) == before


def test_rows_of_one_block_stay_one_when_a_box_takes_in_background():
    """The detector's box for a row grew over the background in one sample (taller than the
    row-height rule allows); the rows still say what the block's rows said, so they stay
    one block.  Without a block before them, the same boxes are two blocks."""
    rows = [
        line("Mountain pass closed", (0.447, 0.406, 0.853, 0.497)),
        line("until further notice", (0.464, 0.489, 0.808, 0.567)),
    ]
    before = merge_lines(rows, 16 / 9, time=5.0)
    assert [b.text for b in before] == ["Mountain pass closed\nuntil further notice"]
    grown = [
        rows[0]._replace(box=(0.400, 0.400, 0.853, 0.503)),
        rows[1]._replace(box=(0.463, 0.494, 0.806, 0.558)),
    ]
    assert [b.text for b in merge_lines(grown, 16 / 9, before, time=6.0)] == [
        "Mountain pass closed\nuntil further notice"
    ]
    assert len(merge_lines(grown, 16 / 9, time=6.0)) == 2
