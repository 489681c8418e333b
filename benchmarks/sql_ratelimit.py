"""SQL server backends: rate-limit decisions/s against one bare round trip, and cache hits/s against SQLite.

    python benchmarks/sql_ratelimit.py                   # ~1 min: 0.3 s per measurement, median of 5 rounds
    python benchmarks/sql_ratelimit.py --quick           # ~15 s
    python benchmarks/sql_ratelimit.py --servers postgresql --rounds 7

What is measured, on ONE thread, one key, in one run per server:

* ``decision``  ``SQLStorage.apply(key, params, 1, "try")`` — one ``SELECT <function>(…)`` round trip that locks
                the key's row, decides and writes, on the server's clock;
* ``floor``     ``SQLBackend.execute("SELECT 1")`` through the same backend object: the same driver, the same
                pooled connection, the same Python wrapper — one bare round trip of a trivial statement.

Two regimes: **admitting** (limit 10^9 per 60 s: every decision commits a row write) and **denying** (limit 1 per
60 s, exhausted first: the row is locked and read, nothing written). The floor is measured right before every
cell, and the order of the algorithms rotates between rounds; the ratio quoted is the median of per-round
``decisions/s ÷ floor/s``. Target (issue 12): >= 0.8x.

Peer: pyrate-limiter's ``PostgresBucket`` (a row per admission, a table lock per decision) where an algorithm
of ours has its twin — its ``SlidingWindowLog`` and ``FixedWindow`` against our sliding and fixed windows, both
regimes, on the same server in the same run (skipped with a note when ``pyrate-limiter``/``psycopg-pool`` are
not installed: ``pip install -e '.[bench]'``).

Cache: hits/s of ``CacheStorage.get`` on one stored 1 KiB entry, PostgreSQL and MariaDB against the SQLite
storage (a file in a temporary directory) in the same run.

Servers: ``SESSIONS_TEST_POSTGRES_URL`` / ``SESSIONS_TEST_MYSQL_URL`` (defaults: the local test servers). Each
run creates its own PostgreSQL schema / MySQL table prefix and drops exactly those at the end.
Results: ``benchmarks/results/sql_ratelimit.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sessions.backends import open_sql
from sessions.backends._sql import drop_namespace
from sessions.cache._entry import CachedEntry
from sessions.cache.storage._sql import SQLStorage as SQLCache
from sessions.cache.storage._sqlite import SQLiteStorage as SQLiteCache
from sessions.ratelimit import GCRA, FixedWindow, LeakyBucket, SlidingWindow, TokenBucket
from sessions.ratelimit._sql import SQLStorage

URLS = {
    "postgresql": os.environ.get("SESSIONS_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": os.environ.get("SESSIONS_TEST_MYSQL_URL") or "mysql://root@127.0.0.1:3306/test",
}
BIG, SMALL = 10**9, 1


def _params(limit: int) -> dict[str, Any]:
    return {
        "slidingwindow": SlidingWindow(limit=min(limit, 1000), window=60)
        if limit > 1
        else SlidingWindow(limit=1, window=60),
        "fixedwindow": FixedWindow(limit=limit, window=60),
        "tokenbucket": TokenBucket(capacity=limit, fill_rate=limit / 60),
        "leakybucket": LeakyBucket(capacity=limit, leak_rate=limit / 60),
        "gcra": GCRA(limit=limit, period=60),
    }


def _rate(call: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``call`` over about ``seconds``."""
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            call()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def _namespace(dialect: str, run: str) -> str:
    return f"sessions_bench_{run}" if dialect == "postgresql" else f"sb{run}_"


def _isolation(dialect: str, run: str) -> dict[str, str]:
    return {("schema" if dialect == "postgresql" else "table_prefix"): _namespace(dialect, run)}


def _drop(dialect: str, run: str) -> None:
    backend = open_sql(URLS[dialect])
    try:
        drop_namespace(backend, _namespace(dialect, run))
    finally:
        backend.close()


