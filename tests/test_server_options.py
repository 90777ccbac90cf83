"""A client of the HTTP service is not its operator: per-job ``options`` reach only the
parameters each analyzer declares client-settable.

Against a real ``vidscope serve`` on 127.0.0.1 (helpers from ``test_server``), with a hostile
endpoint and a marker-writing "Python" made inside the test; plus a walk over every registered
analyzer's parameters.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import HTTPException
from pydantic import Field

from test_server import (
    ALICE,
    BOB,
    Served,
    _Media,
    server_env,
    serving,
    submitted,
    upload,
    wait_for,
)
from vidscope.analyzers import registry
from vidscope.analyzers.base import Params, client_unsafe
from vidscope.server.options import check_client_params

VLM_KEY = "vlm-" + secrets.token_hex(16)
OPERATOR_MIN_WIDTH = 64  # the server's own --set, never the default (256)


class _Hostile:
    """An HTTP server on loopback that records every request it gets (and answers 500 with a
    body a leaky server would copy into a track)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def answer(self) -> None:
                hostile.requests.append((self.command, self.path, dict(self.headers)))
                body = b"internal secret page"
                self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def counter(media) -> Path:
    return media("pyscenedetect/counter.mp4")


@pytest.fixture(scope="module")
def cuts(media) -> Path:
    """A clip with several shots at the default threshold."""
    return media("pyscenedetect/testvideo.mp4")


@pytest.fixture(scope="module")
def origin(cuts: Path) -> Iterator[_Media]:
    served = _Media(cuts.read_bytes())
    yield served
    served.httpd.shutdown()


@pytest.fixture(scope="module")
def hostile() -> Iterator[_Hostile]:
    served = _Hostile()
    yield served
    served.httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, origin: _Media) -> Iterator[Served]:
    with serving(
        tmp_path_factory.mktemp("options") / "data",
        "--workers", "1",
        "--allow-private-url", f"127.0.0.1:{origin.port}",
        "--set", 'analyzers=["shots"]',
        "--set", f"analyzer.shots.min_width={OPERATOR_MIN_WIDTH}",
        env={**server_env(), "VIDSCOPE_VLM_API_KEY": VLM_KEY},
    ) as served:  # fmt: skip
        yield served


@pytest.fixture()
def alice(server: Served) -> Iterator[httpx.Client]:
    with server.client(ALICE) as client:
        yield client


TRANSPORTS = ("json", "upload")


def submit(
    client: httpx.Client,
    transport: str,
    clip: Path,
    origin: _Media,
    analyzers: list[str],
    options: dict[str, Any],
) -> httpx.Response:
    """A job through either door: an upload form, or a URL job from the loopback origin."""
    if transport == "upload":
        return upload(client, clip, ",".join(analyzers), options=orjson.dumps(options).decode())
    body = {"url": origin.url("/clip.mp4"), "analyzers": analyzers, "options": options}
    return client.post("/v1/jobs", json=body)


