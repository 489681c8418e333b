"""The SQLite connection factory: pragmas, permissions, corrupt files, transactions, clock."""

from __future__ import annotations

import multiprocessing
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from sessions._exceptions import BackendError, BackendUnavailable
from sessions.backends import (
    WallClock,
    default_cache_dir,
    default_sqlite_path,
    open_sqlite,
    transaction,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_pragmas_and_connection_settings(tmp_path: Path) -> None:
    conn = open_sqlite(tmp_path / "a.sqlite3")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.isolation_level is None
    finally:
        conn.close()


def test_usable_from_another_thread(tmp_path: Path) -> None:
    conn = open_sqlite(tmp_path / "a.sqlite3")
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(conn.execute("SELECT 1").fetchone()[0]))
    thread.start()
    thread.join()
    conn.close()
    assert result == [1]


def test_creates_private_directories_and_file(tmp_path: Path) -> None:
    target = tmp_path / "x" / "y" / "db.sqlite3"
    conn = open_sqlite(target)
    conn.execute("CREATE TABLE t (v)")
    conn.execute("INSERT INTO t VALUES (1)")
    try:
        assert _mode(tmp_path / "x") == 0o700
        assert _mode(tmp_path / "x" / "y") == 0o700
        assert _mode(target) == 0o600
        wal = target.with_name(target.name + "-wal")
        assert wal.exists()
        assert _mode(wal) == 0o600  # SQLite copies the database file's mode
    finally:
        conn.close()


def test_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "db.sqlite3"
    sqlite3.connect(target).close()
    target.chmod(0o640)
    open_sqlite(target).close()
    assert _mode(target) == 0o640


def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "broken.sqlite3"
    target.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(BackendUnavailable, match=r"not usable.*delete it") as info:
        open_sqlite(target)
    assert str(target) in str(info.value)


def test_memory_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    conn = open_sqlite(":memory:")
    assert conn.execute("SELECT 1").fetchone()[0] == 1
    conn.close()
    assert list(tmp_path.iterdir()) == []


def test_default_location_is_the_user_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert default_cache_dir() == tmp_path / "cache" / "sessions"
    assert default_sqlite_path("rl.sqlite3") == tmp_path / "cache" / "sessions" / "rl.sqlite3"
    open_sqlite(None, name="rl.sqlite3").close()
    assert (tmp_path / "cache" / "sessions" / "rl.sqlite3").exists()
    assert _mode(tmp_path / "cache" / "sessions") == 0o700
    assert list(work.iterdir()) == []  # never the working directory


def test_adopts_a_user_connection(tmp_path: Path) -> None:
    user = sqlite3.connect(tmp_path / "u.sqlite3", check_same_thread=False)
    try:
        assert open_sqlite(None, conn=user) is user
        assert user.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        user.execute("CREATE TABLE t (v)")
        with transaction(user):
            user.execute("INSERT INTO t VALUES (1)")
        assert not user.in_transaction
        assert user.execute("SELECT count(*) FROM t").fetchone()[0] == 1
    finally:
        user.close()


def test_transaction_commits_and_rolls_back(tmp_path: Path) -> None:
    conn = open_sqlite(tmp_path / "t.sqlite3")
    conn.execute("CREATE TABLE t (v)")
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")

    def failing() -> None:
        with transaction(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        failing()
    assert [r[0] for r in conn.execute("SELECT v FROM t")] == [1]
    conn.close()


def test_transaction_refuses_an_open_transaction(tmp_path: Path) -> None:
    conn = open_sqlite(tmp_path / "t.sqlite3")
    conn.execute("BEGIN")
    with pytest.raises(BackendError, match="already inside a transaction"), transaction(conn):
        pass
    conn.execute("ROLLBACK")
    conn.close()


def _increment(conn: sqlite3.Connection, times: int) -> None:
    for _ in range(times):
        with transaction(conn):
            (value,) = conn.execute("SELECT v FROM counter").fetchone()
            conn.execute("UPDATE counter SET v = ?", (value + 1,))


def test_threads_sharing_one_connection_do_not_interleave(tmp_path: Path) -> None:
    conn = open_sqlite(tmp_path / "c.sqlite3")
    conn.execute("CREATE TABLE counter (v)")
    conn.execute("INSERT INTO counter VALUES (0)")
    threads = [threading.Thread(target=_increment, args=(conn, 200)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert conn.execute("SELECT v FROM counter").fetchone()[0] == 1200
    conn.close()


def _process_worker(path: str, times: int) -> None:
    conn = open_sqlite(path)
    _increment(conn, times)
    conn.close()


@pytest.mark.slow
def test_processes_sharing_one_file_never_lose_updates(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    conn = open_sqlite(path)
    conn.execute("CREATE TABLE counter (v)")
    conn.execute("INSERT INTO counter VALUES (0)")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_worker, args=(str(path), 150)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert conn.execute("SELECT v FROM counter").fetchone()[0] == 600
    conn.close()


def test_openers_racing_on_a_new_file_all_succeed(tmp_path: Path) -> None:
    """Several connections opening one fresh file at the same instant (processes starting
    together on a new database): the switch to WAL can be refused as busy without the
    busy handler running, and every opener must still get a configured connection."""
    openers = 6
    failures: list[BaseException] = []

    def open_at(path: Path, barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            open_sqlite(path).close()
        except BaseException as exc:  # reported to the main thread below
            failures.append(exc)

    # The race is narrow (about one round in eighty here), so run many rounds.
    for round_ in range(400):
        path = tmp_path / f"{round_}.sqlite3"
        barrier = threading.Barrier(openers)
        threads = [threading.Thread(target=open_at, args=(path, barrier)) for _ in range(openers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == [], f"round {round_}: {failures[0]!r}"
        check = sqlite3.connect(path)
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        check.close()


def test_wall_clock_never_runs_backwards() -> None:
    readings = iter([1_000, 5_000, 3_000, 7_000])
    clock = WallClock(lambda: next(readings))
    assert [clock(), clock(), clock(), clock()] == [1_000, 5_000, 5_000, 7_000]
