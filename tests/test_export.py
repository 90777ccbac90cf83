"""Exports of result bundles (subtitles, text, JSON, OpenTimelineIO, EDL, CSV, Parquet, contact
sheets) and ``vidscope export``, each read back by a real consumer of its format."""

from __future__ import annotations

import csv
import html
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from conftest import need
from vidscope.errors import UsageError
from vidscope.timeline.bundle import BundleWriter
from vidscope.timeline.exports import FORMATS, contact_sheet, export, format_name, tables
from vidscope.timeline.exports.common import frame_rate, timecode
from vidscope.timeline.exports.subtitles import CUE_CHARS, CUE_SECONDS, cues, timestamp
from vidscope.timeline.exports.tables import flatten
from vidscope.timeline.result import Result


def _words(text: str, start: float, step: float) -> list[dict]:
    return [
        {
            "word": " " + w,
            "start": round(start + i * step, 3),
            "end": round(start + (i + 1) * step, 3),
        }
        for i, w in enumerate(text.split())
    ]


LONG = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
    "software and associated documentation files, to deal in the software without restriction"
)
SEGMENTS = [
    {"start": 0.5, "end": 2.25, "text": "Hello there.", "language": "en", "words": []},
    {"start": 3661.0, "end": 3662.0, "text": "Fish & <chips>\nplease", "language": "en"},
    {"start": 3663.0, "end": 3664.0, "text": "  ", "language": "en", "words": []},
    {"start": 10.0, "end": 19.0, "text": LONG, "language": "en", "words": _words(LONG, 10.0, 0.3)},
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A bundle with a transcript, a track without text, and a failed track."""
    root = tmp_path_factory.mktemp("bundle")
    writer = BundleWriter(root, {"media": {"duration": 3700.0}})
    for name, records, status in (
        ("transcript", SEGMENTS, "complete"),
        ("speech", [{"start": 0.5, "end": 2.25, "confidence": 0.9}], "complete"),
        ("ocr", [], "failed"),
    ):
        track = writer.open_track(name, {"analyzer": name})
        for record in records:
            track.write(record)
        track.close()
        fields = {"error": "ModelError: no model"} if status == "failed" else {}
        writer.update_track(name, status=status, records=len(records), **fields)
    writer.set(status="incomplete")
    return root


def render(bundle: Path, fmt: str, track: str = "transcript") -> str:
    out = io.StringIO()
    export(Result(bundle), track, fmt, out)
    return out.getvalue()


def test_timestamps():
    assert timestamp(3661.5, ",") == "01:01:01,500"
    assert timestamp(0.9996, ".") == "00:00:01.000"
    assert timestamp(-0.2, ",") == "00:00:00,000"


def test_srt(bundle):
    text = render(bundle, "srt")
    blocks = text.strip().split("\n\n")
    assert blocks[0] == "1\n00:00:00,500 --> 00:00:02,250\nHello there."
    assert blocks[1] == "2\n01:01:01,000 --> 01:01:02,000\nFish & <chips> please"
    assert [b.split("\n")[0] for b in blocks] == [str(i) for i in range(1, len(blocks) + 1)]
    assert "01:01:03" not in text  # the blank segment is no cue


def test_vtt(bundle):
    text = render(bundle, "vtt")
    assert text.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.250\nHello there.\n\n")
    assert "01:01:01.000 --> 01:01:02.000\nFish &amp; &lt;chips&gt; please\n" in text


def test_long_segments_split_at_words():
    (segment,) = [s for s in SEGMENTS if s["text"] == LONG]
    parts = list(cues([segment]))
    assert len(parts) > 1
    assert " ".join(c.text for c in parts) == LONG
    assert all(len(c.text) <= CUE_CHARS and c.end - c.start <= CUE_SECONDS for c in parts)
    assert parts[0].start == 10.0 and parts[-1].end == segment["words"][-1]["end"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(parts))


def test_cues_break_at_punctuation_and_pauses():
    # Whisper's one segment for the JFK clip; each word lasts until the next one starts.
    times = [0.22, 0.52, 0.82, 1.18, 1.58, 3.196, 3.74, 4.24, 5.52, 5.76, 6.24, 6.62, 6.84]
    times += [7.08, 8.124, 8.48, 8.76, 9.04, 9.32, 9.56, 9.78, 9.96, 10.36]
    text = (
        "And so my fellow Americans, ask not what your country can do for you, "
        "ask what you can do for your country."
    )
    words = [
        {"word": " " + w, "start": a, "end": b}
        for w, a, b in zip(text.split(), times, times[1:], strict=False)
    ]
    segment = {"start": 0.22, "end": 10.36, "text": text, "words": words}
    assert [c.text for c in cues([segment])] == [
        "And so my fellow Americans,",
        "ask not what your country can do for you,",
        "ask what you can do for your country.",
    ]


def test_srt_lines_wrap(bundle):
    text = render(bundle, "srt")
    assert all(len(line) <= 42 for line in text.splitlines())


def test_txt_and_json(bundle):
    assert render(bundle, "txt").splitlines() == ["Hello there.", "Fish & <chips> please", LONG]
    data = json.loads(render(bundle, "json"))
    assert data["track"] == "transcript" and data["records"] == SEGMENTS
    assert json.loads(render(bundle, "json", "speech"))["records"][0]["confidence"] == 0.9


def test_errors_name_the_problem(bundle):
    with pytest.raises(
        UsageError, match=r"no track 'captions' \(finished tracks: transcript, speech\)"
    ):
        render(bundle, "srt", "captions")
    with pytest.raises(UsageError, match=r"'ocr' did not finish \(failed: ModelError: no model\)"):
        render(bundle, "srt", "ocr")
    with pytest.raises(UsageError, match="no text for srt; export it as json"):
        render(bundle, "srt", "speech")
    with pytest.raises(UsageError, match="unknown export format 'docx'"):
        render(bundle, "docx")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vidscope.cli", "export", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )


def test_cli_export(bundle, tmp_path):
    out = tmp_path / "subs.vtt"
    proc = cli(str(bundle), "-o", str(out))  # the format follows the suffix
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("WEBVTT")
    proc = cli(str(bundle), "--format", "txt", "--track", "transcript")
    assert proc.returncode == 0 and proc.stdout.splitlines()[0] == "Hello there."


def test_cli_export_missing_track(bundle, tmp_path):
    out = tmp_path / "subs.srt"
    proc = cli(str(bundle), "--track", "captions", "-o", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no track 'captions'" in proc.stderr
    assert not out.exists() and not list(tmp_path.iterdir())  # no partial or temp file


def test_transcript_bundle_to_srt(media, tmp_path):
    need("faster_whisper", reason="the speech extra is not installed")
    import vidscope

    result = vidscope.analyze(
        media("faster-whisper/jfk.flac"),
        analyzers=["transcript"],
        output=tmp_path / "jfk",
        settings={"analyzer.transcript.asr_model": "tiny.en"},
    )
    srt = io.StringIO()
    cues_written = export(result, "transcript", "srt", srt)
    blocks = [b.splitlines() for b in srt.getvalue().strip().split("\n\n")]
    assert len(blocks) == cues_written >= 1
    text = " ".join(" ".join(lines[2:]) for lines in blocks).lower()
    assert "ask not what your country can do for you" in text
    assert blocks[0][1].startswith("00:00:00,") and " --> 00:00:" in blocks[0][1]
    assert all(len(" ".join(lines[2:]).split()) >= 3 for lines in blocks)  # no stub cues


# -- the formats on a real clip ---------------------------------------------------------------

CUTS = (99, 155, 201)  # Megamind.avi's cuts, in frames at 23.976 fps
NTSC_FILM = 24000 / 1001


def _plain(value):
    """OpenTimelineIO metadata (AnyDictionary, AnyVector) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def _present(record: dict) -> dict:
    """A flat record without its null fields (a table has every column in every row)."""
    return {k: v for k, v in flatten(record).items() if v is not None}


@pytest.fixture(scope="module")
def megamind(media, tmp_path_factory) -> Result:
    """Megamind.avi analyzed for shots, the transcript and the audio class."""
    need("faster_whisper", reason="the speech extra is not installed")
    import vidscope

    return vidscope.analyze(
        media("debian/Megamind.avi"),
        analyzers=["shots", "transcript", "audio_class"],
        output=tmp_path_factory.mktemp("megamind") / "bundle",
        settings={"analyzer.transcript.asr_model": "tiny.en"},
    )


@pytest.fixture(scope="module")
def otio_file(megamind, tmp_path_factory) -> Path:
    need("opentimelineio")
    path = tmp_path_factory.mktemp("otio") / "megamind.otio"
    assert export(megamind, None, None, path) == 4
    return path


def test_otio_clips_are_the_shots(megamind, otio_file):
    otio = need("opentimelineio")
    timeline = otio.adapters.read_from_file(str(otio_file))
    assert len(timeline.video_tracks()) == 1
    clips = list(timeline.find_clips())
    assert [c.name for c in clips] == ["shot 0", "shot 1", "shot 2", "shot 3"]
    edges = [round(c.source_range.start_time.to_frames()) for c in clips]
    edges.append(round(clips[-1].source_range.end_time_exclusive().to_frames()))
    assert edges[0] <= 1 and edges[-1] >= 268
    assert all(abs(got - cut) <= 1 for got, cut in zip(edges[1:-1], CUTS, strict=True))
    for clip, shot, start in zip(clips, megamind.track("shots"), edges, strict=False):
        rate = clip.source_range.duration.rate
        assert rate == pytest.approx(NTSC_FILM)
        assert clip.source_range.duration.to_seconds() == pytest.approx(
            shot["end"] - shot["start"], abs=1 / rate
        )
        # Timeline time is the media's clock: the clip sits where its frames are.
        assert clip.range_in_parent().start_time.to_frames() == start
        assert clip.media_reference.target_url.endswith("/Megamind.avi")
        assert _plain(clip.metadata["vidscope"]) == {"track": "shots", "record": shot}


def test_otio_markers_carry_the_span_tracks(megamind, otio_file):
    otio = need("opentimelineio")
    timeline = otio.adapters.read_from_file(str(otio_file))
    markers = list(timeline.tracks.markers)
    by_track: dict[str, list] = {}
    for marker in markers:
        by_track.setdefault(marker.metadata["vidscope"]["track"], []).append(marker)
    # audio_features has numbers per second and nothing to name a marker by.
    assert set(by_track) == {"transcript", "audio_class"}
    for name, marks in by_track.items():
        records = megamind.track(name)
        assert [_plain(m.metadata["vidscope"]["record"]) for m in marks] == records
        for marker, record in zip(marks, records, strict=True):
            assert marker.marked_range.start_time.to_seconds() == pytest.approx(record["start"])
            assert marker.marked_range.end_time_exclusive().to_seconds() == pytest.approx(
                record["end"]
            )
    assert [m.name for m in by_track["transcript"]] == [
        " ".join(r["text"].split()) for r in megamind.track("transcript")
    ]
    assert by_track["audio_class"][0].name == megamind.track("audio_class")[0]["label"]


EDL_EVENT = re.compile(
    r"^(\d{3,})  (\S{1,8}) +V +C +(\d\d:\d\d:\d\d:\d\d) (\d\d:\d\d:\d\d:\d\d) "
    r"(\d\d:\d\d:\d\d:\d\d) (\d\d:\d\d:\d\d:\d\d)$"
)


def _frames(tc: str, base: int = 24) -> int:
    hh, mm, ss, ff = map(int, tc.split(":"))
    return ((hh * 60 + mm) * 60 + ss) * base + ff


def test_edl_events_are_the_cuts(megamind, otio_file):
    out = io.StringIO()
    assert export(megamind, None, "edl", out) == 4
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["TITLE: Megamind", "FCM: NON-DROP FRAME"]
    events = [(i, EDL_EVENT.match(line)) for i, line in enumerate(lines) if line[:1].isdigit()]
    assert len(events) == 4 and all(m for _, m in events)
    assert [int(m[1]) for _, m in events] == [1, 2, 3, 4]
    assert {m[2] for _, m in events} == {"MEGAMIND"}
    assert all(lines[i + 1] == "* FROM CLIP NAME: Megamind.avi" for i, _ in events)
    spans = [tuple(_frames(tc) for tc in m.groups()[2:]) for _, m in events]
    assert all(
        src_in == rec_in and src_out == rec_out for src_in, src_out, rec_in, rec_out in spans
    )
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))  # cut to cut
    assert all(abs(span[1] - cut) <= 1 for span, cut in zip(spans, CUTS, strict=False))
    # The same frames as the OpenTimelineIO clips.
    otio = need("opentimelineio")
    clips = otio.adapters.read_from_file(str(otio_file)).find_clips()
    assert [(s[0], s[1]) for s in spans] == [
        (round(c.source_range.start_time.to_frames()),
         round(c.source_range.end_time_exclusive().to_frames()))
        for c in clips
    ]  # fmt: skip
    try:
        import otio_cmx3600_adapter  # noqa: F401  (registers the cmx_3600 adapter)
    except ImportError:
        return
    parsed = otio.adapters.read_from_string(out.getvalue(), "cmx_3600", rate=NTSC_FILM)
    assert [
        (round(c.source_range.start_time.to_frames()), round(c.source_range.duration.to_frames()))
        for c in parsed.find_clips()
    ] == [(s[0], s[1] - s[0]) for s in spans]