def refused(response: httpx.Response, key: str) -> str:
    """The one-line 422 that names ``key``."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    assert detail.startswith(key + " "), detail
    return detail


def job_dirs(server: Served) -> list[Path]:
    jobs = server.data_dir / "jobs"
    return sorted(jobs.iterdir()) if jobs.exists() else []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_client_cannot_point_the_vlm_at_its_own_server(
    alice: httpx.Client,
    server: Served,
    counter: Path,
    origin: _Media,
    hostile: _Hostile,
    transport: str,
) -> None:
    before = job_dirs(server)
    captions = {"endpoint": hostile.url, "model": "any"}
    response = submit(
        alice, transport, counter, origin, ["captions"], {"analyzer": {"captions": captions}}
    )
    detail = refused(response, "analyzer.captions.endpoint")
    assert "operator-only" in detail and "fps" in detail  # says what a client may set instead
    assert hostile.requests == []
    assert job_dirs(server) == before
    assert VLM_KEY not in response.text


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_client_cannot_name_models_to_compare(
    alice: httpx.Client, server: Served, counter: Path, origin: _Media, transport: str
) -> None:
    before = job_dirs(server)
    models = {"analyzer": {"shot_captions": {"models": ["/srv/any", "/srv/other"]}}}
    response = submit(alice, transport, counter, origin, ["shot_captions"], models)
    assert "operator-only" in refused(response, "analyzer.shot_captions.models")
    endpoints = {"analyzer": {"captions": {"endpoints": ["http://127.0.0.1:1/v1"]}}}
    response = submit(alice, transport, counter, origin, ["captions"], endpoints)
    assert "operator-only" in refused(response, "analyzer.captions.endpoints")
    # A per-model variant is the operator's vlm.models, not a name a client may send.
    response = submit(alice, transport, counter, origin, ["captions@other"], {})
    assert response.status_code == 422, response.text
    assert job_dirs(server) == before


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("analyzer", ["faces", "pose", "segmentation"])
def test_a_client_cannot_choose_a_program_to_run(
    alice: httpx.Client,
    counter: Path,
    origin: _Media,
    tmp_path: Path,
    analyzer: str,
    transport: str,
) -> None:
    marker = tmp_path / "ran"
    program = tmp_path / "python"
    program.write_text(f"#!/bin/sh\ntouch {marker}\n")
    program.chmod(0o755)
    options = {"analyzer": {analyzer: {"python": str(program)}}}
    response = submit(alice, transport, counter, origin, [analyzer], options)
    refused(response, f"analyzer.{analyzer}.python")
    assert not marker.exists()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("analyzer", "key", "value"),
    [
        ("segmentation", "mask_dir", "MASKS"),
        ("objects", "model", "/etc/passwd"),
        ("objects", "threads", 64),
        ("transcript", "asr_model", "/etc/passwd"),
        ("transcript", "download", True),
        ("captions", "model", "/etc/passwd"),
        ("summary", "device", "cuda"),
        ("shots", "min_width", 4096),
    ],
)
def test_operator_only_parameters_are_refused(
    alice: httpx.Client,
    server: Served,
    counter: Path,
    origin: _Media,
    tmp_path: Path,
    analyzer: str,
    key: str,
    value: Any,
    transport: str,
) -> None:
    masks = tmp_path / "masks"
    value = str(masks) if value == "MASKS" else value
    before = job_dirs(server)
    options = {"analyzer": {analyzer: {key: value}}}
    response = submit(alice, transport, counter, origin, [analyzer], options)
    assert "operator-only" in refused(response, f"analyzer.{analyzer}.{key}")
    assert "passwd" not in response.text
    assert job_dirs(server) == before
    assert not masks.exists()
    listed = alice.get("/v1/jobs").raise_for_status().text
    assert "passwd" not in listed


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_unknown_parameters_and_analyzers_are_named(
    alice: httpx.Client, counter: Path, origin: _Media, transport: str
) -> None:
    unknown_key = {"analyzer": {"shots": {"threshold": 30, "sharpness": 2}}}
    response = submit(alice, transport, counter, origin, ["shots"], unknown_key)
    detail = refused(response, "analyzer.shots.sharpness")
    assert "is not a parameter" in detail and "threshold" in detail
    unknown_analyzer = {"analyzer": {"telepathy": {"range": 1}}}
    response = submit(alice, transport, counter, origin, ["shots"], unknown_analyzer)
    assert "unknown analyzer" in refused(response, "analyzer.telepathy:")
    vlm_section = {"vlm": {"endpoint": "http://127.0.0.1:1/v1"}}
    response = submit(alice, transport, counter, origin, ["shots"], vlm_section)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_client_settable_parameters_apply_over_the_operators_settings(
    alice: httpx.Client, cuts: Path, origin: _Media, transport: str
) -> None:
    def shots(options: dict[str, Any]) -> tuple[dict[str, Any], int]:
        response = submit(alice, transport, cuts, origin, ["shots"], options)
        job = wait_for(alice, submitted(response))
        assert job["status"] == "succeeded", job
        result = alice.get(f"/v1/jobs/{job['id']}/result").raise_for_status().json()
        records = alice.get(f"/v1/jobs/{job['id']}/tracks/shots").raise_for_status().text
        return result["tracks"]["shots"]["params"], len(records.splitlines())

    plain, several = shots({})
    assert plain["min_width"] == OPERATOR_MIN_WIDTH and plain["threshold"] == 27.0
    assert several > 1

    # No change of content scores above 255: the client's threshold (with the learned
    # transitions and fades off) leaves one shot.
    off = {"threshold": 255, "detect_fades": False, "transitions": "off"}
    chosen, single = shots({"analyzer": {"shots": off}})
    assert chosen["threshold"] == 255 and chosen["detect_fades"] is False
    assert chosen["transitions"] == "off"
    assert chosen["min_width"] == OPERATOR_MIN_WIDTH  # the operator's --set still applies
    assert single == 1

    # An empty section does not wipe the operator's settings of that analyzer.
    empty, _ = shots({"analyzer": {"shots": {}}})
    assert empty["min_width"] == OPERATOR_MIN_WIDTH

    out_of_range = {"analyzer": {"shots": {"threshold": 1e9}}}
    response = submit(alice, transport, cuts, origin, ["shots"], out_of_range)
    assert response.status_code == 422 and "threshold" in response.json()["detail"]


def test_a_second_key_cannot_reach_operator_settings(
    server: Served, alice: httpx.Client, cuts: Path, origin: _Media
) -> None:
    """Every setting outside the allow-list, the newer ones included, is refused for any key,
    and what one key tries changes nothing for another."""
    with server.client(BOB) as bob:
        for options in (
            {"download": {"deadline_s": 1, "min_rate_kib_s": 0}},
            {"wait_for_bundle": True},
            {"isolation": {"shots": "process"}},
            {"device": "cuda"},
            {"cache_dir": "/tmp"},
            {"search": {"index": "/tmp/elsewhere.sqlite3"}},
            {"vlm": {"models": ["/srv/any"], "trust_remote_code": True}},
        ):
            for transport in TRANSPORTS:
                response = submit(bob, transport, cuts, origin, ["shots"], options)
                assert response.status_code == 422, (options, response.text)
                [error] = response.json()["detail"]
                assert error["type"] == "extra_forbidden" and error["loc"][-1] == next(
                    iter(options)
                )
        response = submit(bob, "json", cuts, origin, ["shots"], {})
        job = wait_for(bob, submitted(response))
        assert job["status"] == "succeeded", job
        params = bob.get(f"/v1/jobs/{job['id']}/result").json()["tracks"]["shots"]["params"]
        assert params["min_width"] == OPERATOR_MIN_WIDTH
        assert job["id"] not in alice.get("/v1/jobs").text


# ---------------------------------------------------------------- the declarations themselves

# Words that name a file, a host, a program, a model, hardware or a download.  A second line
# of defence next to the type rule, which cannot tell a boolean `download` from `smooth`.
OPERATOR_WORDS = (
    "path", "dir", "file", "url", "endpoint", "host", "python", "program", "command", "model",
    "device", "thread", "download", "cache", "key", "cpu", "gpu", "concurren", "batch",
)  # fmt: skip


def _params() -> list[tuple[str, type[Params]]]:
    found = [(n, registry.params_model(n)) for n in registry.names()]
    missing = [n for n, model in found if model is None]
    assert not missing, f"analyzers whose parameters could not be imported: {missing}"
    return found  # type: ignore[return-value]


def test_every_client_settable_parameter_is_safe_by_type_and_name() -> None:
    walked = 0
    for name, model in _params():
        schema = model.model_json_schema()["properties"]
        for field in sorted(model.client_settable):
            walked += 1
            assert client_unsafe(schema[field]) is None, (name, field)
            assert not any(word in field for word in OPERATOR_WORDS), (name, field)
    assert walked  # the walk saw something


def test_the_type_rule_refuses_what_the_audit_found() -> None:
    models = dict(_params())
    dangerous = {
        "captions": ("endpoint", "endpoints", "model", "models", "device"),
        "shot_captions": ("endpoint", "endpoints", "model", "models"),
        "summary": ("endpoint", "endpoints", "model", "models"),
        "faces": ("python",),
        "pose": ("python",),
        "segmentation": ("python", "mask_dir"),
        "objects": ("model", "threads", "width"),
        "transcript": ("asr_model", "cpu_threads"),
        "ocr": ("threads",),
    }
    for name, fields in dangerous.items():
        schema = models[name].model_json_schema()["properties"]
        for field in fields:
            assert client_unsafe(schema[field]), (name, field)
    # Every free string or half-bounded number an analyzer has, anywhere, is refused.
    for model in models.values():
        for field, prop in model.model_json_schema()["properties"].items():
            if any(map(_free, prop.get("anyOf", [prop]))):
                assert client_unsafe(prop), field


def _free(schema: dict[str, Any]) -> bool:
    if "enum" in schema or "const" in schema:
        return False
    if schema.get("type") == "string":
        return "maxLength" not in schema or "format" in schema
    if schema.get("type") in ("integer", "number"):
        return not ({"maximum", "exclusiveMaximum"} & schema.keys())
    return False


def test_a_declaration_the_rule_refuses_fails_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"Leaky.where cannot be client-settable: .*'path'"):

        class Leaky(Params):
            client_settable = frozenset({"where"})
            where: Path = Path(".")

    with pytest.raises(TypeError, match="maximum length"):

        class Prompted(Params):
            client_settable = frozenset({"prompt"})
            prompt: str = "describe"

    class Bounded(Params):
        client_settable = frozenset({"prompt"})
        prompt: str = Field("describe", max_length=2000)

    assert Bounded.client_settable == {"prompt"}
    with pytest.raises(TypeError, match="names no field 'typo'"):

        class Typo(Params):
            client_settable = frozenset({"typo"})


def test_the_server_check_follows_every_declaration() -> None:
    for name, model in _params():
        for field in model.model_fields:
            if field in model.client_settable:
                check_client_params({name: {field: None}})
            else:
                with pytest.raises(HTTPException) as refused_:
                    check_client_params({name: {field: None}})
                assert refused_.value.status_code == 422
                assert refused_.value.detail.startswith(f"analyzer.{name}.{field} is operator-only")


def test_the_readme_lists_exactly_the_client_settable_parameters() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("#### Client-settable options", 1)[1].split("\n#", 1)[0]
    documented = {
        row[0].strip(" `"): {p.strip(" `") for p in row[1].split(",")}
        for line in section.splitlines()
        if line.startswith("| `")
        for row in [line.strip("|").split("|")]
    }
    declared = {
        name: set(model.client_settable)
        for name in registry.BUILTIN
        if (model := registry.params_model(name)) is not None and model.client_settable
    }
    assert documented == declared
