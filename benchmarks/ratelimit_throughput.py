"""Rate-limit decision throughput: ours against throttled-py, limits and pyrate-limiter, in ONE run.

    python benchmarks/ratelimit_throughput.py            # ~1.5 min: 0.15 s per measurement, median of 5 rounds
    python benchmarks/ratelimit_throughput.py --quick    # ~20 s: 0.06 s per measurement, median of 2 rounds
    python benchmarks/ratelimit_throughput.py --seconds 1 --rounds 5 --only ours,throttled-py

What is measured: decisions per second on ONE thread, one key, each decision a non-blocking try-acquire that
consumes on success. Every contender is called through the same one-line wrapper ``hit(key) -> bool`` (so each
pays the same extra Python call):

* ``ours``      ``sessions.ratelimit.Limiter(params, storage).try_acquire(key).allowed`` — the public API;
* ``ours-raw``  ``storage.apply(key, params, 1, "try").allowed`` — the storage alone, for reference;
* peers       see ``benchmarks/_peers_ratelimit.py`` (throttled-py: 5 algorithms, memory + Redis; limits: moving
                window, fixed window, sliding-window counter, memory + Redis via ``storage_from_string``;
                pyrate-limiter: SlidingWindowLog, FixedWindow, TokenBucket, GCRA, in-memory + Redis buckets);
* floors      a bare redis-py ``EVALSHA`` of ``return 1`` (no keys), and of a script shaped like ours (2 keys,
                6 arguments, returns a 5-integer array) — one round trip is the most a Redis decision can cost.

Two regimes, same run: **admitting** (limit 10^9 per 60 s: every decision is admitted; GCRA's emission interval
is 60 ns) and **denying** (limit 1 per 60 s, exhausted before timing: every decision is a denial). Each
repetition starts on a fresh key, so a log-based algorithm holds at most that repetition's admissions.

Fairness: each round measures every cell once; the cells of one (regime, algorithm, backend) group run back to
back — with the trivial EVALSHA measured again inside every Redis group — and the order rotates between rounds.
Rates are medians over rounds; ratios are medians of per-round ratios between neighbours in time.
Besides wall-clock decisions/s, each cell reports CPU µs per decision — this process's ``process_time`` plus, for
Redis cells, the server's own CPU (``INFO cpu``): on a shared 2-core VM other processes steal time and move
wall-clock rates by 2x between cells, while CPU per decision stays steady. Ratios are given for both.
Redis: a temporary ``redis-server`` (``sessions.backends.TemporaryRedisServer``) on a free loopback TCP port,
shared by everyone and stopped at exit — never the one on 6379. SQLite: a file in a temporary directory.

Targets (issue 3), checked in both regimes: memory >= 3x throttled-py on every algorithm; Redis >= 0.9x the bare
EVALSHA round trip, and never slower than throttled-py (whose Redis fixed window is a single INCR-and-expire script,
itself ~0.95x the bare round trip, so no Redis limiter can be much more than 1.2x it).
Results: ``benchmarks/results/ratelimit_throughput.json``.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

from benchmarks._peers_ratelimit import PEERS, Contender, machine_info, make_peer, peer_algorithms  # noqa: E402
from sessions.backends import TemporaryRedisServer  # noqa: E402
from sessions.ratelimit import (  # noqa: E402
    GCRA,
    AlgorithmParams,
    FixedWindow,
    LeakyBucket,
    Limiter,
    MemoryStorage,
    SlidingWindow,
    SQLiteStorage,
    Storage,
    TokenBucket,
)
from sessions.ratelimit._redis import RedisStorage  # noqa: E402

ALGORITHMS = ("slidingwindow", "fixedwindow", "tokenbucket", "leakybucket", "gcra", "slidingcounter")
OUR_BACKENDS = ("memory", "sqlite", "redis")
PEER_BACKENDS = ("memory", "redis")
REGIMES = {"admit": (10**9, 60), "deny": (1, 60)}  # (limit, period seconds)
TARGET_MEMORY_VS_THROTTLED = 3.0
TARGET_REDIS_VS_THROTTLED = 1.0
TARGET_REDIS_VS_EVALSHA = 0.9
RESULTS = os.path.join(_ROOT, "benchmarks", "results", "ratelimit_throughput.json")


def our_params(algorithm: str, limit: int, period: int) -> AlgorithmParams:
    """Our parameters for ``limit`` per ``period``: windows, GCRA (burst 1), buckets of capacity ``limit``."""
    if algorithm == "slidingwindow":
        return SlidingWindow(limit=limit, window=period)
    if algorithm == "fixedwindow":
        return FixedWindow(limit=limit, window=period)
    if algorithm == "gcra":
        return GCRA(limit=limit, period=period)
    if algorithm == "tokenbucket":
        return TokenBucket(capacity=limit, fill_rate=limit / period)
    return LeakyBucket(capacity=limit, leak_rate=limit / period)


@dataclass
class Cell:
    """One measured line: a contender in one regime, with its per-round rates."""

    library: str  # "ours", "ours-raw", a peer, or "redis-py"
    algorithm: str
    backend: str
    native: str
    regime: str
    contender: Contender
    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # CPU µs per decision: this process (+ redis-server)
    admitted_share: list[float] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.library}|{self.algorithm}|{self.backend}|{self.native}|{self.regime}"

    @property
    def median(self) -> float:
        return statistics.median(self.rates) if self.rates else float("nan")

    @property
    def median_cpu_us(self) -> float:
        return statistics.median(self.cpu_us) if self.cpu_us else float("nan")


def build_cells(
    only: set[str], storages: dict[str, Storage], redis_url: str, regimes: list[str]
) -> tuple[list[Cell], list[Callable[[], None]]]:
    """Every contender × regime to measure, and the cleanups to run at the end."""
    cells: list[Cell] = []
    cleanups: list[Callable[[], None]] = []
    for regime in regimes:
        limit, period = REGIMES[regime]
        for algorithm in ALGORITHMS[:5]:
            params = our_params(algorithm, limit, period)
            for backend in OUR_BACKENDS:
                storage = storages.get(backend)
                if storage is None:
                    continue
                if "ours" in only:
                    limiter = Limiter(params, storage)
                    cells.append(
                        Cell(
                            "ours", algorithm, backend, algorithm, regime, _ours(limiter, backend, algorithm)
                        )
                    )
                if "ours-raw" in only and regime == "admit":
                    cells.append(
                        Cell(
                            "ours-raw",
                            algorithm,
                            backend,
                            algorithm,
                            regime,
                            _raw(storage, params, algorithm),
                        )
                    )
        for library in PEERS:
            if library not in only:
                continue
            for algorithm in peer_algorithms(library):
                for backend in PEER_BACKENDS:
                    if backend == "redis" and "redis" not in storages:
                        continue
                    tag = f"{regime}-{algorithm}-{backend}"
                    contender = make_peer(library, algorithm, backend, limit, period, redis_url, tag)
                    cleanups.append(contender.close)
                    cells.append(Cell(library, algorithm, backend, contender.native, regime, contender))
    if "floor" in only and "redis" in storages:
        floors = _evalsha_floors(redis_url, cleanups)
        for name, contender in floors.items():
            cells.append(Cell("redis-py", "floor", "redis", name, "admit", contender))
        # The trivial round trip again inside every Redis group, so each ratio compares neighbours in time.
        for regime, algorithm in {(c.regime, c.algorithm) for c in cells if c.backend == "redis"} - {
            ("admit", "floor")
        }:
            name = "EVALSHA return 1"
            cells.append(Cell("redis-py", algorithm, "redis", name, regime, floors[name]))
    return cells, cleanups


def _ours(limiter: Limiter, backend: str, algorithm: str) -> Contender:
    try_acquire = limiter.try_acquire

    def hit(key: str) -> bool:
        return try_acquire(key).allowed

    return Contender("ours", algorithm, backend, algorithm, hit)


def _raw(storage: Storage, params: AlgorithmParams, algorithm: str) -> Contender:
    apply = storage.apply

    def hit(key: str) -> bool:
        return apply(key, params, 1, "try").allowed

    return Contender("ours-raw", algorithm, storage.name, algorithm, hit)


_SHAPED = "return {1, 0, 0, tonumber(ARGV[3]), 0}"


def _evalsha_floors(url: str, cleanups: list[Callable[[], None]]) -> dict[str, Contender]:
    """Bare redis-py EVALSHA round trips: the least a one-script decision can cost."""
    import redis

    client = redis.Redis.from_url(url)
    cleanups.append(client.close)
    trivial, shaped = client.script_load("return 1"), client.script_load(_SHAPED)
    evalsha = client.evalsha

    def bare(key: str) -> bool:
        return bool(evalsha(trivial, 0))

    def shaped_call(key: str) -> bool:
        return bool(evalsha(shaped, 2, "{b}:s:" + key, "{b}:p:" + key, "", "d", "1", "0", "1000", "60000000"))

    return {
        "EVALSHA return 1": Contender("redis-py", "floor", "redis", "EVALSHA return 1", bare),
        "EVALSHA 2 keys 6 args": Contender(
            "redis-py", "floor", "redis", "EVALSHA 2 keys 6 args", shaped_call
        ),
    }


def server_cpu(client: Any) -> float:
    """redis-server's own CPU seconds so far (``INFO cpu``: getrusage, µs resolution)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(cell: Cell, key: str, seconds: float, server_client: Any = None) -> None:
    """Time ``hit(key)`` for about ``seconds``; append decisions/s, CPU per decision and the admitted share.

    CPU is this process's (``time.process_time``) plus, for Redis cells, the server's: on a shared machine other
    processes steal time and move wall-clock rates, while CPU per decision stays steady.
    """
    hit = cell.contender.hit
    cell.contender.reset()
    if cell.regime == "deny":
        for _ in range(5):  # exhaust the limit of 1
            hit(key)
    else:
        for _ in range(20):  # warm-up (connections, script caches, compiled specs)
            hit(key)
    batch = 200 if cell.backend == "memory" else 20
    gc.collect()
    redis_cell = cell.backend == "redis" and server_client is not None
    server_before = server_cpu(server_client) if redis_cell else 0.0
    count = 0
    cpu_start = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            hit(key)
        count += batch
        now = time.perf_counter()
        if now >= deadline:
            break
    cpu = time.process_time() - cpu_start
    if redis_cell:
        cpu += server_cpu(server_client) - server_before
    cell.rates.append(count / (now - start))
    cell.cpu_us.append(cpu / count * 1e6)
    sample = 50
    cell.admitted_share.append(sum(hit(key) for _ in range(sample)) / sample)


