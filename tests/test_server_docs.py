"""The API's documentation pages work on an air-gapped server: ``/docs`` (Swagger UI) and
``/redoc`` load in headless Chromium with every request off the server refused, and list the
operations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from test_report import browser  # noqa: F401  (the module's Chromium, reused)
from test_server import Served, serving


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("docs") / "data") as served:
        yield served


def _offline_page(browser, served: Served):  # noqa: F811
    """A page whose every request that does not go to the server fails, as it would with no
    network; the requests it tried are kept on ``page.refused``."""
    page = browser.new_page()
    refused: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith(served.url):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort("internetdisconnected")

    page.route("**/*", route)
    page.refused = refused
    return page


def test_swagger_ui_lists_the_operations_offline(browser, docs_server: Served) -> None:  # noqa: F811
    page = _offline_page(browser, docs_server)
    page.goto(f"{docs_server.url}/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    text = page.inner_text("body")
    for path in ("/v1/jobs", "/v1/jobs/{job_id}", "/analyze", "/health"):
        assert path in text
    assert page.refused == []


def test_redoc_lists_the_operations_offline(browser, docs_server: Served) -> None:  # noqa: F811
    page = _offline_page(browser, docs_server)
    page.goto(f"{docs_server.url}/redoc")
    page.wait_for_selector("[data-section-id^='tag/'], [data-section-id^='operation/']",
                           timeout=20_000)  # fmt: skip
    text = page.inner_text("body")
    assert "/v1/jobs" in text and "vidscope" in text
    # ReDoc's bundle draws its "API docs by Redocly" badge from its CDN; without it the
    # badge has no picture and nothing else changes.
    assert [u for u in page.refused if not u.endswith("/redoc/logo-mini.svg")] == []


def test_the_docs_assets_need_no_key_and_nothing_else_opened(docs_server: Served) -> None:
    with docs_server.client(None) as anonymous:
        assert anonymous.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
        assert anonymous.get("/static-offline-docs/../v1/jobs").status_code in (401, 404)
        assert anonymous.get("/v1/jobs").status_code == 401