def test_timecodes_count_whole_frames():
    assert timecode(99, NTSC_FILM) == "00:00:04:03"  # 24 frames per timecode second
    assert timecode(30 * 3600, 30000 / 1001) == "01:00:00:00"
    assert timecode(25 * 61 + 3, 25.0) == "00:01:01:03"
    assert frame_rate({"video": {"fps": 23.976}}) == pytest.approx(NTSC_FILM, abs=1e-9)
    assert frame_rate({"video": {"fps": 29.97}}) == pytest.approx(30000 / 1001, abs=1e-9)
    assert frame_rate({"video": {"fps": 25.0}}) == 25.0
    assert frame_rate({"video": None}) == 25.0


def test_subtitles_of_the_transcript(megamind, tmp_path):
    pysubs2 = need("pysubs2")
    segments = megamind.track("transcript")
    said = " ".join(" ".join(s["text"].split()) for s in segments)
    for fmt in ("srt", "vtt"):
        path = tmp_path / f"megamind.{fmt}"
        export(megamind, None, None, path)
        subs = pysubs2.load(str(path))
        assert len(subs) >= len(segments)
        assert all(e.start < e.end for e in subs)
        assert all(a.end <= b.start for a, b in itertools.pairwise(subs))
        assert " ".join(e.plaintext.replace("\n", " ") for e in subs) == said
        assert subs[0].start == round(segments[0]["start"] * 1000)