def run(cells: list[Cell], rounds: int, seconds: float, server_client: Any) -> None:
    """Every cell once per round. Cells of one (regime, algorithm, backend) group run back to back, so the ratios
    between them (taken per round, then the median) compare neighbours in time; groups and the order inside each
    group rotate between rounds."""
    groups: dict[tuple[str, str, str], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.regime, cell.algorithm, cell.backend), []).append(cell)
    ordered = list(groups.values())
    for r in range(rounds):
        shift = r * len(ordered) // rounds
        for g, group in enumerate(ordered[shift:] + ordered[:shift]):
            inner = r % len(group)
            for i, cell in enumerate(group[inner:] + group[:inner]):
                measure(cell, f"bench-r{r}-g{g}-{i}", seconds, server_client)
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr)


def _paired(a: list[float], b: list[float], invert: bool = False) -> float | None:
    """Median over rounds of a[r] / b[r] (or b[r] / a[r]): ratios of neighbours in time."""
    if not a or not b or len(a) != len(b):
        return None
    return statistics.median((y / x) if invert else (x / y) for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------------------------------------ report
def _fmt(rate: float | None) -> str:
    if rate is None or rate != rate:
        return "-"
    if rate >= 1e6:
        return f"{rate / 1e6:.2f}M"
    return f"{rate / 1e3:.1f}k"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def summarise(cells: list[Cell]) -> dict[str, Any]:
    """Per (algorithm, backend, regime): every contender's median, and paired ratios to throttled-py and EVALSHA."""
    groups: dict[tuple[str, str, str], dict[str, Cell]] = {}
    floors = {c.native: c.median for c in cells if c.algorithm == "floor"}
    floors_cpu = {c.native: c.median_cpu_us for c in cells if c.algorithm == "floor"}
    for c in cells:
        if c.algorithm == "floor":
            continue
        name = c.library if c.library.startswith(("ours", "redis-py")) else f"{c.library} ({c.native})"
        groups.setdefault((c.algorithm, c.backend, c.regime), {})[name] = c
    rows = []
    for (algorithm, backend, regime), members in sorted(
        groups.items(), key=lambda kv: (kv[0][2], ALGORITHMS.index(kv[0][0]), kv[0][1])
    ):
        ours = members.get("ours")
        throttled = next((c for k, c in members.items() if k.startswith("throttled-py")), None)
        floor = members.pop("redis-py", None)
        row: dict[str, Any] = {
            "algorithm": algorithm,
            "backend": backend,
            "regime": regime,
            "rates": {k: c.median for k, c in members.items()},
            "cpu_us": {k: c.median_cpu_us for k, c in members.items()},
            "ours_vs_throttled": _paired(ours.rates, throttled.rates) if ours and throttled else None,
            "ours_vs_throttled_cpu": _paired(ours.cpu_us, throttled.cpu_us, invert=True)
            if ours and throttled
            else None,
        }
        if ours and floor:
            row["evalsha_in_group"] = floor.median
            row["ours_vs_evalsha"] = _paired(ours.rates, floor.rates)
            row["ours_vs_evalsha_cpu"] = _paired(ours.cpu_us, floor.cpu_us, invert=True)
        rows.append(row)
    return {"rows": rows, "floors": floors, "floors_cpu_us": floors_cpu}


def print_tables(summary: dict[str, Any]) -> list[str]:
    """The tables (wall-clock rates, then CPU per decision); returns the list of missed targets."""
    floors, floors_cpu = summary["floors"], summary["floors_cpu_us"]
    missed: list[str] = []
    for regime in REGIMES:
        rows = [r for r in summary["rows"] if r["regime"] == regime]
        if not rows:
            continue
        limit, period = REGIMES[regime]
        print(f"\n== decisions/s (wall clock), one thread, {regime} regime (limit {limit} per {period} s) ==")
        _print_rows(rows, "rates", _fmt, "ours_vs_throttled", "ours_vs_evalsha")
        print(f"\n== CPU us per decision (this process + redis-server for Redis), {regime} regime ==")
        print("   ratios from CPU: throttled-py CPU / ours CPU; EVALSHA CPU / ours CPU (higher is better)")
        _print_rows(
            rows,
            "cpu_us",
            lambda v: "-" if v is None or v != v else f"{v:.2f}",
            "ours_vs_throttled_cpu",
            "ours_vs_evalsha_cpu",
        )
        for r in rows:
            ratio = r["ours_vs_throttled"]
            if ratio is not None:
                target = TARGET_MEMORY_VS_THROTTLED if r["backend"] == "memory" else TARGET_REDIS_VS_THROTTLED
                if ratio < target:
                    missed.append(
                        f"{regime} {r['algorithm']}/{r['backend']}: ours/throttled-py {ratio:.2f}x < {target}x"
                    )
            if r.get("ours_vs_evalsha") and r["ours_vs_evalsha"] < TARGET_REDIS_VS_EVALSHA:
                missed.append(
                    f"{regime} {r['algorithm']}/redis: ours/EVALSHA {r['ours_vs_evalsha']:.2f}x"
                    f" < {TARGET_REDIS_VS_EVALSHA}x"
                )
    if floors:
        print(
            "\nRedis floors (bare redis-py, same server): "
            + ", ".join(f"{k} {_fmt(v)}/s ({floors_cpu[k]:.1f} us CPU)" for k, v in floors.items())
        )
    print(
        "limits = moving window (slidingwindow rows) and fixed window; 'slidingcounter' rows are limits' approximating "
        "sliding-window counter (throttled-py's sliding_window is such a counter too)."
    )
    return missed


def _print_rows(
    rows: list[dict[str, Any]], field_name: str, fmt: Callable[[Any], str], vs_peer: str, vs_floor: str
) -> None:
    head = (
        f"{'algorithm':<15}{'backend':<8}{'ours':>9}{'ours-raw':>10}{'throttled':>11}{'ours/thr':>10}"
        f"{'limits':>9}{'pyrate':>9}{'ours/EVALSHA':>14}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        values = r[field_name]

        def peer(lib: str, values: dict[str, float] = values) -> float | None:
            return next((v for k, v in values.items() if k.startswith(lib)), None)

        ratio = f"{r[vs_peer]:.2f}x" if r.get(vs_peer) else "-"
        floor = f"{r[vs_floor]:.2f}x" if r.get(vs_floor) else ""
        print(
            f"{r['algorithm']:<15}{r['backend']:<8}{fmt(values.get('ours')):>9}{fmt(values.get('ours-raw')):>10}"
            f"{fmt(peer('throttled-py')):>11}{ratio:>10}{fmt(peer('limits')):>9}{fmt(peer('pyrate-limiter')):>9}"
            f"{floor:>14}"
        )


def start_redis() -> TemporaryRedisServer:
    """A private redis-server on a free loopback port (stopped by ``close()`` or at exit)."""
    return TemporaryRedisServer(unix_socket=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~20 s: 0.06 s per measurement, 2 rounds")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement (default 0.15)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds, median reported (default 5)")
    parser.add_argument(
        "--only",
        default="ours,ours-raw,throttled-py,limits,pyrate-limiter,floor",
        help="comma-separated contenders (ours, ours-raw, throttled-py, limits, pyrate-limiter, floor)",
    )
    parser.add_argument("--regimes", default="admit,deny", help="admit, deny or both")
    parser.add_argument("--no-redis", action="store_true", help="skip every Redis measurement")
    parser.add_argument("--no-sqlite", action="store_true", help="skip our SQLite storage")
    parser.add_argument("--output", default=RESULTS, help="JSON results path ('' to skip writing)")
    args = parser.parse_args(argv)
    seconds = args.seconds or (0.06 if args.quick else 0.15)
    rounds = args.rounds or (2 if args.quick else 5)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    regimes = [s.strip() for s in args.regimes.split(",") if s.strip()]

    started = time.perf_counter()
    server = None if args.no_redis else start_redis()
    tmp = tempfile.TemporaryDirectory(prefix="rl-bench-")
    storages: dict[str, Storage] = {"memory": MemoryStorage()}
    if not args.no_sqlite:
        storages["sqlite"] = SQLiteStorage(db=os.path.join(tmp.name, "ratelimit.sqlite"))
    if server is not None:
        storages["redis"] = RedisStorage(url=server.url, prefix="bench")
    cleanups: list[Callable[[], None]] = []
    try:
        cells, cleanups = build_cells(only, storages, server.url if server else "", regimes)
        print(
            f"{len(cells)} cells x {rounds} rounds x {seconds} s"
            + (f"; redis-server at {server.url}" if server else ""),
            file=sys.stderr,
        )
        server_client = None
        if server is not None:
            import redis

            server_client = redis.Redis.from_url(server.url)
            cleanups.append(server_client.close)
        run(cells, rounds, seconds, server_client)
        summary = summarise(cells)
        missed = print_tables(summary)
        suspicious = [
            f"{c.key}: admitted share {min(c.admitted_share):.2f}"
            for c in cells
            if c.library != "redis-py"
            and c.admitted_share
            and (
                (c.regime == "admit" and min(c.admitted_share) < 0.99)
                or (c.regime == "deny" and max(c.admitted_share) > 0)
            )
        ]
        for line in suspicious:
            print(f"WARNING regime not as intended: {line}")
        print("\ntargets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
        elapsed = time.perf_counter() - started
        print(f"elapsed {elapsed:.0f} s")
        if args.output:
            os.makedirs(os.path.dirname(args.output), exist_ok=True)
            result = {
                "benchmark": "ratelimit_throughput",
                "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
                "machine": machine_info(),
                "settings": {
                    "seconds": seconds,
                    "rounds": rounds,
                    "regimes": {r: REGIMES[r] for r in regimes},
                },
                "cells": [
                    {
                        "library": c.library,
                        "algorithm": c.algorithm,
                        "backend": c.backend,
                        "native": c.native,
                        "regime": c.regime,
                        "decisions_per_s": c.median,
                        "cpu_us_per_decision": c.median_cpu_us,
                        "rounds": c.rates,
                        "rounds_cpu_us": c.cpu_us,
                        "admitted_share": c.admitted_share,
                    }
                    for c in cells
                ],
                "summary": summary,
                "targets_missed": missed,
                "warnings": suspicious,
                "elapsed_s": elapsed,
            }
            with open(args.output, "w", encoding="utf-8") as fh:
                json.dump(result, fh, indent=1)
            print(f"results: {os.path.relpath(args.output)}")
    finally:
        for cleanup in cleanups:
            try:
                cleanup()
            except Exception as exc:  # a peer failing to close must not leave the server running
                print(f"cleanup: {exc!r}", file=sys.stderr)
        for storage in storages.values():
            storage.close()
        if server is not None:
            server.close()
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
