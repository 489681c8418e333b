"""The SQL server backend (sessions.backends._sql) on the real PostgreSQL and MariaDB servers.

Targets (URL forms, connections handed in), driver and server failures, lost connections, threads, and the
``backend=`` names that select it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from sessions._exceptions import BackendUnavailable, ConfigurationError
from sessions._session import Session
from sessions.backends._sql import SQLBackend, mask_url, open_sql, sql_dialect
from sessions.ratelimit import GCRA, SQLiteStorage
from sessions.ratelimit._mixin import RatelimitMixin
from sessions.ratelimit._sql import SQLStorage
from sessions.ratelimit._storage import open_storage
from tests.fixtures.sql_servers import RUN, require_sql, sql_run_options

pytestmark = pytest.mark.sql


def _connect(dialect: str) -> Any:
    """A driver connection of the user's own (what ``conn=`` receives)."""
    url = require_sql(dialect)
    if dialect == "postgresql":
        import psycopg

        return psycopg.connect(url, autocommit=True)
    import pymysql

    from sessions.backends._sql import _mysql_kwargs

    return pymysql.connect(autocommit=True, **_mysql_kwargs(url))


@pytest.mark.parametrize(
    ("db", "expected"),
    [
        ("postgresql://u@h/db", "postgresql"),
        ("postgres://u@h/db", "postgresql"),
        ("postgresql+psycopg://u@h/db", "postgresql"),
        ("mysql://root@h/db", "mysql"),
        ("MariaDB://root@h/db", "mysql"),
        ("redis://h", None),
        ("/tmp/limits.sqlite3", None),
        (Path("limits.sqlite3"), None),
        (None, None),
    ],
)
def test_targets_are_read_from_the_url(db: object, expected: str | None) -> None:
    assert sql_dialect(db) == expected


def test_the_kind_of_a_connection_is_read_from_the_object(sql_dialect_name: str) -> None:
    conn = _connect(sql_dialect_name)
    try:
        assert sql_dialect(None, conn) == sql_dialect_name
    finally:
        conn.close()
    with sqlite3.connect(":memory:") as lite:
        assert sql_dialect(None, lite) is None
    lite.close()


