"""Search across bundles (``vidscope index``, ``vidscope search``, ``GET /v1/search``) on bundles
of two shared clips: Megamind.avi (dialogue, people) and testvideo.mp4 (burned-in text, no
sound).  Each clip is analysed once for the module; the tests index copies of the bundles.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

import vidscope
from conftest import missing, need
from test_server import ALICE, BOB, serving, submitted, upload, wait_for
from vidscope.errors import UsageError
from vidscope.search import SearchIndex, parse_query, search
from vidscope.timeline.bundle import BundleWriter, write_json_atomic
from vidscope.timeline.result import Result

VIDSCOPE = Path(sys.executable).with_name("vidscope")
MEGAMIND_ANALYZERS = ["shots", "transcript", "objects"]
TESTVIDEO_ANALYZERS = ["shots", "ocr", "objects"]


@pytest.fixture(scope="module")
def megamind(media, tmp_path_factory) -> Result:
    return vidscope.analyze(
        media("debian/Megamind.avi"),
        analyzers=MEGAMIND_ANALYZERS,
        output=tmp_path_factory.mktemp("bundles") / "megamind",
    )


@pytest.fixture(scope="module")
def testvideo(media, tmp_path_factory) -> Result:
    return vidscope.analyze(
        media("pyscenedetect/testvideo.mp4"),
        analyzers=TESTVIDEO_ANALYZERS,
        output=tmp_path_factory.mktemp("bundles") / "testvideo",
    )


@pytest.fixture(scope="module")
def index(megamind, testvideo, tmp_path_factory):
    path = tmp_path_factory.mktemp("index") / "search.sqlite3"
    with SearchIndex(path) as ix:
        assert ix.add(megamind.path) == "added"
        assert ix.add(testvideo.path) == "added"
        yield ix


def hits(ix: SearchIndex, text: str, **kwargs):
    return search(ix.db, parse_query(text), **kwargs).hits


def words(result: Result) -> list[tuple[str, float, float]]:
    return [
        (w["word"].strip(" .,?").lower(), w["start"], w["end"])
        for r in result.iter_track("transcript")
        for w in r["words"]
    ]


def shot_of(result: Result, t: float) -> int:
    return next(s["index"] for s in result.track("shots") if s["start"] <= t < s["end"])


def test_a_spoken_phrase_is_found_at_its_time(index, megamind):
    said = words(megamind)
    k = next(i for i, w in enumerate(said) if w[0] == "relief")
    assert [w[0] for w in said[k - 1 : k + 3]] == ["a", "relief", "to", "hear"]
    found = hits(index, '"a relief to hear"')
    assert len(found) == 1
    hit = found[0]
    assert hit.bundle == str(megamind.path.resolve()) and hit.track == "transcript"
    assert (hit.start, hit.end) == (said[k - 1][1], said[k + 2][2])
    assert hit.shot == shot_of(megamind, hit.start)
    assert hit.snippet == "Oh, that's [a] [relief] [to] [hear]."
    # Case and accents do not matter; a word alone is placed at the word.
    again = hits(index, "RÉLIÊF")
    assert [(h.start, h.end) for h in again] == [(said[k][1], said[k][2])]
    # The words in another order are no phrase; a prefix is a word that goes on.
    assert hits(index, '"relief a"') == []
    assert {h.start for h in hits(index, "judg*")} == {w[1] for w in said if w[0] == "judge"}


def test_burned_in_text_is_found_through_ocr(index, testvideo):
    ocr = testvideo.track("ocr")
    shown = [r for r in ocr if "Castellano" in r["text"]]
    assert shown
    found = hits(index, 'ocr:"Brandon Castellano"', limit=100)
    assert sorted((h.start, h.end) for h in found) == sorted((r["start"], r["end"]) for r in shown)
    assert {h.bundle for h in found} == {str(testvideo.path.resolve())}
    assert {h.track for h in found} == {"ocr"}
    assert "[Brandon] [Castellano]" in found[0].snippet
    assert hits(index, "ocr:bcastell")  # www.bcastell.com: a token of its own
    assert hits(index, "ocr:relief") == []  # said, never written
    assert hits(index, "copyright")  # plain words: every text track, on-screen text too


def test_a_person_in_shot_while_a_word_is_said(index, megamind, testvideo):
    said = words(megamind)
    judge = [w for w in said if w[0] == "judge"]
    people = {r["shot"] for r in megamind.iter_track("objects") if r["label"] == "person"}
    # A word said across a cut counts in both shots.
    spoken = {
        s["index"]
        for s in megamind.track("shots")
        for w in judge
        if s["start"] < w[2] and w[1] < s["end"]
    }
    expected = spoken & people
    assert expected
    found = hits(index, "objects:person AND judge")
    assert {h.bundle for h in found} == {str(megamind.path.resolve())}
    assert {h.shot for h in found} == expected
    assert all(h.track == "objects+transcript" for h in found)
    assert all(any(w[1] <= h.start < w[2] or h.start == w[1] for w in judge) for h in found)
    # testvideo's objects are found alone, but it says nothing: never joined with a word.
    label = next(iter(testvideo.iter_track("objects")))["label"]
    assert {h.bundle for h in hits(index, f'objects:"{label}"')} >= {str(testvideo.path.resolve())}
    assert hits(index, f'objects:"{label}" AND judge') == []
    assert hits(index, "objects:person AND relief")[0].shot == shot_of(megamind, said[0][1] + 5.5)
    # Within a window instead of a shot: the moment is the word, its evidence beside it.
    near = hits(index, "objects:person AND relief", within=1.0)
    relief = next(w for w in said if w[0] == "relief")
    assert [(h.start, h.end) for h in near] == [(relief[1], relief[2])]
    assert hits(index, "ocr:copyright AND judge") == []


def test_queries_that_cannot_mean_anything_are_refused(index):
    for text, reason in [
        ('"a relief', "unbalanced quote"),
        ("relief AND", "AND needs a term"),
        ("...", "nothing to search for"),
        ("ocr:exit objects:dog", "join terms of different tracks with AND"),
    ]:
        with pytest.raises(UsageError, match=reason):
            parse_query(text)
    for typo in ("ocrr:exit", "body:relief"):  # body: the index's own column, no track
        with pytest.raises(UsageError, match=f"no track '{typo.split(':')[0]}'"):
            hits(index, typo)
    # Nothing of FTS5's own syntax gets through: these are words, all wanted in one record.
    assert hits(index, 'NEAR(relief hear) OR -"x"') == []
    assert hits(index, "relief OR hear") == []
    assert len(hits(index, "hear relief")) == 1


def write_bundle(root: Path, tracks: dict[str, list[dict]]) -> Path:
    media = {"path": "gone.mp4", "start": 0.0, "duration": 30.0}
    writer = BundleWriter(root, {"source": {"input": "gone.mp4"}, "media": media})
    for name, records in tracks.items():
        track = writer.open_track(name, {"analyzer": name})
        for record in records:
            track.write(record)
        track.close()
        writer.update_track(name, status="complete", records=len(records))
    writer.set(status="complete")
    return root


def test_every_text_track_speakers_and_record_shapes(tmp_path):
    """Captions, shot captions, summary and chapters, speakers, on-screen text given as
    ``lines``, a plugin's track, people and face counts: each found by its fields' names."""
    shots = [{"start": 0.0, "end": 10.0, "index": 0}, {"start": 10.0, "end": 30.0, "index": 1}]
    bundle = write_bundle(
        tmp_path / "synthetic",
        {
            "shots": shots,
            "transcript": [
                {"start": 1.0, "end": 3.0, "text": "Welcome to the café.", "speaker": "S1"},
                {"start": 12.0, "end": 14.0, "text": "Thanks, the cafe is nice.", "speaker": "S2"},
            ],
            "ocr": [{"start": 2.0, "end": 4.0, "lines": [{"text": "EMERGENCY"}, "EXIT"]}],
            "captions": [{"start": 11.0, "end": 12.0, "text": "a dog on a sofa"}],
            "shot_captions": [{**shots[1], "shot": 1, "caption": "a living room"}],
            "summary": [
                {
                    "start": 0.0,
                    "end": 30.0,
                    "summary": "Two people meet.",
                    "chapters": [{"start": 10.0, "end": 30.0, "title": "The sofa"}],
                }
            ],
            "pose": [
                {"start": k / 2, "end": k / 2 + 0.5, "people": [{}, {}] if k < 10 else [{}]}
                for k in range(30)
            ],
            "plugin_tags": [{"start": 5.0, "end": 6.0, "label": "goal"}, {"start": 7.0}],
            "audio_events": [{"start": 10.5, "end": 20.0, "label": "dog", "family": "animal"}],
        },
    )
    with SearchIndex(tmp_path / "search.sqlite3") as ix:
        ix.add(bundle)
        assert [(h.track, h.start) for h in hits(ix, "speaker:S2")] == [("transcript", 12.0)]
        assert [h.start for h in hits(ix, "speaker:s1 cafe")] == [1.0]
        assert {h.track for h in hits(ix, "cafe")} == {"transcript"}
        assert [h.text for h in hits(ix, 'ocr:"emergency exit"')] == ["EMERGENCY EXIT"]
        assert [h.track for h in hits(ix, "dog")] == ["captions"]  # labels need a track
        assert [h.track for h in hits(ix, "audio:animal")] == ["audio_events"]
        assert [h.track for h in hits(ix, "captions:living")] == ["shot_captions"]
        assert [h.track for h in hits(ix, "summary:sofa")] == ["chapters"]
        assert [h.track for h in hits(ix, "meet")] == ["summary"]
        assert [h.text for h in hits(ix, "plugin_tags:goal")] == ["goal"]
        # Runs of a count, not one row per frame; people:people and people:person: any.
        people = sorted((h.text, h.start, h.end) for h in hits(ix, "people:person"))
        assert people == [("1 person", 5.0, 15.0), ("2 people", 0.0, 5.0)]
        assert [(h.text, h.start) for h in hits(ix, "people:2")] == [("2 people", 0.0)]
        # A dog heard in the shot where a dog is seen: shot 1 (one hit each: placed at the first).
        both = hits(ix, "audio:dog AND captions:dog")
        assert [(h.shot, h.start, h.track) for h in both] == [(1, 10.5, "audio_events+captions")]
        assert hits(ix, "speaker:S1 AND audio:dog") == []
        assert len(hits(ix, "speaker:S1 AND audio:dog", within=8)) == 1


def shot(index: int, start: float, end: float, way_in: object, way_out: object = None) -> dict:
    record = {"start": start, "end": end, "index": index, "transition_in": way_in}
    return record if way_out is None else {**record, "transition_out": way_out}


def transition(kind: str, start: float, end: float | None = None) -> dict:
    return {"type": kind, "start": start, "end": start if end is None else end}


def test_shots_are_found_by_how_they_begin_and_end(tmp_path):
    """Transitions as the shots analyzer writes them (objects with a type and a span), and as
    bundles of its first version did (strings)."""
    cut, dissolve = transition("cut", 10.0), transition("dissolve", 19.5, 20.5)
    now = write_bundle(
        tmp_path / "now",
        {
            "shots": [
                shot(0, 0.0, 10.0, transition("start", 0.0), cut),
                shot(1, 10.0, 20.0, cut, dissolve),
                shot(2, 20.0, 30.0, dissolve, transition("end", 30.0)),
            ],
            "captions": [{"start": 21.0, "end": 22.0, "text": "a dog on a sofa"}],
        },
    )
    before = write_bundle(
        tmp_path / "before",
        {"shots": [shot(0, 0.0, 4.0, "fade_in", "cut"), shot(1, 4.0, 30.0, "cut")]},
    )
    with SearchIndex(tmp_path / "search.sqlite3") as ix:
        ix.add(now)
        ix.add(before)
        shots = {str(b.resolve()): b.name for b in (now, before)}

        def found(query: str) -> list[tuple[str, int | None, str]]:
            return sorted((shots[h.bundle], h.shot, h.text) for h in hits(ix, query))

        assert found("shots:dissolve") == [
            ("now", 1, "shot 1: cut to dissolve"),
            ("now", 2, "shot 2: dissolve to end"),
        ]
        assert [(b, shot) for b, shot, _ in found("shots:cut")] == [
            ("before", 0), ("before", 1), ("now", 0), ("now", 1)
        ]  # fmt: skip
        assert found("shots:fade_in") == [("before", 0, "shot 0: fade_in to cut")]
        assert found("shots:wipe") == []
        # A shot's transition joins what is seen in it.
        both = hits(ix, "shots:dissolve AND captions:dog")
        assert [(h.shot, h.track) for h in both] == [(2, "shots+captions")]


def test_each_models_own_tracks(tmp_path):
    """A run with several vision-language models: ``captions@LABEL`` and the like are found
    under their base name (every model's) and under their label (one model's)."""
    bundle = write_bundle(
        tmp_path / "models",
        {
            "shots": [{"start": 0.0, "end": 30.0, "index": 0}],
            "captions@qwen2-vl": [{"start": 1.0, "end": 2.0, "text": "a dog on a sofa"}],
            "captions@llava-v1-6": [{"start": 1.5, "end": 2.5, "text": "a brown dog"}],
            "shot_captions@qwen2-vl": [{"start": 0.0, "end": 30.0, "caption": "a living room"}],
            "summary@qwen2-vl": [
                {
                    "start": 0.0,
                    "end": 30.0,
                    "summary": "A dog rests.",
                    "chapters": [{"start": 0.0, "end": 30.0, "title": "The sofa"}],
                }
            ],
            "captions": [{"start": 3.0, "end": 4.0, "text": "a dog asleep"}],
        },
    )
    with SearchIndex(tmp_path / "search.sqlite3") as ix:
        ix.add(bundle)

        def tracks(query: str) -> list[str]:
            return sorted(h.track for h in hits(ix, query))

        assert tracks("captions:dog") == ["captions", "captions@llava-v1-6", "captions@qwen2-vl"]
        assert tracks("captions@qwen2-vl:dog") == ["captions@qwen2-vl"]
        assert tracks("captions@LLaVA-v1-6:brown") == ["captions@llava-v1-6"]
        assert tracks("captions@qwen2-vl:living") == ["shot_captions@qwen2-vl"]
        assert tracks("shot_captions:living") == ["shot_captions@qwen2-vl"]
        assert tracks("summary:sofa") == ["chapters@qwen2-vl"]
        assert tracks("summary@qwen2-vl:rests") == ["summary@qwen2-vl"]
        assert tracks("chapters:sofa") == ["chapters@qwen2-vl"]
        assert tracks("dog") == [
            "captions", "captions@llava-v1-6", "captions@qwen2-vl", "summary@qwen2-vl"
        ]  # fmt: skip
        assert tracks("captions@llava-v1-6:sofa") == []
        with pytest.raises(UsageError, match="no track 'captions@gpt-4o'"):
            hits(ix, "captions@gpt-4o:dog")
        both = hits(ix, "captions@qwen2-vl:dog AND captions@llava-v1-6:dog")
        assert [h.track for h in both] == ["captions@qwen2-vl+captions@llava-v1-6"]


def test_within_needs_an_and(tmp_path):
    """``within`` says how far apart the clauses of ``A AND B`` may be: on one clause it
    would be ignored, so it is refused, from Python, the command line and HTTP."""
    from fastapi.testclient import TestClient

    from vidscope.server.app import create_app
    from vidscope.server.auth import KeyFile
    from vidscope.server.config import ServerConfig

    bundle = write_bundle(
        tmp_path / "within", {"captions": [{"start": 1.0, "end": 2.0, "text": "a dog"}]}
    )
    path = tmp_path / "search.sqlite3"
    with SearchIndex(path) as ix:
        ix.add(bundle)
        with pytest.raises(UsageError, match="within applies to A AND B"):
            hits(ix, "dog", within=5)
        assert len(hits(ix, "dog AND captions:dog", within=5)) == 1
    run = cli("search", "dog", "--within", "5s", "--index", str(path), check=False)
    assert run.returncode == 2 and "within applies to A AND B" in run.stderr, run.stderr
    config = ServerConfig(data_dir=tmp_path / "data")
    key = KeyFile(config.keys_path).add("tester")
    with TestClient(create_app(config)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        refused = client.get("/v1/search", params={"q": "dog", "within": 5})
        assert refused.status_code == 422
        assert "within applies to A AND B" in refused.json()["detail"]
        assert client.get("/v1/search", params={"q": "dog AND cat", "within": 5}).json() == {
            "hits": [],
            "next_offset": None,
        }


def test_an_index_of_an_earlier_schema_is_rebuilt_by_indexing(tmp_path):
    from vidscope.search.schema import SCHEMA_VERSION

    path = tmp_path / "search.sqlite3"
    bundle = write_bundle(
        tmp_path / "b", {"captions": [{"start": 1.0, "end": 2.0, "text": "a dog"}]}
    )
    with SearchIndex(path) as ix:
        ix.add(bundle)
        ix.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    # Searching alone refuses it (its rows are of an older reading of the bundles) ...
    with pytest.raises(UsageError, match="earlier vidscope: run vidscope index again"):
        SearchIndex(path, create=False)
    # ... indexing rebuilds it: the bundles indexed again, none of the old rows kept.
    with SearchIndex(path) as ix:
        assert ix.stats()["bundles"] == 0
        assert ix.add(bundle) == "added"
        assert [h.track for h in hits(ix, "captions:dog")] == ["captions"]
        ix.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(UsageError, match="made by a later vidscope"):
        SearchIndex(path)


def test_http_hits_link_to_the_models_own_track(tmp_path):
    from fastapi.testclient import TestClient

    from vidscope.search.lookup import Hit
    from vidscope.server.app import create_app
    from vidscope.server.auth import KeyFile
    from vidscope.server.config import ServerConfig
    from vidscope.server.search_api import _hit

    def records(track: str) -> str:
        hit = Hit("job:abc", 1.0, 2.0, track, "t", 1.0, None)
        return _hit(hit).records.split("?")[0]

    assert records("chapters@qwen2-vl") == "/v1/jobs/abc/tracks/summary@qwen2-vl"
    assert records("captions@qwen2-vl+objects") == "/v1/jobs/abc/tracks/captions@qwen2-vl"
    assert records("people") == "/v1/jobs/abc/tracks/pose"
    # The tracks endpoint takes such a name (a job that is not the caller's: 404, not 422).
    config = ServerConfig(data_dir=tmp_path / "data")
    key = KeyFile(config.keys_path).add("tester")
    with TestClient(create_app(config)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        gone = client.get(f"/v1/jobs/{uuid.uuid4()}/tracks/summary@qwen2-vl")
        assert gone.status_code == 404, gone.text


def copy_bundle(bundle: Path, to: Path) -> Path:
    shutil.copytree(bundle, to)
    return to


def test_reindexing_a_reanalysed_bundle_leaves_no_stale_rows(megamind, tmp_path):
    bundle = copy_bundle(megamind.path, tmp_path / "bundles" / "megamind")
    path = tmp_path / "search.sqlite3"
    with SearchIndex(path) as ix:
        ix.add(bundle)
        before = ix.stats()["moments"]
        assert ix.add(bundle) == "unchanged"
        # A re-run writes the transcript anew (here: other words) and its manifest entry.
        lines = [
            {**r, "text": r["text"].replace("relief", "surprise"), "words": []}
            for r in Result(bundle).iter_track("transcript")
        ]
        track = bundle / "tracks" / "transcript.jsonl"
        track.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in lines))
        manifest = Result(bundle).manifest
        manifest["tracks"]["transcript"]["finished"] = "a later run"
        write_json_atomic(bundle / "manifest.json", manifest)
        assert ix.add(bundle) == "updated"
        assert ix.stats()["moments"] == before
        assert hits(ix, "relief") == []
        assert [h.text for h in hits(ix, "surprise")] == ["Oh, that's a surprise to hear."]
        ix.db.execute("INSERT INTO fts (fts) VALUES ('integrity-check')")
    # A bundle gone from the folder is gone from the index.
    shutil.rmtree(bundle)
    run = cli("index", str(tmp_path / "bundles"), "--index", str(path))
    assert "1 removed" in run.stderr
    with SearchIndex(path) as ix:
        assert ix.stats()["moments"] == 0


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([str(VIDSCOPE), *args], capture_output=True, text=True, timeout=120)
    if check:
        assert run.returncode == 0, run.stderr
    return run


@pytest.mark.slow
def test_concurrent_indexers_do_not_corrupt_the_index(megamind, testvideo, tmp_path):
    folder = tmp_path / "bundles"
    for n in range(4):
        copy_bundle(megamind.path, folder / f"megamind-{n}")
        copy_bundle(testvideo.path, folder / f"testvideo-{n}")
    path = tmp_path / "search.sqlite3"
    # Three writers at once over the same eight bundles, each to the same new file.
    runs = [
        subprocess.Popen(
            [str(VIDSCOPE), "index", str(folder), "--index", str(path)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for run in runs:
        assert run.wait(120) == 0, run.stderr.read() if run.stderr else ""
    with SearchIndex(path) as ix:
        one = SearchIndex(tmp_path / "one.sqlite3")
        one.add(megamind.path)
        one.add(testvideo.path)
        assert ix.stats()["bundles"] == 8
        assert ix.stats()["moments"] == 4 * one.stats()["moments"]
        one.close()
        assert ix.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ix.db.execute("INSERT INTO fts (fts) VALUES ('integrity-check')")
        assert len(hits(ix, '"a relief to hear"')) == 4


@pytest.mark.slow
def test_cli_index_search_and_analyze_adding_to_the_index(media, testvideo, megamind, tmp_path):
    path = tmp_path / "search.sqlite3"
    # analyze adds what it writes when an index is configured (here a rerun into a copy of
    # the bundle, which reuses its tracks).
    bundle = copy_bundle(testvideo.path, tmp_path / "testvideo")
    cli(
        "analyze", str(media("pyscenedetect/testvideo.mp4")), "-o", str(bundle),
        "-a", ",".join(TESTVIDEO_ANALYZERS), "-q", "--set", f"search.index={path}",
    )  # fmt: skip
    run = cli("search", "ocr:castellano", "--json", "--limit", "2", "--index", str(path))
    found = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(found) == 2 and all(h["bundle"] == str(bundle.resolve()) for h in found)
    hit = found[0]
    assert hit["open"] == {
        "show": f"vidscope show {bundle.resolve()} --at {hit['start']:g}",
        "report": f"{bundle.resolve() / 'report.html'}#t={hit['start']:g}",
    }
    # --in indexes the folder's bundles first, and searches only them.
    run = cli("search", "objects:person AND relief", "--in", str(megamind.path), "--index",
              str(path), "--within", "2s")  # fmt: skip
    assert "transcript" in run.stdout and "megamind" in run.stdout and "testvideo" not in run.stdout
    assert "report.html#t=" in run.stdout
    bad = cli("search", '"open', "--index", str(path), check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: unbalanced quote in the query: '\"open'"
    assert cli("search", "x", "--within", "soon", "--index", str(path), check=False).returncode == 2
    none = cli("search", "x", "--index", str(tmp_path / "none.sqlite3"), check=False)
    assert none.returncode == 2 and "no search index here" in none.stderr


@pytest.mark.slow
def test_http_search_sees_only_the_callers_jobs(media, tmp_path):
    with (
        serving(tmp_path / "data") as served,
        served.client(ALICE) as alice,
        served.client(BOB) as bob,
    ):
        mine = submitted(upload(alice, media("debian/Megamind.avi"), analyzers="shots,transcript"))
        theirs = submitted(upload(bob, media("pyscenedetect/testvideo.mp4"), analyzers="shots,ocr"))
        for client, job in ((alice, mine), (bob, theirs)):
            assert wait_for(client, job, timeout=180)["status"] == "succeeded"
        said = alice.get("/v1/search", params={"q": "relief"}).raise_for_status().json()
        assert [h["job"] for h in said["hits"]] == [mine] and said["next_offset"] is None
        hit = said["hits"][0]
        assert hit["records"].startswith(f"/v1/jobs/{mine}/tracks/transcript?start=")
        assert alice.get(hit["records"]).status_code == 200
        # The attacker: another key sees none of it, by words, track or phrase.
        for q in ("relief", "transcript:relief", '"a relief to hear"', "judg*"):
            assert bob.get("/v1/search", params={"q": q}).json()["hits"] == [], q
        assert alice.get("/v1/search", params={"q": "ocr:castellano"}).json()["hits"] == []
        assert bob.get(hit["records"]).status_code == 404
        # Paging: two at a time, no hit twice, and the last page says so.
        seen, offset = [], 0
        while offset is not None:
            page = bob.get(
                "/v1/search", params={"q": "ocr:castellano", "limit": 2, "offset": offset}
            ).json()
            assert {h["job"] for h in page["hits"]} == {theirs}
            seen += [(h["start"], h["end"]) for h in page["hits"]]
            offset = page["next_offset"]
        assert len(seen) == len(set(seen)) > 2
        assert alice.get("/v1/search", params={"q": '"x'}).status_code == 422
        with served.client(None) as anonymous:
            assert anonymous.get("/v1/search", params={"q": "relief"}).status_code == 401
        # A deleted job leaves the index with it.
        assert alice.delete(f"/v1/jobs/{mine}").status_code in (200, 202, 204)
        assert alice.get("/v1/search", params={"q": "relief"}).json()["hits"] == []
    index = sqlite3.connect(tmp_path / "data" / "search.sqlite3")
    owners = {row[0] for row in index.execute("SELECT owner FROM bundles")}
    assert len(owners) == 1 and None not in owners


def test_the_report_opens_at_the_fragments_time(testvideo, tmp_path):
    from test_report import CHROMIUM, CHROMIUM_ARGS
    from vidscope.report import write_report

    sync_api = need("playwright.sync_api")
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing (Debian package chromium)")
    html = write_report(testvideo.path, tmp_path / "report.html", video=False).path
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(html.as_uri() + "#t=7.5")
            page.wait_for_function("window.__vidscopeReady")
            assert page.evaluate("__vidscope.now()") == 7.5
            page.evaluate("location.hash = '#t=12.25'")
            page.wait_for_function("__vidscope.now() === 12.25")
        finally:
            browser.close()
