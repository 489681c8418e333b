"""Threads and processes sharing one SQLite cache: no `database is locked`, no torn entries."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

from sessions.cache._entry import CachedEntry
from sessions.cache.storage import StorageLimits
from sessions.cache.storage._sqlite import SQLiteStorage

ROUNDS = 150


def _entry(key: str, writer: int, i: int) -> CachedEntry:
    # The body is derived from the header: a torn entry would show a mismatch.
    tag = f"{writer}-{i}".encode()
    return CachedEntry(
        key=key, method="GET", url=f"https://h/{key}", status=200, headers=[(b"x-tag", tag)],
        content=tag * 500, created_at=time.time(), expires=time.time() + 60,
    )  # fmt: skip


def _hammer(path: str, writer: int) -> None:
    storage = SQLiteStorage(StorageLimits(max_entries=20), db=path)
    try:
        for i in range(ROUNDS):
            key = f"v1-{i % 25}"
            storage.set(_entry(key, writer, i), 60)
            got = storage.get(f"v1-{(i * 7) % 25}")
            if got is not None:
                tag = dict(got.headers)[b"x-tag"]
                assert got.content == tag * 500, "torn entry"
    finally:
        storage.close()


def test_threads_and_processes_share_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    SQLiteStorage(db=path).close()  # create the schema once
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(path, w)) for w in range(3)]
    errors: list[BaseException] = []

    def thread_body(writer: int) -> None:
        try:
            _hammer(path, writer)
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=thread_body, args=(10 + w,)) for w in range(3)]
    for proc in procs:
        proc.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for proc in procs:
        proc.join(timeout=120)
    assert not errors, errors
    assert all(proc.exitcode == 0 for proc in procs)
    storage = SQLiteStorage(StorageLimits(max_entries=20), db=path)
    try:
        assert storage.count() <= 20
        for info in storage.infos():
            entry = storage.get(info.key)
            assert entry is not None
            assert entry.content == dict(entry.headers)[b"x-tag"] * 500
    finally:
        storage.close()


def test_file_permissions(tmp_path: Path) -> None:
    path = tmp_path / "private" / "c.sqlite3"
    SQLiteStorage(db=path).close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