def test_subtitles_of_captions(tmp_path):
    pysubs2 = need("pysubs2")
    root = tmp_path / "bundle"
    writer = BundleWriter(root, {"media": {"duration": 4.0}})
    for name, records in (
        ("captions", [
            {"start": 0.0, "end": 1.0, "text": "A dark room.", "frames": [0.5]},
            {"start": 1.0, "end": 2.0, "text": None, "frames": [1.5], "error": "timeout"},
            {"start": 2.0, "end": 3.0, "text": "A man & a lamp.", "frames": [2.5]},
        ]),
        ("shot_captions", [
            {"start": 0.0, "end": 2.5, "shot": 0, "caption": "Two people talk.",
             "attributes": {"suspense": 0.2}},
            {"start": 2.5, "end": 4.0, "shot": 1, "caption": "A close-up.",
             "attributes": {"suspense": 0.6}},
        ]),
    ):  # fmt: skip
        track = writer.open_track(name, {"analyzer": name})
        for record in records:
            track.write(record)
        track.close()
        writer.update_track(name, status="complete", records=len(records))
    result = Result(root)
    for track, texts, times in (
        ("captions", ["A dark room.", "A man & a lamp."], [(0, 1000), (2000, 3000)]),
        ("shot_captions", ["Two people talk.", "A close-up."], [(0, 2500), (2500, 4000)]),
    ):
        for fmt in ("srt", "vtt"):
            path = tmp_path / f"{track}.{fmt}"
            assert export(result, track, None, path) == 2
            subs = pysubs2.load(str(path))
            # pysubs2 keeps WebVTT's character references as they are.
            assert [html.unescape(e.plaintext) for e in subs] == texts
            assert [(e.start, e.end) for e in subs] == times