def test_passwords_are_masked() -> None:
    assert mask_url("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert mask_url("mysql://root@db/x") == "mysql://root@db/x"


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_an_unreachable_server_names_the_url_without_the_password(scheme: str) -> None:
    backend = open_sql(f"{scheme}://app:s3cret@127.0.0.1:1/x")
    with pytest.raises(BackendUnavailable) as caught:
        backend.execute("SELECT 1")
    message = str(caught.value)
    assert f"{scheme}://app:***@127.0.0.1:1/x" in message
    assert "s3cret" not in message
    assert "Check that the server is running" in message
    backend.close()


@pytest.mark.parametrize(("module", "extra"), [("psycopg", "postgres"), ("pymysql", "mysql")])
def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch, module: str, extra: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what `import` sees where the package is not installed
    url = "postgresql://h/x" if module == "psycopg" else "mysql://h/x"
    with pytest.raises(ConfigurationError, match=rf"pip install 'sessions\[{extra}\]'"):
        open_sql(url)


def test_an_unknown_target_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not a PostgreSQL or MySQL target"):
        open_sql("redis://h")


def test_a_connection_handed_in_is_used_and_never_closed(sql_dialect_name: str) -> None:
    conn = _connect(sql_dialect_name)
    try:
        backend = open_sql(conn=conn)
        assert not backend.owns_connections
        assert backend.execute("SELECT 41 + 1") == [(42,)]
        backend.close()
        with conn.cursor() as cursor:  # still open
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    finally:
        conn.close()


def _own_connection_id(backend: SQLBackend) -> int:
    query = "SELECT pg_backend_pid()" if backend.dialect == "postgresql" else "SELECT CONNECTION_ID()"
    return int(backend.execute(query)[0][0])


def test_a_lost_connection_is_replaced_once(sql_dialect_name: str) -> None:
    backend = open_sql(require_sql(sql_dialect_name))
    killer = open_sql(require_sql(sql_dialect_name))
    try:
        victim = _own_connection_id(backend)
        if sql_dialect_name == "postgresql":
            killer.execute("SELECT pg_terminate_backend(%s)", (victim,))
        else:
            killer.execute(f"KILL CONNECTION {victim}")
        # the pooled connection is dead; the statement runs on a fresh one
        assert backend.execute("SELECT 7") == [(7,)]
        assert _own_connection_id(backend) != victim
    finally:
        backend.close()
        killer.close()


async def test_a_lost_async_connection_is_replaced_once(sql_dialect_name: str) -> None:
    backend = open_sql(require_sql(sql_dialect_name))
    killer = open_sql(require_sql(sql_dialect_name))
    query = "SELECT pg_backend_pid()" if sql_dialect_name == "postgresql" else "SELECT CONNECTION_ID()"
    try:
        victim = int((await backend.aexecute(query))[0][0])
        if sql_dialect_name == "postgresql":
            killer.execute("SELECT pg_terminate_backend(%s)", (victim,))
        else:
            killer.execute(f"KILL CONNECTION {victim}")
        assert await backend.aexecute("SELECT 7") == [(7,)]
        assert int((await backend.aexecute(query))[0][0]) != victim
    finally:
        await backend.aclose()
        killer.close()


async def test_async_statements_run_on_native_async_connections(sql_dialect_name: str) -> None:
    """psycopg's and asyncmy's own async connections: no worker thread is started for them."""
    backend = open_sql(require_sql(sql_dialect_name))
    try:
        rows = await asyncio.gather(*(backend.aexecute("SELECT %s", (n,)) for n in range(8)))
        assert sorted(row[0][0] for row in rows) == list(range(8))
        assert backend._executor is None
    finally:
        await backend.aclose()


async def test_without_asyncmy_async_mysql_runs_the_sync_driver_on_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "asyncmy", None)  # what `import` sees where it is not installed
    backend = open_sql(require_sql("mysql"))
    try:
        assert await backend.aexecute("SELECT 7") == [(7,)]
        assert backend._executor is not None
    finally:
        await backend.aclose()


