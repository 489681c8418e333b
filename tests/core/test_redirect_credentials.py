"""A redirect to another origin never carries the first origin's credentials.

Origin A is the embedded httpbin on 127.0.0.1 (its ``/redirect-to`` sends us on); origin B is a
recording server on 127.0.0.2 — another host, so another origin for auth *and* for cookies (a
cookie is not bound to a port). What B received is read from B's own log, so each test sees what
crossed the wire, whichever path (fast, httpx transport, mounts, HTTP/2, batch) sent it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import trustme
from pytest_httpserver import HTTPServer

from sessions import AsyncSession, Session
from sessions._session import keeps_credentials
from sessions.httpbin import LocalHttpbin

SECRET_HEADERS = {"Authorization": "Bearer origin-a-token", "Proxy-Authorization": "Basic cHJveHk6cHc="}


@pytest.fixture
def origin_b() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.2")
    server.start()
    server.expect_request("/landing").respond_with_data("landed")
    yield server
    server.clear()
    server.stop()


def via(origin_a: str, target: str) -> str:
    return f"{origin_a}/redirect-to?url={quote(target, safe='')}"


def received(server: HTTPServer) -> dict[str, str]:
    """The headers of the one request `server` got (lower-cased names)."""
    assert len(server.log) == 1, server.log
    request, _ = server.log[0]
    return {name.lower(): value for name, value in request.headers.items()}


def assert_no_credentials(headers: dict[str, str]) -> None:
    assert "authorization" not in headers
    assert "proxy-authorization" not in headers
    assert "cookie" not in headers


# Every way a Session sends: the aiohttp fast path, httpx's transport, a mount, HTTP/2 (httpx's path).
SYNC_SESSIONS: dict[str, Callable[[], Session]] = {
    "fast-path": lambda: Session(),
    "transport": lambda: Session(transport=httpx.HTTPTransport()),
    "mounts": lambda: Session(mounts={"http://": httpx.HTTPTransport()}),
    "http2": lambda: Session(http2=True),
}
ASYNC_SESSIONS: dict[str, Callable[[], AsyncSession]] = {
    "fast-path": lambda: AsyncSession(),
    "transport": lambda: AsyncSession(transport=httpx.AsyncHTTPTransport()),
    "mounts": lambda: AsyncSession(mounts={"http://": httpx.AsyncHTTPTransport()}),
    "http2": lambda: AsyncSession(http2=True),
}
# How the credentials are given: by hand as headers, per request as auth=, or on the client.
CREDENTIALS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "headers": ({}, {"headers": SECRET_HEADERS}),
    "request-auth": ({}, {"auth": ("user", "pass")}),
    "client-auth": ({"auth": ("user", "pass")}, {}),
}


def _session(make: Callable[[], Any], client_kwargs: dict[str, Any]) -> Any:
    session = make()
    if client_kwargs.get("auth"):
        session.auth = client_kwargs["auth"]
    return session


@pytest.mark.parametrize("how", CREDENTIALS)
@pytest.mark.parametrize("path", SYNC_SESSIONS)
def test_sync_cross_origin_redirect_drops_credentials(
    path: str, how: str, httpbin: LocalHttpbin, origin_b: HTTPServer
) -> None:
    client_kwargs, request_kwargs = CREDENTIALS[how]
    with _session(SYNC_SESSIONS[path], client_kwargs) as s:
        r = s.get(via(httpbin.url, origin_b.url_for("/landing")), follow_redirects=True, **request_kwargs)
    assert r.status_code == 200
    assert r.text == "landed"
    assert len(r.history) == 1
    assert_no_credentials(received(origin_b))


@pytest.mark.parametrize("how", CREDENTIALS)
@pytest.mark.parametrize("path", ASYNC_SESSIONS)
async def test_async_cross_origin_redirect_drops_credentials(
    path: str, how: str, httpbin: LocalHttpbin, origin_b: HTTPServer
) -> None:
    client_kwargs, request_kwargs = CREDENTIALS[how]
    async with _session(ASYNC_SESSIONS[path], client_kwargs) as s:
        r = await s.get(
            via(httpbin.url, origin_b.url_for("/landing")), follow_redirects=True, **request_kwargs
        )
    assert r.status_code == 200
    assert r.text == "landed"
    assert_no_credentials(received(origin_b))


@pytest.mark.parametrize("path", SYNC_SESSIONS)
def test_same_origin_redirect_keeps_authorization(path: str, httpbin: LocalHttpbin) -> None:
    """The other half of the rule: a hop on the same origin still authenticates (httpx does the same)."""
    with SYNC_SESSIONS[path]() as s:
        r = s.get(via(httpbin.url, f"{httpbin.url}/headers"), auth=("user", "pass"), follow_redirects=True)
    assert r.json()["headers"]["Authorization"] == httpx.BasicAuth("user", "pass")._auth_header


@pytest.mark.parametrize("path", SYNC_SESSIONS)
def test_cookies_of_the_first_origin_stay_there(
    path: str, httpbin: LocalHttpbin, origin_b: HTTPServer
) -> None:
    with SYNC_SESSIONS[path]() as s:
        s.get(f"{httpbin.url}/cookies/set?session_id=origin-a", follow_redirects=True)
        assert s.get(f"{httpbin.url}/cookies").json()["cookies"] == {"session_id": "origin-a"}
        s.get(via(httpbin.url, origin_b.url_for("/landing")), follow_redirects=True)
    assert_no_credentials(received(origin_b))


def test_batch_cross_origin_redirects_drop_credentials(httpbin: LocalHttpbin, origin_b: HTTPServer) -> None:
    target = via(httpbin.url, origin_b.url_for("/landing"))
    with Session(headers=SECRET_HEADERS, follow_redirects=True) as s:
        results = s.requests([target] * 3)
    assert [r.status_code for r in results] == [200, 200, 200]  # type: ignore[union-attr]
    assert len(origin_b.log) == 3
    for request, _ in origin_b.log:
        assert "Authorization" not in request.headers
        assert "Proxy-Authorization" not in request.headers


async def test_async_batch_with_auth_drops_it_on_cross_origin(
    httpbin: LocalHttpbin, origin_b: HTTPServer
) -> None:
    target = via(httpbin.url, origin_b.url_for("/landing"))
    async with AsyncSession(auth=("user", "pass"), follow_redirects=True) as s:
        results = await s.requests([target] * 2)
    assert [r.status_code for r in results] == [200, 200]  # type: ignore[union-attr]
    assert all("Authorization" not in request.headers for request, _ in origin_b.log)


@pytest.fixture(scope="module")
def tls_origin() -> Iterator[tuple[LocalHttpbin, ssl.SSLContext]]:
    """Origin A over https (a throwaway CA), and a client context trusting it."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with LocalHttpbin(ssl_context=server_context) as server:
        yield server, client_context