def test_parquet_reads_back_as_the_records(megamind, tmp_path):
    pq = need("pyarrow.parquet")
    for track in ("shots", "transcript"):
        path = tmp_path / f"{track}.parquet"
        records = megamind.track(track)
        assert export(megamind, track, None, path) == len(records)
        table = pq.read_table(path)
        assert [_present(row) for row in table.to_pylist()] == [_present(r) for r in records]
    # Word timings stay a native list of structs, not JSON text.
    words = pq.read_schema(tmp_path / "transcript.parquet").field("words").type
    assert str(words).startswith("list<") and "struct<word: string" in str(words)


def test_parquet_unifies_types_across_row_groups():
    pa = need("pyarrow")
    pq = need("pyarrow.parquet")
    records = [
        {"start": 0, "end": 1, "n": 1, "v": "a", "none": None, "tags": [{"k": 1}],
         "counts": {"person": 2}},
        {"start": 1, "end": 2, "n": 2, "v": "b", "none": None, "tags": [], "counts": {}},
        {"start": 2, "end": 3, "n": 2.5, "v": 3, "none": None, "tags": [{"k": 2, "w": "x"}],
         "counts": {"person": 1, "cup": 1}, "late": [1, 2]},
        {"start": 3, "end": 4.5, "n": None, "v": None, "none": None, "tags": None,
         "counts": {"cup": 3}, "late": None, "empty": [{}]},
        {"start": 4.5, "end": 5, "n": 7, "v": [True], "none": None, "tags": [],
         "counts": {}, "empty": None},
    ]  # fmt: skip
    out = io.BytesIO()
    assert tables.write_parquet(lambda: iter(records), out, batch=2) == len(records)
    out.seek(0)
    parquet = pq.ParquetFile(out)
    assert parquet.metadata.num_row_groups == 3
    schema = parquet.schema_arrow
    assert schema.names == [
        "start", "end", "n", "v", "none", "tags", "counts.person", "counts.cup", "late", "empty"
    ]  # fmt: skip
    assert schema.field("n").type == pa.float64()  # int meets float
    assert schema.field("v").type == pa.string()  # string meets int and list: JSON text
    assert schema.field("none").type == pa.null()
    assert schema.field("tags").type == pa.list_(pa.struct([("k", pa.int64()), ("w", pa.string())]))
    assert schema.field("empty").type == pa.string()  # Parquet has no empty struct
    rows = parquet.read().to_pylist()
    assert [r["v"] for r in rows] == ['"a"', '"b"', "3", None, "[true]"]
    assert [r["n"] for r in rows] == [1.0, 2.0, 2.5, None, 7.0]
    assert rows[2]["tags"] == [{"k": 2, "w": "x"}] and rows[0]["tags"] == [{"k": 1, "w": None}]
    assert [r["counts.person"] for r in rows] == [2, None, 1, None, None]
    assert rows[3]["empty"] == "[{}]" and rows[2]["late"] == [1, 2]


