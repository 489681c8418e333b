"""`sessions fetch --cache` (second run makes zero upstream requests) and `sessions cache ...`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessions.httpbin import ArrivalLog, LocalHttpbin
from tests.cli.conftest import invoke

pytestmark = pytest.mark.usefixtures("isolated")


def test_second_run_with_cache_makes_no_upstream_request(
    httpbin: LocalHttpbin, httpbin_log: ArrivalLog, tmp_path: Path
) -> None:
    db = str(tmp_path / "cache.sqlite")
    urls = [f"{httpbin.url}/get?i={i}" for i in range(5)]
    first = invoke(["fetch", "-q", *urls, "--cache", "--cache-db", db])
    assert first.exit_code == 0, first.stderr
    assert httpbin_log.count(path="/get") == 5
    second = invoke(["fetch", *urls, "--cache", "sqlite", "--cache-db", db])
    assert second.exit_code == 0
    assert httpbin_log.count(path="/get") == 5  # nothing new reached the server
    assert all(record["from_cache"] for record in second.records)
    assert "Cache      5 hits (100.0%)" in second.stderr

    stats = invoke(["cache", "stats", "--db", db])
    assert stats.exit_code == 0
    assert "entries  5" in stats.stdout
    listing = invoke(["cache", "ls", "--db", db, "--url", "*i=1*", "--json"])
    (entry,) = [json.loads(line) for line in listing.stdout.splitlines()]
    assert entry["url"].endswith("i=1")
    assert entry["status"] == 200
    removed = invoke(["cache", "rm", "--db", db, "--url", "*i=1*"])
    assert removed.stdout.strip() == "removed 1 entries"
    assert invoke(["cache", "rm", "--db", db]).exit_code == 2
    assert invoke(["cache", "clear", "--db", db]).stdout.strip() == "cleared 4 entries"
    assert "entries  0" in invoke(["cache", "stats", "--db", db]).stdout


def test_offline_serves_only_cached(httpbin: LocalHttpbin, httpbin_log: ArrivalLog, tmp_path: Path) -> None:
    db = str(tmp_path / "cache.sqlite")
    run = invoke(["fetch", "-q", f"{httpbin.url}/get?never=1", "--cache", "--cache-db", db, "--offline"])
    assert httpbin_log.count() == 0
    assert run.records[0]["status"] == 504


@pytest.mark.sql
@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_the_cache_commands_take_a_server_url(httpbin: LocalHttpbin, dialect: str) -> None:
    from tests.fixtures.sql_servers import sql_run_database

    url = sql_run_database(dialect)
    key = "Session"  # fetch's namespace
    invoke(["cache", "clear", "--backend", url, "--key", key])  # this run's database: only our tests wrote
    urls = [f"{httpbin.url}/get?i={i}" for i in range(3)]
    assert invoke(["fetch", "-q", *urls, "--cache", url]).exit_code == 0
    assert "entries  3" in invoke(["cache", "stats", "--backend", url, "--key", key]).stdout
    assert invoke(["cache", "clear", "--backend", url, "--key", key]).stdout.strip() == "cleared 3 entries"
    assert invoke(["cache", "stats", "--backend", "ftp://x", "--key", key]).exit_code == 2
