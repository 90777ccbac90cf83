"""The HTML report (``vidscope report``) in headless Chromium, and ``vidscope show``'s summary.

Three bundles: Megamind.avi analysed for real (AVI does not play in browsers: keyframes),
PySceneDetect's testvideo.mp4 with shots and on-screen text (H.264 MP4: the video player), and
a synthetic bundle written directly, where exact counts, overlaps and hostile text matter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vidscope
from conftest import ROOT, missing, need
from vidscope.analyzers import registry
from vidscope.analyzers.base import Analyzer, TrackView
from vidscope.errors import InputError
from vidscope.report import write_report
from vidscope.report.data import MAX_POINTS, build
from vidscope.timeline.bundle import BundleWriter
from vidscope.timeline.result import Result
from vidscope.timeline.summary import summarize

CHROMIUM = Path("/usr/bin/chromium")
# Root has no sandbox to offer; the rest keeps the browser from reaching out on its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACT = ROOT / "out" / "test-artifacts" / "report.png"

HOSTILE = "</script><script>document.title='pwned'</script><!--"


def _visible(page, lane: str) -> int:
    return page.locator(f'[data-lane="{lane}"] .it:not(.off)').count()


def _words(result: Result) -> list[str]:
    return [w["word"].strip() for r in result.iter_track("transcript") for w in r["words"]]


# -- bundles ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def megamind(media, tmp_path_factory) -> Result:
    return vidscope.analyze(
        media("debian/Megamind.avi"),
        analyzers=["shots", "transcript", "visual_stats", "audio_features", "audio_class"],
        output=tmp_path_factory.mktemp("megamind"),
    )


@pytest.fixture(scope="module")
def testvideo(media, tmp_path_factory) -> Result:
    return vidscope.analyze(
        media("pyscenedetect/testvideo.mp4"),
        analyzers=["shots", "ocr"],
        output=tmp_path_factory.mktemp("testvideo"),
    )


CAPTIONS = [
    {"start": float(s), "end": s + 1.0, "text": "a red mug on a desk" if s % 3 else "a street"}
    for s in range(30)
]
CAPTIONS[7]["text"] = HOSTILE
OCR = [
    {"start": 0.0, "end": 10.0, "text": "MUG FACTORY"},
    {"start": 2.0, "end": 4.0, "text": "Café Müller"},
    {"start": 3.0, "end": 12.0, "text": "line three"},
    {"start": 5.0, "end": 6.0, "text": "mugshot"},
    {"start": 20.0, "end": 21.0, "text": "the end"},
]
SHOTS = [
    {"start": 0.0, "end": 12.5, "index": 0},
    {"start": 12.5, "end": 20.0, "index": 1},
    {"start": 20.0, "end": 30.0, "index": 2},
]
ATTRIBUTES = ("suspense", "darkness", "ambiguity", "emotional_tension", "intensity", "motion")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """30 s, no media file: 3 shots, 30 captions, 5 overlapping on-screen texts, a
    transcript in two languages, faces at 5 fps, shot captions (six equal attributes), a
    summary, and an objects track without a record."""
    root = tmp_path_factory.mktemp("synthetic")
    words = [{"word": f" w{k}", "start": 13 + k * 0.5, "end": 13.4 + k * 0.5} for k in range(10)]
    tracks = {
        "shots": SHOTS,
        "captions": CAPTIONS,
        "ocr": OCR,
        "transcript": [
            {
                "start": 1.0,
                "end": 3.0,
                "text": "Hello mug.",
                "language": "en",
                "words": [
                    {"word": " Hello", "start": 1.0, "end": 1.5},
                    {"word": " mug.", "start": 1.6, "end": 2.2},
                ],
            },
            {"start": 13.0, "end": 19.0, "text": "w0 … w9", "language": "fr", "words": words},
            {"start": 25.0, "end": 26.0, "text": "no words here", "language": "en"},
        ],
        "faces": [
            {"start": k / 5, "end": (k + 1) / 5, "faces": [{"id": j} for j in range(k % 3)]}
            for k in range(150)
        ],
        "audio_events": [
            {"start": 0.0, "end": 30.0, "label": "speech"},
            {"start": 4.0, "end": 8.0, "label": "music"},
        ],
        "shot_captions": [
            {**s, "caption": f"shot {s['index']}", "fused": dict.fromkeys(ATTRIBUTES, 0.5)}
            for s in SHOTS
        ],
        "objects": [],
        "summary": [
            {
                "start": 0.0,
                "end": 30.0,
                "summary": "A test.",
                "chapters": [
                    {"start": 0.0, "end": 20.0, "title": "one"},
                    {"start": 20.0, "end": 30.0, "title": "two"},
                ],
            },
        ],
    }
    media = {
        "path": "gone.mp4",
        "format": "mov,mp4,m4a,3gp,3g2,mj2",
        "start": 0.0,
        "duration": 30.0,
        "video": {"codec": "h264", "width": 640, "height": 360, "fps": 25},
    }
    writer = BundleWriter(
        root, {"source": {"input": "gone.mp4", "path": "gone.mp4"}, "media": media}
    )
    for name, records in tracks.items():
        track = writer.open_track(name, {"analyzer": name})
        for record in records:
            track.write(record)
        track.close()
        writer.update_track(name, status="complete", records=len(records))
    stages = {"decode": {"busy_s": 1.0, "rtf": 0.033, "share_of_wall": 0.5}}
    writer.set(status="complete", report={"wall_s": 2.0, "rtf": 0.067, "stages": stages})
    return root


# -- the browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    sync_api = need("playwright.sync_api")
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing (Debian package chromium)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_report(browser):
    """``open_report(html)`` -> the loaded page; on teardown, the page must have logged no
    error and had no request fail."""
    pages: list[tuple[object, list[str]]] = []

    def load(path: Path):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        def failed(request) -> None:
            # A media element cancels its own range requests once it has what it needs.
            if not (request.resource_type == "media" and request.failure == "net::ERR_ABORTED"):
                problems.append(f"{request.url}: {request.failure}")

        page.on("requestfailed", failed)
        page.goto(path.as_uri())
        page.wait_for_function("window.__vidscopeReady")
        pages.append((page, problems))
        return page

    yield load
    for page, problems in pages:
        page.close()
        assert problems == []


# -- tests ------------------------------------------------------------------------------


def test_real_clip_keyframes_lanes_seek_and_search(megamind, open_report, tmp_path):
    html = tmp_path / "report.html"
    written = write_report(megamind.path, html)
    assert written.note == "browsers do not play AVI files: keyframes instead"
    page = open_report(html)
    assert page.locator("video").count() == 0
    assert page.locator("#note").inner_text() == written.note
    shots = megamind.track("shots")
    words = _words(megamind)
    counts = {
        "shots": len(shots),
        "transcript": len(words),
        "audio_class": len(megamind.track("audio_class")),
    }
    assert counts["shots"] == 4 and counts["transcript"] > 20
    for lane, n in counts.items():
        assert page.locator(f'[data-lane="{lane}"] .it').count() == n, lane
    for lane in ("audio_features", "visual_stats"):
        assert page.locator(f'[data-lane="{lane}"] svg path').count() == 1
    thumbs = page.locator('[data-lane="shots"] .it').evaluate_all(
        "els => els.map(e => e.style.backgroundImage.startsWith('url(\"data:image/jpeg'))"
    )
    assert thumbs == [True] * 4
    assert "4" in page.locator("#facts li", has_text="shots").inner_text()
    assert page.locator("#stages tr").count() == len(megamind.run_report["stages"]) + 1

    # At fit zoom the words would be cut to a letter or two: the lane shows segment text.
    transcript = page.locator('[data-lane="transcript"] .body')
    segments = [r["text"].strip() for r in megamind.track("transcript")]
    assert "segs" in transcript.get_attribute("class")
    assert page.locator('[data-lane="transcript"] .seg').all_inner_texts() == segments
    assert page.locator('[data-lane="transcript"] .it').first.is_hidden()
    assert page.locator('[data-lane="transcript"] .seg').first.is_visible()
    page.evaluate("__vidscope.zoom(16)")
    assert "segs" not in transcript.get_attribute("class")
    assert page.locator('[data-lane="transcript"] .it').first.is_visible()
    page.evaluate("__vidscope.zoom(1)")
    # Keyframes keep their own size and shape, in the player and on the shots lane.
    still = page.locator(".still img").evaluate(
        "i => [i.naturalWidth, i.naturalHeight, i.clientWidth, i.clientHeight]"
    )
    assert still[:2] == still[2:] and still[0] > 0
    fitted = page.locator('[data-lane="shots"] .it').evaluate_all(
        "els => els.map(e => getComputedStyle(e)).map(c => [c.backgroundSize, c.backgroundRepeat])"
    )
    assert fitted == [["contain", "no-repeat"]] * 4
    undrawn = page.locator(".lane:not(.ruler):not(.empty)").evaluate_all(
        "els => els.filter(e => !e.querySelector('.it, path')).map(e => e.dataset.lane)"
    )
    assert undrawn == []  # no lane without a record is drawn

    first = page.locator(".still img").get_attribute("src")
    page.locator('[data-lane="shots"] .it[data-i="2"]').click()
    fps = megamind.media["video"]["fps"]
    assert page.evaluate("__vidscope.now()") == pytest.approx(shots[2]["start"], abs=1 / fps)
    assert "on" in page.locator('[data-lane="shots"] .it[data-i="2"]').get_attribute("class")
    assert page.locator(".still img").get_attribute("src") != first
    assert page.locator("#playhead").evaluate("e => parseFloat(e.style.left)") == pytest.approx(
        100 * shots[2]["start"] / megamind.media["duration"], abs=0.1
    )

    word = "judge"
    expected = [w for w in words if word in w.lower()]
    assert expected
    page.fill("#q", word)
    visible = page.locator('[data-lane="transcript"] .it:not(.off)').all_inner_texts()
    assert len(visible) == len(expected)
    assert all(word in t.lower() for t in visible)
    assert page.locator("#hits li").count() == len(expected)
    page.locator("#hits li").last.click()
    assert page.evaluate("__vidscope.now()") > shots[0]["end"]
    page.screenshot(path=tmp_path / "report.png", full_page=True)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tmp_path / "report.png", ARTIFACT)
    page.fill("#q", "")
    assert _visible(page, "transcript") == len(words)


def test_playable_video_seeks_to_the_shot(testvideo, open_report, tmp_path):
    html = tmp_path / "elsewhere" / "report.html"
    html.parent.mkdir()
    assert write_report(testvideo.path, html).note is None
    page = open_report(html)
    video = page.locator("video")
    src = video.get_attribute("src")
    assert not src.startswith(("file:", "/")) and src.endswith("testvideo.mp4")
    page.wait_for_function("document.querySelector('video').readyState >= 1")
    fps = testvideo.media["video"]["fps"]
    shots = testvideo.track("shots")
    ocr = testvideo.track("ocr")
    assert page.locator('[data-lane="shots"] .it').count() == len(shots) >= 4
    assert page.locator('[data-lane="ocr"] .it').count() == len(ocr) > 0
    for i in (3, 1):
        page.locator(f'[data-lane="shots"] .it[data-i="{i}"]').click()
        page.wait_for_function("!document.querySelector('video').seeking")
        assert video.evaluate("v => v.currentTime") == pytest.approx(shots[i]["start"], abs=1 / fps)
    page.fill("#q", "bcastell")
    assert _visible(page, "ocr") == sum("bcastell" in r["text"] for r in ocr) > 0
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACT.with_name("report-testvideo.png"), full_page=True)


def test_no_video_flag_embeds_keyframes(testvideo, tmp_path):
    data = build(testvideo, tmp_path, video=False)
    assert data["media"]["kind"] == "frames" and data["media"]["src"] is None
    shots = data["lanes"][0]
    assert shots["id"] == "shots" and shots["thumbs"] == list(range(len(shots["items"])))
    assert all(f[2].startswith("data:image/jpeg;base64,/9j/") for f in data["frames"])


def test_synthetic_bundle_counts_rows_search_and_escaping(synthetic, open_report, tmp_path):
    html = tmp_path / "report.html"
    written = write_report(synthetic, html)
    assert written.note == "the analysed file was not found: no picture"
    page = open_report(html)
    assert page.title() != "pwned"
    assert page.locator(".still span").inner_text() == "no picture"
    for lane, n in {
        "shots": 3,
        "captions": 30,
        "ocr": 5,
        "transcript": 13,
        "chapters": 2,
        "shot_captions": 3,
        "audio_events": 2,
    }.items():
        assert page.locator(f'[data-lane="{lane}"] .it').count() == n, lane
    assert page.locator('[data-lane="captions"] .it[data-i="7"]').inner_text() == HOSTILE
    # Overlapping on-screen texts get rows of their own.
    tops = page.locator('[data-lane="ocr"] .it').evaluate_all("els => els.map(e => e.style.top)")
    assert len(set(tops)) == 3
    assert page.locator('[data-lane="shot_attributes"] path').count() == len(ATTRIBUTES)
    # Six equal attributes: six lines, each drawn apart from the others and in its own dashes.
    drawn = page.locator('[data-lane="shot_attributes"] path').evaluate_all(
        "ps => ps.map(p => [p.getBoundingClientRect().top, getComputedStyle(p).strokeDasharray])"
    )
    assert len({round(top) for top, _ in drawn}) == len({dash for _, dash in drawn}) == 6
    # A track without a record gets no lane of its own, only its name on one shared line.
    assert page.locator('[data-lane="objects"]').count() == 0
    assert page.locator('[data-lane="empty"] .body').inner_text() == "objects"
    assert page.locator('[data-lane="empty"] .lab small').inner_text() == "1 lane"
    facts = page.locator("#facts").inner_text()
    assert "en 33%" in facts and "fr 67%" in facts and "speech 30.0 s" in facts

    page.fill("#q", "MUG")
    assert _visible(page, "captions") == sum("mug" in c["text"] for c in CAPTIONS)
    assert _visible(page, "ocr") == 2
    assert _visible(page, "transcript") == 1
    assert _visible(page, "shots") == 3  # not searchable: untouched
    assert page.locator("#count").inner_text() == f"{_visible(page, 'captions') + 3} matches"
    page.fill("#q", "cafe muller")  # accents and case do not matter
    assert _visible(page, "ocr") == 1

    page.locator('[data-lane="chapters"] .it').last.click()
    assert page.evaluate("__vidscope.now()") == 20.0
    page.locator("#zoom-in").click()
    timeline = page.locator("#tl")
    assert timeline.evaluate("e => e.scrollWidth") > 1.9 * timeline.bounding_box()["width"]
    # A click on a lane's empty part seeks to the time under the pointer.
    lane = page.locator('[data-lane="captions"] .body').bounding_box()
    label = page.locator('[data-lane="captions"] .lab').bounding_box()
    x = label["x"] + label["width"] + 10
    page.mouse.click(x, lane["y"] + lane["height"] - 1.5)
    expected = 30 * (x - lane["x"]) / lane["width"]
    assert page.evaluate("__vidscope.now()") == pytest.approx(expected, abs=0.1)


def test_dense_tracks_become_series(synthetic):
    data = build(Result(synthetic), synthetic)
    people = next(lane for lane in data["lanes"] if lane["id"] == "people")
    (faces,) = people["series"]
    assert faces["step"] == 1.0 and len(faces["values"]) == 30 <= MAX_POINTS
    assert faces["values"] == [2.0] * 30  # the most faces in any frame of each second
    assert people["hi"] == 2.0


def test_summary_shared_by_show(megamind):
    s = summarize(megamind)
    assert s.shots == 4 and s.status == "complete"
    assert s.languages[0][0] == "en" and 0.5 < s.speech_share <= 1
    assert {row.name for row in s.stages} >= {"decode", "shots", "transcript"}
    assert json.loads(json.dumps(s.to_dict()))["shots"] == 4


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vidscope.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_report_and_show(synthetic, tmp_path):
    proc = _cli("report", str(synthetic))
    assert proc.returncode == 0, proc.stderr
    assert (synthetic / "report.html").stat().st_size > 10_000
    assert "no picture" in proc.stderr
    assert not list(synthetic.glob("*.tmp"))

    proc = _cli("report", str(tmp_path), "-o", str(tmp_path / "r.html"))
    assert proc.returncode == InputError.exit_code
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "not a vidscope result" in proc.stderr
    assert not (tmp_path / "r.html").exists()

    shown = _cli("show", str(synthetic), "--report")
    assert shown.returncode == 0, shown.stderr
    first, facts = shown.stdout.splitlines()[:2]
    assert first.endswith(": complete, 0:30.0 of MP4 (h264 640x360 at 25 fps)")
    assert facts.startswith("3 shots") and "speech 30 % (fr 67 %, en 33 %)" in facts
    assert "busy / wall" in shown.stdout and "decode" in shown.stdout


# -- lanes of analyzers the report does not know --------------------------------------------

PLUGIN = '''
"""A third-party analyzer: how bright each second of the video is."""

from vidscope.analyzers.base import Analyzer, FrameSpec, Requirements, TrackView


class BrightnessAnalyzer(Analyzer):
    name = "brightness"
    version = "1"
    needs_video = True
    views = VIEWS

    def requirements(self):
        return Requirements(frames=FrameSpec(fps=1.0, width=32, format="gray"))

    def process_batch(self, state, items):
        for frame in items:
            level = "bright" if frame.image.mean() > 60 else "dark"
            yield {"start": frame.time, "end": frame.time + 1.0, "level": level, "label": level}
'''
DECLARED = '(TrackView("brightness", title="light", label="{level} second", search=True),)'


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """``install_plugin(module, views)`` -> the folder holding an installed distribution whose
    ``vidscope.analyzers`` entry point is that module's analyzer; gone again on teardown."""

    def install(module: str, views: str) -> Path:
        site = tmp_path / "site"
        (site / "vidscope_brightness-1.0.dist-info").mkdir(parents=True)
        (site / "vidscope_brightness-1.0.dist-info" / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: vidscope-brightness\nVersion: 1.0\n"
        )
        (site / "vidscope_brightness-1.0.dist-info" / "entry_points.txt").write_text(
            f"[vidscope.analyzers]\nbrightness = {module}:BrightnessAnalyzer\n"
        )
        (site / f"{module}.py").write_text(PLUGIN.replace("VIEWS", views))
        monkeypatch.syspath_prepend(str(site))
        registry.refresh()
        return site

    yield install
    monkeypatch.undo()
    registry.refresh()