def bench_decisions(dialect: str, run: str, seconds: float, rounds: int) -> dict[str, Any]:
    storage = SQLStorage(db=URLS[dialect], prefix=f"bench-{run}", **_isolation(dialect, run))
    backend = storage.backend
    results: dict[str, Any] = {}
    try:
        for regime, limit in (("admitting", BIG), ("denying", SMALL)):
            params = _params(limit)
            names = list(params)
            rates: dict[str, list[float]] = {n: [] for n in names}
            floors: dict[str, list[float]] = {n: [] for n in names}
            for r in range(rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                for name in order:
                    key = f"{regime}-{name}-{r}"
                    limit_params = params[name]
                    # admitting: the row exists (steady state); denying: exhausted, every timed call denied
                    storage.apply(key, limit_params)
                    floors[name].append(_rate(lambda: backend.execute("SELECT 1"), seconds))
                    decide = partial(storage.apply, key, limit_params)
                    rates[name].append(_rate(decide, seconds))
            results[regime] = {
                name: {
                    "decisions_per_s": statistics.median(rates[name]),
                    "floor_per_s": statistics.median(floors[name]),
                    "ratio": statistics.median(a / b for a, b in zip(rates[name], floors[name], strict=True)),
                }
                for name in names
            }
        storage.clear()
    finally:
        storage.close()
    return results


def bench_pyrate(run: str, ours: dict[str, Any], seconds: float, rounds: int) -> dict[str, Any] | None:
    """pyrate-limiter's PostgresBucket on the same server, in this run's schema; ours ÷ theirs."""
    try:
        import pyrate_limiter as pr
        from psycopg_pool import ConnectionPool
    except ImportError as exc:
        print(f"pyrate-limiter PostgresBucket skipped: {exc}")
        return None
    schema = f"sessions_bench_{run}"
    creator = open_sql(URLS["postgresql"])
    creator.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    creator.close()
    separator = "&" if "?" in URLS["postgresql"] else "?"
    conninfo = f"{URLS['postgresql']}{separator}options=-csearch_path%3D{schema}"
    pool = ConnectionPool(conninfo, min_size=1, max_size=2, open=True)
    results: dict[str, Any] = {}
    try:
        for regime, limit in (("admitting", BIG), ("denying", SMALL)):
            results[regime] = {}
            for ours_name, native in (
                ("slidingwindow", pr.SlidingWindowLog()),
                ("fixedwindow", pr.FixedWindow()),
            ):
                rate = pr.Rate(limit, 60_000)
                bucket = pr.PostgresBucket(pool, f"b_{regime}_{ours_name}", [rate], algorithm=native)
                limiter = pr.Limiter(bucket)
                rates = []
                for _ in range(rounds):
                    bucket.flush()
                    limiter.try_acquire("k", blocking=False)  # denying: exhausted from here on
                    rates.append(_rate(partial(limiter.try_acquire, "k", blocking=False), seconds))
                theirs = statistics.median(rates)
                mine = ours[regime][ours_name]["decisions_per_s"]
                results[regime][ours_name] = {
                    "pyrate_per_s": theirs,
                    "ours_per_s": mine,
                    "ratio": mine / theirs,
                }
                limiter.dispose(bucket)
    finally:
        pool.close()
    return results


def _entry() -> CachedEntry:
    now = time.time()
    return CachedEntry(
        key="v1-bench", method="GET", url="https://example.test/a", status=200,
        headers=[(b"content-type", b"application/json")], content=b"x" * 1024, created_at=now, expires=now + 3600,
    )  # fmt: skip


def bench_cache(dialects: list[str], run: str, seconds: float, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sessions-bench-") as directory:
        stores: dict[str, Any] = {"sqlite": SQLiteCache(namespace="bench", db=Path(directory) / "c.sqlite3")}
        for dialect in dialects:
            stores[dialect] = SQLCache(namespace=f"bench-{run}", db=URLS[dialect], **_isolation(dialect, run))
        try:
            for store in stores.values():
                store.set(_entry(), None)
                assert store.get("v1-bench") is not None
            hits: dict[str, list[float]] = {name: [] for name in stores}
            for _ in range(rounds):
                for name, store in stores.items():
                    hits[name].append(_rate(lambda store=store: store.get("v1-bench"), seconds))
            base = hits["sqlite"]
            return {
                name: {
                    "hits_per_s": statistics.median(values),
                    "vs_sqlite": statistics.median(a / b for a, b in zip(values, base, strict=True)),
                }
                for name, values in hits.items()
            }
        finally:
            for name, store in stores.items():
                if name != "sqlite":
                    store.clear()
                store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="postgresql,mysql")
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="0.1 s per measurement, 3 rounds")
    args = parser.parse_args()
    seconds, rounds = (0.1, 3) if args.quick else (args.seconds, args.rounds)
    dialects = [d.strip() for d in args.servers.split(",") if d.strip()]
    run = uuid.uuid4().hex[:8]
    report: dict[str, Any] = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seconds": seconds,
        "rounds": rounds,
        "decisions": {},
    }
    try:
        for dialect in dialects:
            report["decisions"][dialect] = result = bench_decisions(dialect, run, seconds, rounds)
            for regime, cells in result.items():
                for name, cell in cells.items():
                    print(
                        f"{dialect:10} {regime:9} {name:13} {cell['decisions_per_s']:8.0f} decisions/s"
                        f"   SELECT 1 {cell['floor_per_s']:8.0f}/s   ratio {cell['ratio']:.2f}x"
                    )
        if "postgresql" in dialects:
            report["pyrate_postgres"] = peer = bench_pyrate(
                run, report["decisions"]["postgresql"], seconds, rounds
            )
            for regime, cells in (peer or {}).items():
                for name, cell in cells.items():
                    print(
                        f"vs pyrate  {regime:9} {name:13} ours {cell['ours_per_s']:8.0f}/s   pyrate PostgresBucket "
                        f"{cell['pyrate_per_s']:8.0f}/s   ratio {cell['ratio']:.2f}x"
                    )
        report["cache"] = cache = bench_cache(dialects, run, seconds, rounds)
        for name, cell in cache.items():
            print(f"cache hits {name:10} {cell['hits_per_s']:8.0f}/s   vs SQLite {cell['vs_sqlite']:.2f}x")
    finally:
        for dialect in dialects:
            _drop(dialect, run)
    out = Path(__file__).resolve().parent / "results" / "sql_ratelimit.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
