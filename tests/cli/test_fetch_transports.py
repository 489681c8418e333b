"""`sessions fetch` paths that leave the default engine: Redis-backed limiter and cache, a proxy, HTTP/2."""

from __future__ import annotations

import http.server
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from sessions.httpbin import LocalHttpbin
from sessions_cli.exit_codes import ExitCode
from tests.cli.conftest import invoke

redis = pytest.importorskip("redis")
pytestmark = pytest.mark.usefixtures("isolated")


class _ForwardProxy(http.server.ThreadingHTTPServer):
    """A plain-HTTP forward proxy on loopback that records each absolute-form request line it serves."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.seen: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: _ForwardProxy

    def do_GET(self) -> None:
        self.server.seen.append(self.path)  # a proxy receives the absolute URL
        with urllib.request.urlopen(self.path, timeout=10) as upstream:
            body = upstream.read()
            status = upstream.status
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Via", "1.1 test-proxy")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[_ForwardProxy]:
    server = _ForwardProxy()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _urls(httpbin: LocalHttpbin, n: int) -> list[str]:
    return [f"{httpbin.url}/get?i={i}" for i in range(n)]


def test_proxy_carries_every_request(httpbin: LocalHttpbin, proxy: _ForwardProxy) -> None:
    urls = _urls(httpbin, 4)
    run = invoke(["fetch", *urls, "--proxy", proxy.url])
    assert run.exit_code == ExitCode.OK, run.stderr
    assert sorted(r["url"] for r in run.records if r["status"] == 200) == sorted(urls)
    assert sorted(proxy.seen) == sorted(urls)


def test_http2_flag_falls_back_to_http11_on_plain_http(httpbin: LocalHttpbin) -> None:
    pytest.importorskip("h2")
    urls = _urls(httpbin, 3)
    run = invoke(["fetch", *urls, "--http2"])
    assert run.exit_code == ExitCode.OK, run.stderr
    assert [r["status"] for r in run.records] == [200, 200, 200]


def test_redis_backed_limiter_and_cache(httpbin: LocalHttpbin, redis_url: str) -> None:
    urls = _urls(httpbin, 3)
    limiter = ["--backend", "redis", "--ratelimit", "slidingwindow", "--limit", "100", "--window", "60"]
    args = ["fetch", *urls, "--redis-url", redis_url, *limiter, "--cache", "redis"]
    client = redis.Redis.from_url(redis_url)
    log = "{Session}:rl:s:slidingwindow:Session:127.0.0.1"  # default key prefix, per-host scope
    try:
        client.delete(log)  # another test may have limited this host within the last minute
        first = invoke(args)
        assert first.exit_code == ExitCode.OK, first.stderr
        assert [r["from_cache"] for r in first.records] == [False] * 3
        assert client.llen(log) == 3  # one admission per request, recorded in Redis
        second = invoke(args)
        assert second.exit_code == ExitCode.OK, second.stderr
        assert [r["from_cache"] for r in second.records] == [True] * 3  # served from the Redis cache
        assert client.llen(log) == 3  # cache hits took no quota
    finally:
        client.close()


@pytest.mark.sql
def test_sql_server_urls_as_limiter_and_cache(httpbin: LocalHttpbin) -> None:
    from sessions.backends import open_sql
    from tests.fixtures.sql_servers import sql_run_database

    postgres, mysql = sql_run_database("postgresql"), sql_run_database("mysql")
    urls = _urls(httpbin, 3)
    limiter = ["--backend", postgres, "--ratelimit", "slidingwindow", "--limit", "100", "--window", "60"]
    args = ["fetch", *urls, *limiter, "--cache", mysql]
    first = invoke(args)
    assert first.exit_code == ExitCode.OK, first.stderr
    assert [r["from_cache"] for r in first.records] == [False] * 3
    second = invoke(args)
    assert second.exit_code == ExitCode.OK, second.stderr
    assert [r["from_cache"] for r in second.records] == [True] * 3  # served from the MariaDB cache
    limits, cache = open_sql(postgres), open_sql(mysql)
    try:
        (log,) = limits.execute("SELECT log FROM sessions_rl_v1 WHERE ns = 'Session'")[0]
        assert len(log) == 3  # one admission per request on PostgreSQL; cache hits took no quota
        assert cache.execute("SELECT count(*) FROM sessions_http_cache_v1 WHERE ns = 'Session'") == [(3,)]
        limits.execute("DELETE FROM sessions_rl_v1 WHERE ns = 'Session'")
        cache.execute("DELETE FROM sessions_http_cache_v1 WHERE ns = 'Session'")
    finally:
        limits.close()
        cache.close()
