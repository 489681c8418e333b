"""The embedded httpbin: lifecycle, httpbin's JSON shapes, and the arrival log."""

from __future__ import annotations

import base64
import email.utils
import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from sessions.httpbin import Arrival, ArrivalLog, LocalHttpbin


@pytest.fixture
def client(httpbin: LocalHttpbin) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=httpbin.url) as c:
        yield c


# ---------------------------------------------------------------- lifecycle


def test_start_stop_and_restart() -> None:
    hb = LocalHttpbin()
    with pytest.raises(RuntimeError, match="not running"):
        _ = hb.url
    hb.start()
    try:
        assert hb.url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{hb.url}/get").status_code == 200
        assert hb.start() is hb  # already running: no-op
    finally:
        hb.stop()
    assert not hb.running
    hb.stop()  # idempotent
    with hb:
        assert httpx.get(f"{hb.url}/uuid").status_code == 200


def test_explicit_port_and_bind_failure() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with LocalHttpbin(port=port) as hb:
        assert hb.port == port
        with pytest.raises(RuntimeError, match="failed to start"), LocalHttpbin(port=port):
            pass


def test_stop_does_not_wait_for_slow_requests() -> None:
    import threading

    hb = LocalHttpbin().start()
    errors: list[BaseException] = []

    def slow() -> None:
        try:
            httpx.get(f"{hb.url}/delay/10", timeout=15)
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.1)
    started = time.monotonic()
    hb.stop()
    assert time.monotonic() - started < 3
    thread.join()
    assert errors  # the client saw its connection closed


# ---------------------------------------------------------------- request echo


def test_get_shape(client: httpx.Client, httpbin: LocalHttpbin) -> None:
    data = client.get("/get", params=[("a", "1"), ("a", "2"), ("b", "x")], headers={"x-api-key": "k"}).json()
    assert set(data) == {"args", "headers", "origin", "url"}
    assert data["args"] == {"a": ["1", "2"], "b": "x"}
    assert data["headers"]["X-Api-Key"] == "k"
    assert data["origin"] == "127.0.0.1"
    assert data["url"] == f"{httpbin.url}/get?a=1&a=2&b=x"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_body_methods_echo_json(client: httpx.Client, method: str) -> None:
    data = client.request(method, f"/{method.lower()}", json={"k": [1, 2]}).json()
    assert set(data) == {"args", "data", "files", "form", "headers", "json", "origin", "url"}
    assert data["json"] == {"k": [1, 2]}
    assert json.loads(data["data"]) == {"k": [1, 2]}


def test_wrong_method_is_405(client: httpx.Client) -> None:
    assert client.post("/get").status_code == 405
    assert client.get("/post").status_code == 405


def test_form_and_files(client: httpx.Client) -> None:
    data = client.post("/post", data={"a": "1", "b": ["2", "3"]}).json()
    assert data["form"] == {"a": "1", "b": ["2", "3"]}
    assert data["data"] == ""
    multipart = client.post("/post", data={"a": "1"}, files={"f": ("f.txt", b"hello")}).json()
    assert multipart["files"] == {"f": "hello"}
    assert multipart["form"] == {"a": "1"}


def test_binary_body_is_a_data_url(client: httpx.Client) -> None:
    data = client.put("/put", content=b"\xff\x00").json()
    assert data["data"] == "data:application/octet-stream;base64," + base64.b64encode(b"\xff\x00").decode()
    assert data["json"] is None


@pytest.mark.parametrize("path", ["/anything", "/anything/deep/path"])
def test_anything(client: httpx.Client, path: str) -> None:
    data = client.request("OPTIONS", path, params={"q": "1"}).json()
    assert data["method"] == "OPTIONS"
    assert data["args"] == {"q": "1"}
    assert data["url"].endswith(f"{path}?q=1")


def test_inspection_endpoints(client: httpx.Client) -> None:
    assert client.get("/headers", headers={"X-T": "1"}).json()["headers"]["X-T"] == "1"
    assert client.get("/ip").json() == {"origin": "127.0.0.1"}
    assert client.get("/user-agent", headers={"User-Agent": "ua/1"}).json() == {"user-agent": "ua/1"}
    assert len(client.get("/uuid").json()["uuid"]) == 36


# ---------------------------------------------------------------- status, delay, bytes


