"""The engine end to end: bundle contract, reuse of finished tracks, report, coverage."""

from __future__ import annotations

import json

import pytest

import vidscope
from synth import make_video
from vidscope.analyzers.settings import load_settings
from vidscope.engine.local import Engine
from vidscope.errors import AnalysisFailed, InputError, UsageError
from vidscope.timeline.result import Result

VISUAL = ["shots", "visual_stats", "pacing", "shot_stats"]


@pytest.fixture(scope="module")
def megamind_bundle(media, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "megamind"
    return vidscope.analyze(media("debian/Megamind.avi"), VISUAL, out)


def test_manifest_contract(megamind_bundle):
    m = json.loads((megamind_bundle.path / "manifest.json").read_text())
    assert m["status"] == "complete"
    assert m["schema_version"]
    assert m["media"]["video"]["width"] == 720
    for name in VISUAL:
        entry = m["tracks"][name]
        assert entry["path"] == f"tracks/{name}.jsonl"
        assert (megamind_bundle.path / entry["path"]).exists()
        assert entry["status"] == "complete"
        assert entry["version"] and "params" in entry
    for name in VISUAL:
        for r in megamind_bundle.track(name):
            assert r["start"] <= r["end"]


def test_report_measures_time_memory_and_coverage(megamind_bundle):
    report = megamind_bundle.run_report
    assert report["wall_s"] > 0 and report["rtf"] > 0
    assert report["peak_rss_mb"] > 10
    for name in ("decode", *VISUAL):
        stage = report["stages"][name]
        assert stage["busy_s"] >= 0 and stage["rtf"] is not None
    assert report["stages"]["shots"]["items"] == 270
    # Per-second tracks cover the whole clip, measured from their records.
    assert report["coverage"]["visual_stats"] == pytest.approx(1.0, abs=0.01)
    assert report["coverage"]["pacing"] == pytest.approx(1.0, abs=1e-6)


def test_per_shot_statistics_follow_the_shots(megamind_bundle):
    shots = megamind_bundle.track("shots")
    stats = megamind_bundle.track("shot_stats")
    assert [s["shot"] for s in stats] == [s["index"] for s in shots]
    for shot, st in zip(shots, stats, strict=True):
        assert (st["start"], st["end"]) == (shot["start"], shot["end"])
        assert 0 <= st["brightness"] <= 1 and st["darkness"] == pytest.approx(
            1 - st["brightness"], abs=1e-3
        )
        assert st["motion"] is not None and st["colourfulness"] > 0


def test_pacing_counts_cuts(megamind_bundle):
    pacing = megamind_bundle.track("pacing")
    assert len(pacing) == 12
    # Three cuts in 11 s: a 10-s window around the middle sees all of them.
    middle = pacing[5]
    assert middle["cuts_in_window"] == 3
    assert middle["cut_rate_per_min"] == pytest.approx(18.0)


def test_between_and_at(megamind_bundle):
    window = megamind_bundle.between(5.0, 7.0)
    assert [s["index"] for s in window["shots"]] == [1, 2]
    assert all(r["end"] > 5.0 and r["start"] < 7.0 for r in window["visual_stats"])
    here = megamind_bundle.at(5.0)
    assert [s["index"] for s in here["shots"]] == [1]


def test_rerun_reuses_finished_tracks(media, tmp_path):
    out = tmp_path / "b"
    first = vidscope.analyze(media("debian/Megamind.avi"), ["shots", "visual_stats"], out)
    shots_before = (out / "tracks/shots.jsonl").read_bytes()
    second = vidscope.analyze(
        media("debian/Megamind.avi"), ["shots", "visual_stats", "pacing"], out
    )
    assert first.complete and second.complete
    assert set(second.run_report["reused_tracks"]) == {"shots", "visual_stats"}
    assert "shots" not in second.run_report["stages"]
    assert (out / "tracks/shots.jsonl").read_bytes() == shots_before
    assert len(second.track("pacing")) == 12
    # Changing a parameter invalidates only that track.
    third = vidscope.analyze(
        media("debian/Megamind.avi"),
        ["shots", "visual_stats"],
        out,
        settings={"analyzer.visual_stats.fps": 3},
    )
    assert third.run_report["reused_tracks"] == ["shots"]
    assert third.run_report["kept_tracks"] == ["pacing"]


def test_later_runs_add_tracks_and_drop_what_was_derived_from_a_changed_track(media, tmp_path):
    out = tmp_path / "b"
    clip = media("debian/Megamind.avi")
    vidscope.analyze(clip, ["shots", "visual_stats"], out)
    # A later run with other analyzers adds its tracks; the earlier ones stay in the bundle
    # and feed the new ones (pacing reads the shots of the first run).
    second = vidscope.analyze(clip, ["pacing"], out)
    assert second.complete
    assert set(second.manifest["tracks"]) == {"shots", "visual_stats", "pacing"}
    assert second.run_report["reused_tracks"] == ["shots"]
    assert second.run_report["kept_tracks"] == ["visual_stats"]
    assert set(second.run_report["stages"]) == {"decode", "pacing"}
    assert len(second.track("visual_stats")) == 12
    # Shots computed differently: pacing, derived from them, is recomputed even though its
    # own settings did not change; visual_stats does not depend on them and stays.
    t40 = {"analyzer.shots.threshold": 40}
    third = vidscope.analyze(clip, ["shots", "pacing"], out, settings=t40)
    assert third.run_report["reused_tracks"] == []
    assert {"shots", "pacing"} <= set(third.run_report["stages"])
    assert third.run_report["kept_tracks"] == ["visual_stats"]
    assert third.manifest["tracks"]["shots"]["params"]["threshold"] == 40
    assert third.manifest["tracks"]["pacing"]["inputs"] == ["shots"]
    # A later run that changes shots again without pacing drops the now stale pacing track.
    fourth = vidscope.analyze(clip, ["shots"], out)
    assert set(fourth.manifest["tracks"]) == {"shots", "visual_stats"}
    # Each run says what it did with a track: visual_stats, kept twice, is now reused.
    fifth = vidscope.analyze(clip, ["visual_stats"], out)
    assert fifth.run_report["reused_tracks"] == ["visual_stats"]
    assert fifth.run_report["kept_tracks"] == ["shots"]


def test_interrupted_bundle_is_not_complete(media, tmp_path):
    import threading

    stop = threading.Event()
    stop.set()
    with Engine(load_settings(overrides={"analyzers": ["shots"]}).settings) as engine:
        result = engine.analyze(media("debian/Megamind.avi"), tmp_path / "x", stop=stop)
    assert result.status == "cancelled"
    # Stopped before its end, not broken: a rerun recomputes it.
    assert result.manifest["tracks"]["shots"]["status"] == "interrupted"
    assert "error" not in result.manifest["tracks"]["shots"] and result.manifest["errors"] == {}


def test_a_decoder_failure_leaves_no_complete_track(media, tmp_path, monkeypatch):
    # Whatever breaks inside the decode pass, the tracks it fed stop short: they must be
    # reported failed, not complete (and the run must not end in a traceback).
    from vidscope.media import decode

    def broken(self, frame):
        raise ValueError("the stream changed under the decoder")

    monkeypatch.setattr(decode._AudioAssembler, "add", broken)
    with pytest.raises(AnalysisFailed, match="decoding failed: ValueError: the stream changed"):
        vidscope.analyze(media("faster-whisper/jfk.flac"), ["audio_features"], tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] != "complete"
    assert manifest["tracks"]["audio_features"]["status"] == "failed"


def test_models_load_once_for_many_inputs(tmp_path, monkeypatch):
    from vidscope.analyzers.shots import ShotsAnalyzer

    calls = []
    original = ShotsAnalyzer.setup
    monkeypatch.setattr(ShotsAnalyzer, "setup", lambda self: (calls.append(1), original(self)))
    clips = [tmp_path / f"c{i}.mp4" for i in range(3)]
    for clip in clips:
        make_video(clip, [2.0, 2.0], fps=10, size=(96, 64))
    with Engine(load_settings(overrides={"analyzers": ["shots"]}).settings) as engine:
        results = [engine.analyze(c, tmp_path / c.stem) for c in clips]
    assert calls == [1]
    assert all(len(r.track("shots")) == 2 for r in results)


def test_the_engine_takes_the_choices_analyze_takes(tmp_path):
    clip = tmp_path / "c.mp4"
    make_video(clip, [2.0, 2.0], fps=10, size=(96, 64))
    events: list[str] = []
    with vidscope.Engine(
        {"analyzer.shots.threshold": 20},
        analyzers=["shots"],
        device="cpu",
        progress=lambda event, **data: events.append(event),
    ) as engine:
        assert engine.settings.analyzers == ["shots"]
        assert engine.settings.analyzer["shots"]["threshold"] == 20
        result = engine.analyze(clip, tmp_path / "out")
    assert result.tracks == ["shots"] and len(result.track("shots")) == 2
    assert events  # the callable saw the run
    with pytest.raises(TypeError, match="give analyzers, device, config and wait as settings"):
        vidscope.Engine(load_settings().settings, analyzers=["shots"])
    assert [n for n in dir(vidscope) if not n.startswith("__")] == [
        "Engine",
        "Result",
        "analyze",
    ]


def test_unknown_analyzer_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown analyzer 'nope'"):
        Engine(load_settings(overrides={"analyzers": ["nope"]}).settings)


def test_bad_input_writes_no_bundle(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(InputError):
        vidscope.analyze(bad, ["shots"], tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_video_only_input_skips_audio_analyzers(media, tmp_path):
    result = vidscope.analyze(
        media("pyscenedetect/counter.mp4"), ["shots", "audio_features"], tmp_path / "o"
    )
    assert result.complete
    assert "no audio stream" in result.manifest["skipped"]["audio_features"]
    assert result.tracks == ["shots"]


def test_result_reader_rejects_non_bundle(tmp_path):
    with pytest.raises(InputError):
        Result(tmp_path)


def test_process_isolation_matches_threads_and_stays_resident(media, tmp_path):
    clip = media("faster-whisper/jfk.flac")
    threaded = vidscope.analyze(clip, ["audio_features"], tmp_path / "t").track("audio_features")
    settings = load_settings(
        overrides={"analyzers": ["audio_features"], "isolation.audio_features": "process"}
    ).settings
    with Engine(settings) as engine:
        first = engine.analyze(clip, tmp_path / "p1")
        worker = engine.runner.workers["audio_features"]
        pid = worker._proc.pid
        engine.analyze(clip, tmp_path / "p2", force=True)
        assert engine.runner.workers["audio_features"]._proc.pid == pid
    assert first.track("audio_features") == threaded
    assert first.run_report["stages"]["audio_features"]["items"] == 11


def test_audio_only_input_runs_audio_analyzers(media, tmp_path):
    result = vidscope.analyze(
        media("faster-whisper/jfk.flac"),
        ["shots", "visual_stats", "audio_features", "audio_class"],
        tmp_path / "a",
    )
    assert result.complete
    assert set(result.manifest["skipped"]) == {"shots", "visual_stats"}
    assert result.run_report["coverage"]["audio_features"] == pytest.approx(1.0)
    assert {r["label"] for r in result.track("audio_class")} == {"dialog"}


def test_zero_length_video_is_rejected(tmp_path):
    import av

    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height = 64, 64
    with pytest.raises(InputError):
        vidscope.analyze(path, ["shots"], tmp_path / "o")
    assert not (tmp_path / "o" / "manifest.json").exists()