def test_threads_each_get_a_connection(sql_dialect_name: str) -> None:
    backend = open_sql(require_sql(sql_dialect_name))
    seen: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                seen.append(int(backend.execute("SELECT 1 + %s", (1,))[0][0]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    backend.close()
    assert not errors
    assert seen == [2] * 160


def test_a_closed_backend_says_so(sql_dialect_name: str) -> None:
    backend = open_sql(require_sql(sql_dialect_name))
    backend.close()
    with pytest.raises(Exception, match="is closed"):
        backend.execute("SELECT 1")


# ------------------------------------------------------------------------------------------- selection
def test_backend_sql_with_a_path_or_sqlite_connection_is_sqlite(tmp_path: Path) -> None:
    by_path = open_storage("sql", db=tmp_path / "a.sqlite3", prefix="ignored")
    assert isinstance(by_path, SQLiteStorage)
    by_path.close()
    lite = sqlite3.connect(tmp_path / "b.sqlite3", check_same_thread=False)
    by_conn = open_storage("sql", conn=lite)
    assert isinstance(by_conn, SQLiteStorage)
    by_conn.close()
    lite.close()


def test_backend_sql_with_a_server_url_is_that_server(sql_dialect_name: str) -> None:
    url, options = sql_run_options(sql_dialect_name)
    name = "postgres" if sql_dialect_name == "postgresql" else "mysql"
    for backend, db in (("sql", url), (name, url), (url, None)):
        storage = open_storage(backend, db=db, prefix=f"sel-{RUN}", **options)
        assert isinstance(storage, SQLStorage)
        assert storage.name == name
        assert storage.apply("k", GCRA(limit=1, period=60)).allowed
        storage.clear()
        storage.close()


def test_a_backend_name_and_a_url_of_another_server_disagree() -> None:
    with pytest.raises(ConfigurationError, match="backend='postgresql' needs db='postgresql://"):
        open_storage("postgres", db="mysql://root@127.0.0.1/test")
    with pytest.raises(ConfigurationError, match="backend='mysql' needs"):
        open_storage("mysql")


def test_table_names_must_be_plain_identifiers() -> None:
    from sessions.cache.storage._sql import SQLStorage as SQLCacheStorage

    with pytest.raises(ConfigurationError, match=r"table_prefix .* is not a plain SQL name"):
        SQLStorage(db=require_sql("postgresql"), table_prefix="x; DROP TABLE y; --")
    with pytest.raises(ConfigurationError, match=r"schema .* is not a plain SQL name"):
        SQLCacheStorage(db=require_sql("postgresql"), schema="public; DROP TABLE y")


def test_a_session_limits_through_a_connection_it_was_handed() -> None:
    url, options = sql_run_options("postgresql")
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {options['schema']}")
    conn.execute(f"SET search_path TO {options['schema']}")

    class Limited(RatelimitMixin, Session):
        pass

    try:
        session = Limited(backend="sql", conn=conn, key=f"mixin-{RUN}", type="gcra", limit=1, period=60)
        storage = session.ratelimit_storage
        assert isinstance(storage, SQLStorage)
        params = session.ratelimit_params
        assert storage.apply("k", params).allowed
        assert not storage.apply("k", params).allowed
        storage.clear()
        session.close()
        assert not conn.closed
    finally:
        conn.close()


def test_the_cache_selects_the_same_way(sql_dialect_name: str, tmp_path: Path) -> None:
    from sessions.cache.storage import StorageLimits, make_storage
    from sessions.cache.storage._sql import SQLStorage as SQLCacheStorage
    from sessions.cache.storage._sqlite import SQLiteStorage as SQLiteCacheStorage

    limits = StorageLimits()
    lite = make_storage("sql", limits=limits, namespace="n", options={"db": tmp_path / "c.sqlite3"})
    assert isinstance(lite, SQLiteCacheStorage)
    lite.close()
    url, options = sql_run_options(sql_dialect_name)
    name = "postgres" if sql_dialect_name == "postgresql" else "mysql"
    for backend, extra in (("sql", {"db": url}), (name, {"db": url}), (url, {})):
        storage = make_storage(backend, limits=limits, namespace=f"sel-{RUN}", options={**options, **extra})
        assert isinstance(storage, SQLCacheStorage)
        storage.close()
    with pytest.raises(ConfigurationError, match="needs db="):
        make_storage(name, limits=limits, namespace="n", options={"db": tmp_path / "c.sqlite3"})


def test_a_pause_is_seen_by_every_process_sharing_the_server(sql_dialect_name: str) -> None:
    url, options = sql_run_options(sql_dialect_name)
    prefix = f"pause-{RUN}"
    params = GCRA(limit=10, period=1)
    one = SQLStorage(db=url, prefix=prefix, **options)
    other = SQLStorage(db=url, prefix=prefix, **options)  # its own connections, as another process has
    try:
        one.pause("api", params, 30.0)  # a 429 with Retry-After: 30 seen by one worker
        decision = other.apply("api", params)
        assert not decision.allowed
        assert 29.0 < decision.retry_after <= 30.0  # the server's clock moved a little between the two
    finally:
        one.clear()
        one.close()
        other.close()


def test_a_limiter_and_a_cache_share_one_connection_handed_in(httpbin: Any) -> None:
    import pymysql

    from sessions.backends._sql import _mysql_kwargs
    from sessions.cache import CacheMixin
    from tests.fixtures.sql_servers import sql_run_database

    conn = pymysql.connect(autocommit=True, **_mysql_kwargs(sql_run_database("mysql")))

    class Both(CacheMixin, RatelimitMixin, Session):
        pass

    try:
        with Both(backend="sql", conn=conn, key=f"both-{RUN}", type="gcra", limit=100, period=1) as session:
            url = f"{httpbin.url}/get?shared=1"
            assert not session.get(url).from_cache
            assert session.get(url).from_cache
            session.clear_cache()
            session.ratelimit_storage.clear()
        assert conn.open  # ours to close, not the session's
    finally:
        conn.close()
