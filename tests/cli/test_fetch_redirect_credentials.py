"""`sessions fetch -H 'Authorization: …'` never sends the header on to another origin after a redirect."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from pytest_httpserver import HTTPServer

from sessions.httpbin import LocalHttpbin
from tests.cli.conftest import invoke


@pytest.fixture
def origin_b() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.2")  # another host: another origin for auth and cookies
    server.start()
    server.expect_request("/landing").respond_with_data("landed")
    server.expect_request("/start").respond_with_data("", status=302, headers={"Location": "/kept"})
    server.expect_request("/kept").respond_with_data("kept")
    yield server
    server.clear()
    server.stop()


def test_fetch_drops_authorization_on_cross_origin_redirect(
    isolated: Path, httpbin: LocalHttpbin, origin_b: HTTPServer
) -> None:
    cross = f"{httpbin.url}/redirect-to?url={quote(origin_b.url_for('/landing'), safe='')}"
    same = origin_b.url_for("/start")
    headers = ["-H", "Authorization: Bearer t0ken", "-H", "Proxy-Authorization: Basic eDp5"]
    run = invoke(["fetch", cross, same, *headers, "--follow"])
    assert run.exit_code == 0, run.stderr
    assert sorted(r["status"] for r in run.records) == [200, 200]
    by_path = {request.path: request.headers for request, _ in origin_b.log}
    assert set(by_path) == {"/landing", "/start", "/kept"}
    assert "Authorization" not in by_path["/landing"]
    assert "Proxy-Authorization" not in by_path["/landing"]
    # A hop on the same origin keeps it: the header is dropped only where it must be.
    assert by_path["/kept"]["Authorization"] == "Bearer t0ken"