@pytest.mark.parametrize("path", ["fast-path", "transport"])
def test_https_to_http_downgrade_drops_credentials(
    path: str, tls_origin: tuple[LocalHttpbin, ssl.SSLContext], origin_b: HTTPServer
) -> None:
    server, context = tls_origin
    transport = {"transport": httpx.HTTPTransport(verify=context)} if path == "transport" else {}
    with Session(verify=context, **transport) as s:  # type: ignore[arg-type]
        s.get(f"{server.url}/cookies/set?tls=secret", follow_redirects=True)
        r = s.get(
            via(server.url, origin_b.url_for("/landing")), headers=SECRET_HEADERS, follow_redirects=True
        )
    assert r.history[0].url.scheme == "https"
    assert r.url.scheme == "http"
    assert_no_credentials(received(origin_b))


@pytest.mark.parametrize(
    ("source", "target", "keeps"),
    [
        ("https://a.example/x", "https://a.example/y", True),
        ("https://a.example/x", "https://a.example:443/y", True),  # the default port, spelt out
        ("http://a.example/x", "https://a.example/y", True),  # upgrade of the same host: httpx keeps it
        ("https://a.example/x", "http://a.example/y", False),  # downgrade
        ("https://a.example/x", "https://b.example/y", False),
        ("https://a.example/x", "https://a.example:8443/y", False),
        ("http://a.example:8080/x", "https://a.example/y", False),  # not the default-port upgrade
        ("http://a.example/x", "http://a.example.evil/y", False),
    ],
)
def test_keeps_credentials_rule(source: str, target: str, keeps: bool) -> None:
    assert keeps_credentials(httpx.URL(source), httpx.URL(target)) is keeps