def _lane(data: dict, lane: str) -> dict:
    return next(x for x in data["lanes"] if x["id"] == lane)


@pytest.mark.parametrize(
    ("module", "views"), [("undeclared", "None"), ("declared", DECLARED)], ids=lambda v: v[:10]
)
def test_a_plugin_analyzer_gets_a_lane(module, views, install_plugin, media, tmp_path):
    """A plugin's track shows with no code outside its module: its declared view, else a
    default spans lane named by the records' ``label``; a bundle whose analyzer is not
    installed any more still shows the default lane."""
    # One module name per case: the interpreter keeps a module once imported.
    site = install_plugin(f"brightness_{module}", views)
    result = vidscope.analyze(
        media("pyscenedetect/testvideo.mp4"),
        analyzers=["shots", "brightness"],
        output=tmp_path / "bundle",
    )
    records = result.track("brightness")
    levels = {r["level"] for r in records}
    assert len(records) >= 5 and levels == {"bright", "dark"}

    data = build(result, tmp_path)
    assert [x["id"] for x in data["lanes"]] == ["shots", "brightness"]
    lane = _lane(data, "brightness")
    assert [item[0] for item in lane["items"]] == [round(r["start"], 3) for r in records]
    if views == DECLARED:
        assert lane["label"] == "light" and lane["search"] is True
        assert {item[2] for item in lane["items"]} == {"bright second", "dark second"}
    else:
        assert lane["label"] == "brightness" and "search" not in lane
        assert {item[2] for item in lane["items"]} == levels

    proc = subprocess.run(
        [sys.executable, "-m", "vidscope.cli", "report", str(result.path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert proc.returncode == 0, proc.stderr
    assert '"id":"brightness"' in (result.path / "report.html").read_text().replace(" ", "")

    shutil.rmtree(site)  # uninstalled: the track keeps the default lane
    registry.refresh()
    lane = _lane(build(Result(result.path), tmp_path), "brightness")
    assert lane["label"] == "brightness" and {item[2] for item in lane["items"]} == levels


def test_views_that_could_never_show_are_refused():
    with pytest.raises(TypeError, match=r"Stray.views names tracks it does not write: .'blinks'"):

        class Stray(Analyzer):
            name = "stray"
            version = "1"
            views = (TrackView("stray"), TrackView("blinks"))

    with pytest.raises(TypeError, match="the line view of 'level' names no value field"):
        TrackView("level", kind="line")