def test_status_codes(client: httpx.Client) -> None:
    assert client.get("/status/204").status_code == 204
    assert client.post("/status/503").status_code == 503
    teapot = client.get("/status/418")
    assert "teapot" in teapot.text
    redirect = client.get("/status/302")
    assert redirect.headers["Location"] == "/redirect/1"
    assert client.get("/status/401").headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/status/nope").status_code == 400


def test_status_picks_from_a_list(client: httpx.Client) -> None:
    seen = {client.get("/status/201,202").status_code for _ in range(40)}
    assert seen == {201, 202}
    assert {client.get("/status/200:0,404:1").status_code for _ in range(10)} == {404}


def test_delay(client: httpx.Client) -> None:
    started = time.monotonic()
    data = client.get("/delay/0.2", params={"x": "1"}).json()
    assert 0.2 <= time.monotonic() - started < 2
    assert data["args"] == {"x": "1"}


def test_bytes_are_seedable(client: httpx.Client) -> None:
    a = client.get("/bytes/64", params={"seed": 5}).content
    assert len(a) == 64
    assert client.get("/bytes/64", params={"seed": 5}).content == a
    assert client.get("/bytes/64").headers["Content-Type"] == "application/octet-stream"
    assert client.get("/stream-bytes/64", params={"seed": 5, "chunk_size": 10}).content == a


# ---------------------------------------------------------------- caching


def test_cache_conditional(client: httpx.Client) -> None:
    first = client.get("/cache")
    assert first.status_code == 200
    assert "Last-Modified" in first.headers
    assert "ETag" in first.headers
    assert (
        client.get("/cache", headers={"If-Modified-Since": first.headers["Last-Modified"]}).status_code == 304
    )
    assert client.get("/cache", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304


def test_cache_max_age(client: httpx.Client) -> None:
    response = client.get("/cache/30")
    assert response.headers["Cache-Control"] == "public, max-age=30"
    assert set(response.json()) == {"args", "headers", "origin", "url"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"If-None-Match": '"abc"'}, 304),
        ({"If-None-Match": 'W/"abc", "zzz"'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"other"'}, 200),
        ({"If-Match": '"abc"'}, 200),
        ({"If-Match": '"other"'}, 412),
        ({"If-None-Match": '"other"', "If-Match": '"other"'}, 200),  # If-None-Match wins
    ],
)
def test_etag(client: httpx.Client, headers: dict[str, str], status: int) -> None:
    response = client.get("/etag/abc", headers=headers)
    assert response.status_code == status
    if status != 412:
        assert response.headers["ETag"] == '"abc"'


def test_response_headers(client: httpx.Client) -> None:
    response = client.get("/response-headers", params=[("X-One", "1"), ("X-Two", "a"), ("X-Two", "b")])
    assert response.headers["X-One"] == "1"
    assert response.headers.get_list("X-Two") == ["a", "b"]
    body = response.json()
    assert body["X-One"] == "1"
    assert body["X-Two"] == ["a", "b"]
    assert body["Content-Type"] == "application/json"
    assert int(body["Content-Length"]) == len(response.content)
    cached = client.get("/response-headers", params={"Cache-Control": "max-age=5"})
    assert cached.headers["Cache-Control"] == "max-age=5"


# ---------------------------------------------------------------- redirects, cookies, auth


def test_redirects(client: httpx.Client, httpbin: LocalHttpbin) -> None:
    response = client.get("/redirect/3", follow_redirects=True)
    assert response.status_code == 200
    assert len(response.history) == 3
    assert response.url.path == "/get"
    absolute = client.get("/redirect/2", params={"absolute": "true"})
    assert absolute.headers["Location"] == f"{httpbin.url}/redirect/1"
    to = client.get("/redirect-to", params={"url": "/uuid", "status_code": 307})
    assert to.status_code == 307
    assert to.headers["Location"] == "/uuid"


def test_cookies(client: httpx.Client) -> None:
    response = client.get("/cookies/set", params={"a": "1", "b": "2"}, follow_redirects=True)
    assert response.json() == {"cookies": {"a": "1", "b": "2"}}
    response = client.get("/cookies/delete", params={"a": ""}, follow_redirects=True)
    assert response.json() == {"cookies": {"b": "2"}}


