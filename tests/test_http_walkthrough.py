"""The README's ``curl`` walkthrough, run as it is written against a real ``vidscope serve``,
and the OpenAPI schema's examples, each sent to the server: documentation that cannot rot.

The walkthrough's commands are taken from README.md's "Calling it with curl" section and run in
one bash, in order, with two substitutions only: the server's address for
``http://127.0.0.1:8000`` and a loopback media server for ``https://example.com``.  ``curl``
runs with ``--fail-with-body``, so any answer of 400 or more fails the walkthrough.  The shot
endpoints answer from an OpenAI-compatible model on loopback.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import need
from test_server import ALICE, Served, _Media, serving
from test_vlm_http import FakeVlm, Handler
from vidscope.timeline.exports import FORMATS

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "### Calling it with curl"
ADDRESS = "http://127.0.0.1:8000"
ELSEWHERE = "https://example.com"


def walkthrough() -> list[str]:
    """The ``bash`` blocks of the README's curl section, in order."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def vlm() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("DocsVlm", (Handler,), {"fake": FakeVlm()}))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


@pytest.fixture(scope="module")
def origin(media) -> Iterator[_Media]:
    served = _Media(media("pyscenedetect/counter.mp4").read_bytes())
    yield served
    served.closing.set()
    served.httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, vlm: str, origin: _Media) -> Iterator[Served]:
    need("faster_whisper", reason="the walkthrough transcribes")
    with serving(
        tmp_path_factory.mktemp("walkthrough") / "data",
        "--allow-private-url", f"127.0.0.1:{origin.port}",
        "--vlm-endpoint", vlm, "--vlm-model", "fake-vlm",
        "--set", "analyzer.transcript.asr_model=tiny.en",
    ) as served:  # fmt: skip
        yield served


def test_the_readme_walkthrough_runs_with_curl_alone(
    server: Served, origin: _Media, media, tmp_path
):
    script = "\n".join(walkthrough())
    for needle in (
        "-F file=@", "-F analyzers=", "-F 'options=", '"url":', "/events", "/result",
        "/tracks/", "/report", "/v1/search", '"$VIDSCOPE/analyze"', '"$VIDSCOPE/analyze_batch"',
        '"shot_id"', '"images"', '"video"', '"audio_features"', '"start_time"', "-X DELETE",
    ):  # fmt: skip
        assert needle in script, needle
    for name in FORMATS:  # every export format the server serves
        assert f"/export/{name}" in script, name
    # The clip: Megamind.avi, under the name the walkthrough uses (probed, not judged by name).
    shutil.copy(media("debian/Megamind.avi"), tmp_path / "clip.mp4")
    script = script.replace(ADDRESS, server.url).replace(ELSEWHERE, origin.url(""))
    run = subprocess.run(
        ["bash", "-c", 'set -euo pipefail\ncurl() { command curl -sS --fail-with-body "$@"; }\n'
         + script],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "KEY": ALICE, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    # What each step gave: the job ended well, and every file it wrote reads back.
    assert 'event: end\ndata: {"status":"succeeded"}' in out
    assert "judge a book" in (tmp_path / "clip.srt").read_text(encoding="utf-8").lower()
    assert (tmp_path / "clip.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    shots = json.loads((tmp_path / "shots.json").read_text(encoding="utf-8"))["records"]
    with (tmp_path / "shots.csv").open(newline="", encoding="utf-8") as f:
        assert [float(r["start"]) for r in csv.DictReader(f)] == [s["start"] for s in shots]
    assert len(shots) == 4 and (tmp_path / "clip.edl").read_text().count("* FROM CLIP NAME") == 4
    assert (tmp_path / "sheet.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "sheet.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    page = (tmp_path / "clip.html").read_text(encoding="utf-8")
    assert "<title>clip.mp4" in page and "data:image/jpeg;base64," in page
    assert str(server.data_dir) not in page and "jobs/" not in page  # no server path
    assert '"records":"/v1/jobs/' in out  # the search found the phrase
    assert out.count('"caption":') >= 3  # /analyze, then both shots of /analyze_batch
    assert '"status":"healthy"' in out  # /health


def test_the_openapi_schema_carries_working_examples(server: Served) -> None:
    with server.client(ALICE) as client:
        schema = client.get("/openapi.json").raise_for_status().json()
        paths = schema["paths"]
        submit = paths["/v1/jobs"]["post"]["requestBody"]["content"]
        assert submit["multipart/form-data"]["examples"]["upload"]["value"]["options"]
        assert submit["application/json"]["examples"]["url"]["value"]["url"]

        def examples(path: str, method: str, name: str) -> dict:
            params = paths[path][method]["parameters"]
            return next(p for p in params if p["name"] == name)["examples"]

        track = "/v1/jobs/{job_id}/tracks/{name}"
        assert examples(track, "get", "start") and examples(track, "get", "end")
        export = "/v1/jobs/{job_id}/export/{fmt}"
        assert {e["value"] for e in examples(export, "get", "fmt").values()} == set(FORMATS)
        assert examples(export, "get", "track")
        assert examples("/v1/search", "get", "q")
        assert "/v1/jobs/{job_id}/report" in paths
        for path in ("/analyze", "/analyze_batch"):
            body = paths[path]["post"]["requestBody"]["content"]["application/json"]["examples"]
            first = next(iter(body.values()))["value"]
            answer = client.post(path, json=first)
            assert answer.status_code == 200, answer.text
        shot = paths["/analyze"]["post"]["requestBody"]["content"]["application/json"]["examples"]
        assert {"images", "video"} <= set(shot)