def test_csv_reads_back_as_the_records(megamind, tmp_path):
    path = tmp_path / "transcript.csv"
    records = megamind.track("transcript")
    assert export(megamind, "transcript", None, path) == len(records)
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        flat = flatten(record)
        assert set(flat) <= set(row)
        assert row == {c: _csv_cell(flat.get(c)) for c in row}
        assert json.loads(row["words"]) == record["words"]
    shots = list(csv.DictReader(io.StringIO(render(megamind.path, "csv", "shots"))))
    assert [int(r["end_frame"]) for r in shots[:-1]] == list(CUTS)


def _csv_cell(value) -> str:
    if value is None:
        return ""
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if isinstance(value, list)
        else str(value)
    )


def test_contact_sheet_shows_each_shot_middle(megamind, tmp_path):
    image_mod = need("PIL.Image")
    path = tmp_path / "sheet.png"
    assert export(megamind, None, "contact", path) == 4
    sheet = image_mod.open(path)
    sheet.load()
    thumb_w = contact_sheet.THUMB_WIDTH
    thumb_h = round(528 * thumb_w / 720)
    pad = contact_sheet.PAD
    cell_h = thumb_h + contact_sheet.FONT_SIZE + 2 * pad
    assert sheet.format == "PNG" and sheet.size == (4 * (thumb_w + pad) + pad, cell_h + pad)
    # Each thumbnail is the frame the analysis decoder gives at the middle of its shot.
    from vidscope.analyzers.base import FrameSpec
    from vidscope.media.decode import Decoder
    from vidscope.media.probe import probe

    decoded = [
        (f.time, f.image)
        for _, f in Decoder(probe(megamind.media["path"]), [FrameSpec(format="rgb24")], False)
    ]
    rate = frame_rate(megamind.media)
    for n, shot in enumerate(megamind.track("shots")):
        middle = (round(shot["start"] * rate) + round(shot["end"] * rate)) / 2 / rate
        want = next(img for t, img in decoded if t >= middle - 0.5 / rate)
        want = image_mod.fromarray(want).resize((thumb_w, thumb_h), image_mod.Resampling.LANCZOS)
        x = pad + n * (thumb_w + pad)
        got = sheet.crop((x, pad, x + thumb_w, pad + thumb_h))
        diff = sum(abs(a - b) for a, b in zip(got.tobytes(), want.tobytes(), strict=True))
        assert diff / (thumb_w * thumb_h * 3) < 1.0, f"shot {n}"
    jpg = tmp_path / "sheet.jpg"
    assert export(megamind, None, None, jpg) == 4
    assert image_mod.open(jpg).format == "JPEG"