def test_basic_auth(client: httpx.Client) -> None:
    assert client.get("/basic-auth/u/p", auth=("u", "p")).json() == {"authenticated": True, "user": "u"}
    denied = client.get("/basic-auth/u/p", auth=("u", "wrong"))
    assert denied.status_code == 401
    assert denied.headers["WWW-Authenticate"] == 'Basic realm="Fake Realm"'


def test_bearer(client: httpx.Client) -> None:
    ok = client.get("/bearer", headers={"Authorization": "Bearer t0k"})
    assert ok.json() == {"authenticated": True, "token": "t0k"}
    assert client.get("/bearer").status_code == 401


def test_formats(client: httpx.Client) -> None:
    gz = client.get("/gzip")
    assert gz.headers["Content-Encoding"] == "gzip"
    assert gz.json()["gzipped"] is True  # httpx decoded it
    assert client.get("/json").json()["slideshow"]["title"] == "Sample Slide Show"
    assert "Moby-Dick" in client.get("/html").text
    assert client.get("/robots.txt").text == "User-agent: *\nDisallow: /deny\n"


# ---------------------------------------------------------------- our extras


def test_retry_after_seconds_then_success(client: httpx.Client) -> None:
    url = "/retry-after/2"
    params = {"key": "seconds-test", "seconds": "1.5"}
    first, second, third = (client.get(url, params=params) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "1.5"
    assert third.json() == {"attempt": 3, "key": "seconds-test"}
    other_key = client.get(url, params={"key": "another"})
    assert other_key.status_code == 429


def test_retry_after_date_and_status(client: httpx.Client) -> None:
    response = client.get("/retry-after/1", params={"key": "date-test", "date": "60", "status": "503"})
    assert response.status_code == 503
    when = email.utils.parsedate_to_datetime(response.headers["Retry-After"]).timestamp()
    assert 58 <= when - time.time() <= 61


def test_reset_clears_retry_counters(httpbin: LocalHttpbin, client: httpx.Client) -> None:
    params = {"key": "reset-test"}
    assert client.get("/retry-after/1", params=params).status_code == 429
    assert client.get("/retry-after/1", params=params).status_code == 200
    httpbin.reset()
    assert client.get("/retry-after/1", params=params).status_code == 429


def test_arrival_log(httpbin_log: ArrivalLog, client: httpx.Client) -> None:
    before = time.monotonic()
    client.get("/get")
    client.post("/post")
    client.get("/status/404")
    after = time.monotonic()
    arrivals = httpbin_log.snapshot()
    assert [(a.method, a.path) for a in arrivals] == [
        ("GET", "/get"),
        ("POST", "/post"),
        ("GET", "/status/404"),
    ]
    assert all(before <= a.time <= after for a in arrivals)
    assert httpbin_log.count(path="/status") == 1
    assert httpbin_log.count(method="post") == 1
    assert len(httpbin_log) == 3
    httpbin_log.clear()
    assert len(httpbin_log) == 0


def test_max_in_window() -> None:
    log = ArrivalLog()
    for t in (0.0, 0.1, 0.2, 1.05, 1.1, 5.0):
        log.append(Arrival(t, "GET", "/get"))
    assert log.max_in_window(1.0) == 3  # [0.0, 1.0) holds 0.0, 0.1, 0.2
    assert log.max_in_window(1.0, path="/post") == 0
    assert log.max_in_window(0.95) == 3
    assert log.max_in_window(10.0) == 6


def test_arrival_log_is_bounded() -> None:
    log = ArrivalLog(maxlen=3)
    for i in range(10):
        log.append(Arrival(float(i), "GET", "/"))
    assert [a.time for a in log] == [7.0, 8.0, 9.0]


async def test_concurrent_requests_are_all_logged(httpbin: LocalHttpbin, httpbin_log: ArrivalLog) -> None:
    import asyncio

    async with httpx.AsyncClient(base_url=httpbin.url) as c:
        responses = await asyncio.gather(*(c.get("/uuid") for _ in range(50)))
    assert {r.status_code for r in responses} == {200}
    assert httpbin_log.count(path="/uuid") == 50


def test_serve_runs_in_the_foreground() -> None:
    """`serve()` (behind `sessions httpbin`) answers until interrupted."""
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = f"from sessions.httpbin import serve; serve({port}, print_fn=None)"
    from pathlib import Path

    # cwd = the repository root, so `-c` finds the package even when it is not installed.
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/get")
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        assert set(response.json()) == {"args", "headers", "origin", "url"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
