"""When a text block appeared or vanished between two sampled frames, to the frame.

Text is read on sampled frames (1 per second by default); the frames between two samples are
kept undecoded-to-BGR (the I420 planes the decoder already holds for the shot detector) and
looked at only where a block appeared or vanished from one sample to the next.

**The change profile first.**  The block's box is compared, as luma (the Y plane, no
conversion) scaled to its own contrast, from each frame to the next across the two samples and
the frames between.  Text turning on or off changes its box at one step.  When exactly one step
changed (at least ``FAR``) and every other stayed still (at most ``NEAR``) that step is the edge,
with no frame converted or read: a caption over a still background.  When one step changed at
least twice as much as any other (a caption over moving footage), it is the edge too, unless
the whole picture changed there (a cut, which changes the box whether or not the text changed:
testvideo.mp4's caption is there from its second frame and the box's largest step is the cut
at 1 s); then it is the edge only if the frames on either side of it agree: the frame before
it on the old side and the frame at it on the new (looked at as below).  A fade or scrolling
text gives no such step and goes to the search.

**Otherwise a binary search** over those frames asks, frame by frame, whether the block is
shown:

1. **Pixels first.**  The block's box is compared with the same box in the sample showing
   the block and in the sample without it, as grey levels scaled to their own contrast (so a
   fade, which dims text that stays readable, is not taken for its absence).  When it is
   within ``NEAR`` of one of the two and at least ``FAR`` from the other, that settles it for
   free: a caption over a still or slow background.
2. **The strokes.**  Else the text's strokes (the pixels of the sample with it that stand out
   sharply, and differ in the sample without it, with a one-pixel rim) are correlated with
   the frame, at every place within ``REACH`` line heights (OpenCV's masked template
   matching, each place normalised by its own mean and contrast): the text is there when the
   best place correlates at least ``MATCH``, and not when no place reaches ``UNLIKE``.  Drawn
   text keeps its strokes while the footage under it moves, and text that scrolls keeps them
   at another place; past the last sample, with no picture without the text, the strokes are
   the sharp pixels alone.  Across a cut the samples differ everywhere, not only on the text,
   so an interval with a cut skips this.  Text fading in is faint on its first frames, which
   may correlate as little as footage without it while the recogniser reads them: the frames
   just before an appearing edge that the correlation alone called empty are read.
3. **Reading otherwise.**  Only the recogniser is run, on the block's line crops at their
   known place (no detection); the block is shown when at least half its lines read back as
   their text.

About ``log2(frames between samples)`` frames are looked at per edge the profile does not
settle.  Measured on the tests' rendered captions over Megamind.avi: the profile settles 5 of
9 edges with no look at all, the pixels and strokes 12 looks, and 7 frames are read (2 of them
before appearing edges; 21 with neither, 14 with strokes compared in place only), every edge
still exact.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vidscope.analyzers.vision.text_spans import Box, Line
from vidscope.media.decode import rotate

MIN_CONTRAST = 8.0
"""Grey-level standard deviation below which a box is scaled as if it had this much (so the
noise of a flat box is not blown up into structure)."""
NEAR = 0.15
"""Mean absolute difference of contrast-scaled boxes (in standard deviations) up to which two
frames show the same thing there: H.264 noise on a still background stays under 0.1."""
FAR = 0.45
"""Difference from which two frames show different things there: a caption turning on or
off moves a tight box by 0.8 or more."""

MIN_STROKES = 20
"""Fewest stroke pixels the stroke comparison is made on."""
MATCH = 0.7
UNLIKE = 0.4
"""Correlation of a frame with the sample showing the text, over the text's strokes at the
best place within ``REACH``, from which the frame shows it and up to which it does not.
Measured on the rendered captions over Megamind.avi (moving footage, scrolling text, a lone
letter): 0.88 or more on every frame showing one, 0.24 or less on every frame without."""
DETAIL = 0.5
"""How far (in the box's standard deviations) a stroke pixel stands out from its surroundings
blurred over a quarter of a line height."""
REACH = 1.0
"""How far text may have moved between a frame and the sample, in line heights each way
(scrolling credits, a caption that slides in)."""
CUT = 20.0
"""Mean luma change (0-255) of the picture outside a text box from which a step is a cut:
footage moves it by a few levels from frame to frame, a cut by 30 or more."""

Recognise = Callable[[np.ndarray, Line], bool]
"""Whether the BGR frame shows the line, by reading its crops in place."""


def pixel_box(box: Box, shape: tuple[int, ...], pad: float = 0.0) -> tuple[int, int, int, int]:
    """``box`` (fractions) in pixels of an image of ``shape``, grown by ``pad`` line heights
    on each side (half that vertically), clipped to the image."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    grow = pad * (y1 - y0)
    return (
        max(0, int(x0 - grow)),
        max(0, int(y0 - grow / 2)),
        min(w, int(np.ceil(x1 + grow))),
        min(h, int(np.ceil(y1 + grow / 2))),
    )


def luma(planes: np.ndarray, rotation: int) -> np.ndarray:
    """The Y plane of an I420 frame, in its displayed orientation (a view when not rotated)."""
    y = planes[: planes.shape[0] * 2 // 3]
    return rotate(y, rotation) if rotation else y


def _plain_grey(image: np.ndarray) -> np.ndarray:
    """A BGR or luma image as float grey levels."""
    image = image.astype(np.float32)
    return image @ np.array([0.114, 0.587, 0.299], np.float32) if image.ndim == 3 else image


def _grey(image: np.ndarray, box: Box) -> np.ndarray:
    """The box of a BGR or luma image as grey levels scaled to zero mean and unit contrast."""
    x0, y0, x1, y1 = pixel_box(box, image.shape)
    grey = _plain_grey(image[y0:y1, x0:x1])
    return (grey - grey.mean()) / max(float(grey.std()), MIN_CONTRAST)


def _differ(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _line_height(line: Line, shape: tuple[int, ...]) -> float:
    """Pixel height of one row of the block."""
    _, y0, _, y1 = pixel_box(line.box, shape)
    return (y1 - y0) / max(1, len(line.parts))


def _strokes(with_it: np.ndarray, without: np.ndarray | None, line: Line) -> np.ndarray:
    """Mask of the box's pixels that stand out in the picture with the text, sharply (a
    stroke, not a smooth patch of the footage), and, when there is a picture without it,
    differ there."""
    import cv2

    grey_with = _grey(with_it, line.box)
    detail = grey_with - cv2.GaussianBlur(grey_with, (0, 0), _line_height(line, with_it.shape) / 4)
    strokes = (np.abs(grey_with) >= 1.0) & (np.abs(detail) >= DETAIL)
    if without is not None:
        strokes &= np.abs(grey_with - _grey(without, line.box)) >= 1.0
    # With the pixels next to them: a stroke is bright (or dark) against its rim, and all of
    # one level alone it would have nothing to correlate.
    return cv2.dilate(strokes.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def _match(image: np.ndarray, with_it: np.ndarray, line: Line, strokes: np.ndarray) -> float | None:
    """Correlation of ``image`` with the box of ``with_it`` over the ``strokes`` mask, at the
    place within ``REACH`` line heights of the box where it is highest: -1 where the image is
    flat there, None where the strokes are (nothing to correlate).  OpenCV's masked template
    matching normalises each place by its own mean and contrast, so text that slid or dimmed
    still matches and footage without it does not."""
    import cv2

    x0, y0, x1, y1 = pixel_box(line.box, with_it.shape)
    reach = round(REACH * _line_height(line, with_it.shape)) + 2
    h, w = image.shape[:2]
    top, left = max(0, y0 - reach), max(0, x0 - reach)
    window = image[top : min(h, y1 + reach), left : min(w, x1 + reach)]
    template = _plain_grey(with_it[y0:y1, x0:x1])
    if float(template[strokes].std()) < 1.0:
        return None
    scores = cv2.matchTemplate(
        _plain_grey(window),
        template,
        cv2.TM_CCOEFF_NORMED,
        mask=strokes.astype(np.uint8),
    )
    return float(np.nan_to_num(scores, nan=-1.0, posinf=-1.0, neginf=-1.0).max())


@dataclass
class Step:
    """The frames between two samples, as ``(time, raw image)``, and the two samples' BGR
    pictures and raw images (``after`` is None past the last sample)."""

    before: np.ndarray
    after: np.ndarray | None
    frames: Sequence[tuple[float, np.ndarray]]
    picture: Callable[[np.ndarray], np.ndarray]
    """Raw frame to BGR at the analysis size."""
    recognise: Recognise
    raw: tuple[np.ndarray, np.ndarray | None]
    """The two samples' raw images."""
    rotation: int = 0
    pictures: dict[int, np.ndarray] = field(default_factory=dict)
    edges: dict[str, int] = field(default_factory=dict)
    cuts: dict[Box, bool] = field(default_factory=dict)
    """The latest edge found of each kind (``appeared``, ``vanished``) between these samples."""
    by_change: int = 0
    """Edges the change profile settled without a look."""
    by_pixels: int = 0
    by_reading: int = 0
    strokes: dict[tuple[Box, bool], np.ndarray] = field(default_factory=dict)
    """Each block's strokes, by whether the sample showing it is ``before``: made once for
    all the looks of a search."""
    unlike: set[int] = field(default_factory=set)
    """Frames of the current search that only the strokes' correlation called without the
    text."""

    def _luma(self, i: int) -> np.ndarray:
        """Luma of picture ``i`` of the interval: 0 the ``before`` sample, then the frames
        between, then the ``after`` sample."""
        before, after = self.raw
        if i == 0:
            raw = before
        elif i <= len(self.frames):
            raw = self.frames[i - 1][1]
        else:
            assert after is not None
            raw = after
        return luma(raw, self.rotation)

    def _changes(self, line: Line) -> np.ndarray:
        """How much the line's box changes at each step from the ``before`` sample through
        the frames between to the ``after`` sample: step ``k`` goes into frame ``k`` (the
        ``after`` sample being frame ``len(frames)``)."""
        greys = [_grey(self._luma(i), line.box) for i in range(len(self.frames) + 2)]
        return np.array([_differ(a, b) for a, b in itertools.pairwise(greys)])

    def _edge(self, line: Line, new_side: Callable[[int], bool], kind: str, hi: int) -> int:
        """The first frame past the edge (``len(frames)``: the ``after`` sample), where
        ``new_side(i)`` says whether frame ``i`` is: from the line's change profile when it
        settles it, else at the edge another block of this ``kind`` (appeared, vanished) had
        between these samples when the frames either side agree (text blocks usually change
        together), else by a binary search, narrowed by what those looks found; the edge is
        before frame ``hi`` (``len(frames)`` unless there is no ``after`` sample)."""
        bounds = [-1, hi]
        changes = self._changes(line) if self.raw[1] is not None else np.zeros(0)
        if len(changes) >= 2:
            k, top = int(changes.argmax()), float(changes.max())
            second = float(np.partition(changes, -2)[-2])
            alone = top >= FAR and top >= 2 * second
            if top >= FAR and (second <= NEAR or (alone and not self._cut(k, line.box))):
                self.by_change += 1
                return self._found(kind, k)
            # A cut: the edge is there only if the frames either side of it agree.
            if alone and self._agrees(k, new_side, bounds):
                return self._found(kind, k)
        other = self.edges.get(kind)
        if (
            other is not None
            and bounds[0] < other <= bounds[1]
            and self._agrees(other, new_side, bounds)
        ):
            return other
        return self._found(kind, self._first(new_side, bounds[1], bounds[0]))

    def _agrees(self, k: int, new_side: Callable[[int], bool], bounds: list[int]) -> bool:
        """Whether frame ``k`` is the first past the edge (the frame before it is not, and it
        is), looking at frames inside the search ``bounds`` only; narrows them otherwise."""
        lo, hi = bounds
        if k - 1 > lo and new_side(k - 1):
            bounds[1] = k - 1
            return False
        if k < hi and not new_side(k):
            bounds[0] = k
            return False
        return True

    def _found(self, kind: str, k: int) -> int:
        self.edges[kind] = k
        return k

    def _cut_inside(self, box: Box) -> bool:
        """Whether a cut lies between the two samples (outside ``box``); asked at every look,
        answered once per box."""
        if box not in self.cuts:
            steps = range(len(self.frames) + (self.raw[1] is not None))
            self.cuts[box] = any(self._cut(k, box) for k in steps)
        return self.cuts[box]

    def _cut(self, k: int, box: Box) -> bool:
        """Whether the picture outside ``box`` changed as a whole at step ``k`` (a cut), not
        just the box (the text turning on or off)."""
        a, b = (self._luma(i)[::8, ::8].astype(np.float32) for i in (k, k + 1))
        x0, y0, x1, y1 = pixel_box(box, a.shape)
        outside = np.ones(a.shape, bool)
        outside[y0:y1, x0:x1] = False
        return bool(outside.any()) and float(np.abs(a - b)[outside].mean()) >= CUT

    def _image(self, i: int) -> np.ndarray:
        if i not in self.pictures:
            self.pictures[i] = self.picture(self.frames[i][1])
        return self.pictures[i]

    def shown(self, i: int, line: Line, with_it: np.ndarray, without: np.ndarray | None) -> bool:
        """Whether frame ``i`` shows ``line``, given a picture ``with_it`` and one ``without``
        (None past the last sample)."""
        image = self._image(i)
        region = _grey(image, line.box)
        grey_with = _grey(with_it, line.box)
        d_with = _differ(region, grey_with)
        if without is not None:
            d_without = _differ(region, _grey(without, line.box))
            if min(d_with, d_without) <= NEAR and max(d_with, d_without) >= FAR:
                self.by_pixels += 1
                return d_with < d_without
        elif d_with <= NEAR:
            # Past the last sample: a box as it was where the text was read still shows it.
            self.by_pixels += 1
            return True
        # The strokes: drawn text keeps its pixels while the footage under and around it
        # moves, so on them alone a frame showing it is like the sample with it, and one
        # without is not.  Across a cut the samples differ everywhere, not only on the text.
        if not self._cut_inside(line.box):
            side = (line.box, with_it is self.before)
            if side not in self.strokes:
                self.strokes[side] = _strokes(with_it, without, line)
            strokes = self.strokes[side]
            match = _match(image, with_it, line, strokes) if strokes.sum() >= MIN_STROKES else None
            if match is not None and (match >= MATCH or match <= UNLIKE):
                self.by_pixels += 1
                if match <= UNLIKE:
                    self.unlike.add(i)
                return match >= MATCH
        return self._read(i, line)

    def _read(self, i: int, line: Line) -> bool:
        self.by_reading += 1
        return self.recognise(self._image(i), line)

    def _first(self, test: Callable[[int], bool], hi: int, lo: int = -1) -> int:
        """The first index in ``(lo, hi)`` where ``test`` holds, ``hi`` if none; ``test`` is
        false up to ``lo``, and before some index and true from it on."""
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if test(mid):
                hi = mid
            else:
                lo = mid
        return hi

    def appeared(self, line: Line, at: float) -> float:
        """When ``line``, read in the ``after`` sample taken at ``at``, first showed."""
        assert self.after is not None
        after = self.after

        def test(k: int) -> bool:
            return self.shown(k, line, after, self.before)

        self.unlike = set()
        i = self._edge(line, test, "appeared", len(self.frames))
        # Text fading in is faint on its first frames, which the correlation calls empty and
        # the recogniser may still read (a caption over moving footage, 5 % faded in: 0.14,
        # and read): the frames before the edge that only the correlation called empty are
        # read, so a fade starts where the text can first be read, as it did before.
        while i > 0 and i - 1 in self.unlike and self._read(i - 1, line):
            i -= 1
        return self.frames[i][0] if i < len(self.frames) else at

    def vanished(self, line: Line, at: float) -> float | None:
        """The first frame without ``line`` (read in the ``before`` sample), ``at`` (the
        ``after`` sample's time) if it is in none of the frames between; past the last sample
        (``after`` None), None when the last frame still shows it."""
        n = len(self.frames)

        def test(k: int) -> bool:
            return not self.shown(k, line, self.before, self.after)

        if self.after is None:
            if not n or self.shown(n - 1, line, self.before, None):
                return None
            n -= 1  # the last frame is known to be without it
        i = self._edge(line, test, "vanished", n)
        return self.frames[i][0] if i < len(self.frames) else at
