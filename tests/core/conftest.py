"""Fixtures of the core tests."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response as WResponse

SLOW_ANSWER = 0.3  # seconds the `slow` server takes to answer /slow


@pytest.fixture
def slow() -> Iterator[HTTPServer]:
    """A threaded server whose /slow answers "ok" after `SLOW_ANSWER` seconds (requests overlap)."""
    httpserver = HTTPServer(threaded=True)
    httpserver.start()

    def answer_late(_req: object) -> WResponse:
        time.sleep(SLOW_ANSWER)
        return WResponse(b"ok")

    httpserver.expect_request("/slow").respond_with_handler(answer_late)
    yield httpserver
    httpserver.clear()
    httpserver.stop()