def test_contact_sheet_needs_the_media(megamind, tmp_path):
    need("PIL.Image")
    moved = tmp_path / "moved"
    shutil.copytree(megamind.path, moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["media"]["path"] = manifest["source"]["path"] = str(tmp_path / "gone.avi")
    (moved / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "sheet.png"
    with pytest.raises(UsageError, match=r"gone\.avi .*is not reachable"):
        export(Result(moved), None, "png", out)
    assert not out.exists() and not list(tmp_path.glob("sheet*"))
    # The formats that only name the media still work without it.
    assert render(moved, "edl", "shots").count("* FROM CLIP NAME: gone.avi") == 4


# -- choosing formats, streams, errors ---------------------------------------------------------


def test_format_names():
    assert format_name(None, Path("a/clip.OTIO")) == "otio"
    assert format_name(None, "clip.jpeg") == "jpg"
    assert format_name(None, "clip.parquet") == "parquet"
    assert format_name(None, "clip") == format_name(None) == "srt"
    with pytest.raises(UsageError, match=r"from 'clip.mp4': give --format or .* srt, vtt"):
        format_name(None, "clip.mp4")
    assert format_name("srt", "clip.mp4") == "srt"  # said explicitly: the user's choice
    assert format_name("sheet") == format_name("contact") == "png"
    assert {"srt", "vtt", "txt", "json", "otio", "edl", "csv", "parquet", "png", "jpg"} <= set(
        FORMATS
    )
    with pytest.raises(UsageError, match=r"unknown export format 'docx' \(formats: srt, vtt"):
        format_name("docx")


def test_streams_of_either_kind(bundle):
    need("pyarrow")
    result = Result(bundle)
    with pytest.raises(UsageError, match="parquet is a binary format"):
        export(result, "transcript", "parquet", io.StringIO())
    binary = io.BytesIO()
    assert export(result, "transcript", "parquet", binary) == len(SEGMENTS)
    assert binary.getvalue()[:4] == b"PAR1"
    binary = io.BytesIO()
    export(result, "transcript", "txt", binary)
    assert binary.getvalue().decode().splitlines()[0] == "Hello there."


def test_missing_package_names_the_extra(bundle, monkeypatch):
    for module in ("pyarrow.parquet", "opentimelineio", "PIL.Image"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    result = Result(bundle)
    for fmt in ("parquet", "otio", "png"):
        with pytest.raises(UsageError, match=r"pip install 'vidscope\[export\]'"):
            export(result, "transcript", fmt, io.BytesIO())


def test_cli_export_otio(megamind, tmp_path):
    otio = need("opentimelineio")
    out = tmp_path / "x.otio"
    proc = cli(str(megamind.path), "--format", "otio", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "wrote 4 otio entries of 'shots'" in proc.stderr
    assert len(list(otio.adapters.read_from_file(str(out)).find_clips())) == 4


def test_cli_export_bad_format(bundle, tmp_path):
    out = tmp_path / "x.docx"
    proc = cli(str(bundle), "--format", "docx", "-o", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "unknown export format 'docx'" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_cli_export_refuses_a_suffix_that_names_no_format(bundle, tmp_path):
    out = tmp_path / "clip.mp4"
    proc = cli(str(bundle), "-o", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot tell the export format from 'clip.mp4'" in proc.stderr
    assert "srt, vtt" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_the_result_exports_and_reports_itself(megamind, tmp_path):
    """``result.export`` and ``result.report``: what ``vidscope export`` and ``vidscope
    report`` write, from the ``Result`` the Python API returns, each file read back."""
    import vidscope

    assert isinstance(megamind, vidscope.Result)
    shots, said = megamind.track("shots"), megamind.track("transcript")
    srt = tmp_path / "megamind.srt"
    cues = megamind.export("srt", srt)
    blocks = srt.read_text(encoding="utf-8").strip().split("\n\n")
    stamp = r"\d\d:\d\d:\d\d,\d{3}"
    assert len(blocks) == cues >= len(said) >= 1
    assert all(re.fullmatch(rf"\d+\n{stamp} --> {stamp}\n.+", b, re.S) for b in blocks)
    vtt = tmp_path / "megamind.vtt"
    assert megamind.export(None, vtt) == cues  # the suffix chooses
    assert vtt.read_text(encoding="utf-8").startswith("WEBVTT\n\n00:00:")
    table = tmp_path / "shots.csv"
    assert megamind.export("csv", table, track="shots") == len(shots)
    with table.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["start"]) for r in rows] == [s["start"] for s in shots]
    document = tmp_path / "shots.json"
    assert megamind.export("json", document, "shots") == len(shots)
    assert json.loads(document.read_text(encoding="utf-8")) == {"track": "shots", "records": shots}
    edl = tmp_path / "megamind.edl"
    assert megamind.export("edl", edl) == len(shots)
    assert edl.read_text(encoding="utf-8").splitlines()[:2] == [
        "TITLE: Megamind",
        "FCM: NON-DROP FRAME",
    ]
    with pytest.raises(UsageError, match="has no text for srt"):
        megamind.export("srt", tmp_path / "shots.srt", track="shots")
    assert not (tmp_path / "shots.srt").exists()

    page = megamind.report(tmp_path / "megamind.html", video=False)
    assert page == tmp_path / "megamind.html"
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "data:image/jpeg;base64," in text
    assert megamind.report() == megamind.path / "report.html"
    assert "Megamind.avi" in (megamind.path / "report.html").read_text(encoding="utf-8")
