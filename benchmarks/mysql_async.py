"""Async MySQL/MariaDB: the sync driver on worker threads against async drivers, and what `AsyncSession` uses.

    python benchmarks/mysql_async.py              # ~30 s: median of 5 rounds
    python benchmarks/mysql_async.py --rounds 9

Issue 12 asks which is faster for async sessions on MySQL: PyMySQL on a worker thread, or an async driver. One
event loop, one trivial statement (``SELECT 1``: the transport and driver cost, which is what differs — the
server's work for a limiter decision is the same whichever client sends it), each contender through a pool:

* ``threads``   PyMySQL on a ``mysql://`` backend's worker threads (``SQLBackend.in_thread(execute)``, its
                pooled autocommit connections) — the path our async limiter and cache took before this
                measurement, and still take on a connection handed in or without asyncmy;
* ``aiomysql``  aiomysql's pool (PyMySQL's protocol code driven by asyncio);
* ``asyncmy``   asyncmy's pool (a Cython protocol implementation);
* ``ours``      ``SQLBackend.aexecute``: asyncmy connections pooled per event loop behind our error handling
                (the async limiter's and cache's path since).

Each at 1 and at 8 statements in flight (8 coroutines, each awaiting its statements one after another), by wall
clock (statements/s) and by process CPU per statement (both threads and the loop: what a 2-core machine runs
out of). The ratio quoted is each contender ÷ ``threads`` in the same round, median of the rounds. The async
drivers are in the ``bench`` extra (``pip install -e '.[bench]'``); a missing one is skipped with a note.
Server: ``SESSIONS_TEST_MYSQL_URL`` (default the local test server). Results: ``benchmarks/results/mysql_async.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sessions.backends import open_sql

URL = os.environ.get("SESSIONS_TEST_MYSQL_URL") or "mysql://root@127.0.0.1:3306/test"
CONCURRENCY = (1, 8)
Call = Callable[[], Awaitable[Any]]


def _connect_kwargs(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": parts.username or "root",
        "password": parts.password or "",
        "db": parts.path.lstrip("/") or None,
        "autocommit": True,
    }


async def _threads() -> tuple[Call, Callable[[], Awaitable[None]]]:
    backend = open_sql(URL)
    statement = partial(backend.execute, "SELECT 1")

    async def call() -> Any:
        return await backend.in_thread(statement)

    async def close() -> None:
        backend.close()

    return call, close


async def _ours() -> tuple[Call, Callable[[], Awaitable[None]]]:
    backend = open_sql(URL)

    async def call() -> Any:
        return await backend.aexecute("SELECT 1")

    async def close() -> None:
        backend.close()

    return call, close


async def _pool(module: str) -> tuple[Call, Callable[[], Awaitable[None]]]:
    driver: Any = __import__(module)
    pool = await driver.create_pool(minsize=1, maxsize=max(CONCURRENCY), **_connect_kwargs(URL))

    async def call() -> Any:
        async with pool.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute("SELECT 1")
            return await cursor.fetchall()

    async def close() -> None:
        pool.close()
        await pool.wait_closed()

    return call, close


async def _measure(call: Call, statements: int, concurrency: int) -> tuple[float, float]:
    """(statements/s, CPU µs per statement) for `statements` at `concurrency` in flight."""
    each = statements // concurrency

    async def worker() -> None:
        for _ in range(each):
            await call()

    await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm: every pooled connection open
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done = each * concurrency
    return done / wall, cpu / done * 1e6


async def _round(contenders: dict[str, Any], statements: int) -> dict[str, dict[int, tuple[float, float]]]:
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for name, opener in contenders.items():
        call, close = await opener()
        try:
            out[name] = {c: await _measure(call, statements, c) for c in CONCURRENCY}
        finally:
            await close()
    return out


def _available() -> dict[str, Any]:
    contenders: dict[str, Any] = {"threads": _threads}
    for module in ("aiomysql", "asyncmy"):
        try:
            __import__(module)
        except ImportError:
            print(f"note: {module} not installed (pip install -e '.[bench]'): skipped")
            continue
        contenders[module] = lambda module=module: _pool(module)
    contenders["ours"] = _ours
    return contenders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--statements", type=int, default=4000)
    args = parser.parse_args()
    contenders = _available()
    rounds = [asyncio.run(_round(contenders, args.statements)) for _ in range(args.rounds)]
    print(f"MySQL/MariaDB at {urlsplit(URL).hostname}, SELECT 1, median of {args.rounds} rounds")
    print(f"{'contender':10} {'in flight':>9} {'stmts/s':>9} {'CPU µs':>8} {'÷ threads':>10}")
    results: dict[str, Any] = {}
    for name in contenders:
        for c in CONCURRENCY:
            rate = statistics.median(r[name][c][0] for r in rounds)
            cpu = statistics.median(r[name][c][1] for r in rounds)
            ratio = statistics.median(r[name][c][0] / r["threads"][c][0] for r in rounds)
            results[f"{name}/{c}"] = {"rate_per_s": rate, "cpu_us": cpu, "ratio_to_threads": ratio}
            print(f"{name:10} {c:>9} {rate:>9.0f} {cpu:>8.1f} {ratio:>9.2f}x")
    out = Path(__file__).parent / "results" / "mysql_async.json"
    out.parent.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    out.write_text(
        json.dumps({"when": stamp, "url_host": urlsplit(URL).hostname, "results": results}, indent=2)
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
