"""The request examples the OpenAPI schema shows (``/docs``, ``/redoc``): the same calls as the
README's ``curl`` walkthrough, each one a request the server accepts."""

from __future__ import annotations

from typing import Any

# An 8x8 PNG: a real image, small enough to read in the schema.
_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAFUlEQVR42mPUsIliwAaYGHCAwSkBAJnKAM5Lhz"
    "yxAAAAAElFTkSuQmCC"
)


def _named(**examples: tuple[str, Any]) -> dict[str, dict[str, Any]]:
    """OpenAPI ``examples``: ``name=(summary, value)``."""
    return {
        name: {"summary": summary, "value": value} for name, (summary, value) in examples.items()
    }


UPLOAD = _named(
    upload=(
        "a file, the analyzers to run and client-settable options",
        {
            "file": "clip.mp4",
            "analyzers": "shots,transcript",
            "options": '{"analyzer": {"shots": {"threshold": 30}, '
            '"transcript": {"language": "en"}}}',
        },
    ),
    default=("a file with the server's analyzers", {"file": "clip.mp4"}),
)

URL_JOB = _named(
    url=(
        "a public http(s) link, the analyzers and options",
        {
            "url": "https://example.com/clip.mp4",
            "analyzers": ["shots", "visual_stats"],
            "options": {"audio_channel": "left", "analyzer": {"visual_stats": {"fps": 2}}},
        },
    ),
)

TRACK_START = _named(ten=("from 10 s", 10.0))
TRACK_END = _named(twenty=("to 20 s (records overlapping [10, 20) s)", 20.0))

EXPORT_FORMAT = _named(
    srt=("SubRip subtitles (default track: transcript)", "srt"),
    vtt=("WebVTT subtitles (default track: transcript)", "vtt"),
    txt=("plain text, a line per cue (default track: transcript)", "txt"),
    json=("every record of a track (default track: transcript)", "json"),
    otio=("OpenTimelineIO timeline: shots as clips, other tracks as markers", "otio"),
    edl=("CMX 3600 EDL, one event per shot", "edl"),
    csv=("a track as a table (default track: shots)", "csv"),
    parquet=("a track as a Parquet table (default track: shots)", "parquet"),
    png=("contact sheet of the shots, PNG", "png"),
    jpg=("contact sheet of the shots, JPEG", "jpg"),
)
EXPORT_TRACK = _named(
    shots=("the shots", "shots"),
    ocr=("on-screen text (srt, vtt, txt, json, csv, parquet)", "ocr"),
    captions=("captions (srt, vtt, txt, json, csv, parquet)", "captions"),
)

SEARCH_QUERY = _named(
    word=("a word, in any text track", "country"),
    phrase=("a phrase", '"ask not"'),
    track=("a word in one track", "ocr:copyright"),
    both=("two terms in the same shot (or within seconds)", "dinner AND candles"),
)

_SHOT = {
    "shot_id": 3,
    "images": [_PNG],
    "audio_features": {"rms_dbfs": -23.5, "tempo": 96.0, "speech_share": 0.8},
    "start_time": 4.13,
    "end_time": 6.47,
    "duration": 2.34,
}
SHOT = _named(
    images=("keyframes as base64 images (up to 10), audio features and times", _SHOT),
    video=(
        "the shot as a base64 video file instead (replace the value with your file's base64)",
        {**{k: v for k, v in _SHOT.items() if k != "images"}, "video": "AAAAIGZ0eXBpc29t"},
    ),
)
BATCH = _named(
    shots=(
        "up to 64 shots; results come back in order with their shot_id",
        {
            "shots": [
                _SHOT,
                {**_SHOT, "shot_id": 4, "start_time": 6.47, "end_time": 9.0, "duration": 2.53},
            ]
        },
    ),
)
