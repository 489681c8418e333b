"""Rate-limit accuracy: greedy clients against every algorithm x backend — overshoot, utilisation, wake-up lateness.

    python benchmarks/ratelimit_accuracy.py              # ~1.5 min: ours 5 algorithms x 3 backends, 20 per 0.5 s,
                                                         #   10 windows each; peers in parallel at 20 per 1 s
    python benchmarks/ratelimit_accuracy.py --quick      # ~35 s: 0.25 s windows for ours, 5 s for peers
    python benchmarks/ratelimit_accuracy.py --no-peers --backends memory --threads 8 --tasks 8

Ours: for each algorithm x backend (memory, SQLite file, temporary Redis), ``--threads`` threads call
``Limiter.acquire(key)`` and ``--tasks`` asyncio tasks (one event loop in its own thread) call
``AsyncLimiter.acquire(key)`` on ONE shared storage and key, as fast as they can, for ``--windows`` windows.
``acquire`` reserves the earliest slot atomically and sleeps once until it. SQLite runs threads only (its async
twin runs in a worker thread whose clock reading this script cannot attribute to a task).

Exact slot times: every storage takes an injected integer-ns clock; ours wraps ``time.monotonic_ns`` and records
the value the decision used in a ContextVar (per thread, per task), so the reserved slot is ``now + delay``
exactly. Redis therefore runs with that client clock (``clock=``, the documented alternative to server ``TIME``;
the Lua arithmetic is the same).

Measured per cell:

* **max in window** — the largest number of reserved slots in any half-open window of the algorithm's length
  (``fixedwindow``: per aligned window; the any-window maximum, up to 2L, is reported beside it), against the
  algorithm's documented bound: slidingwindow L; fixedwindow L per aligned window; token/leaky bucket
  C + r*W (= 2L for the defaults C = L, r = L/W); gcra burst + L - 1 (= L for the default burst 1).
  **Overshoot** = max - bound; it must be 0. "by wake" is the same count on the times the clients actually woke
  (what a server would see): scheduler jitter can move two wake-ups closer than their slots, so it may exceed the
  bound by one without the limiter having over-admitted.
* **utilisation** — admissions in the first ``windows x W`` after the first admission, over the most the bound
  allows in that span (fixedwindow: over the aligned windows fully inside it). Target >= 99 %.
* **lateness** — wake time - reserved slot time, p50 / p99 / max in ms (target p99 <= 2 ms in memory), over
  every decision but each client's first, which is reported apart ("1st max"): on Redis it opens that client's
  connection and may load the script, milliseconds that say nothing about waking on time.

Peers (``benchmarks/_peers_ratelimit.py``): throttled-py (its ``timeout=`` blocking mode), limits (no blocking
API: the quick-start's ``while not hit(): sleep(0.01)`` loop) and pyrate-limiter (``try_acquire(blocking=True)``),
on memory and Redis, ``--threads`` greedy threads each, admission time = when the call returned. Their periods
must be whole seconds, so they run at ``--peer-limit`` per ``--peer-period`` s (default 20 per 1 s); ours runs at
the same setting on memory alongside them for a like-for-like row. All peer cells run at once, one process each
(they spend their time sleeping), so they add ~``peer-period x windows`` seconds in total. Fixed windows of peers
are checked at the phase that suits them best (their windows may start at the first hit). Lateness is not
defined for a polling client.

Redis: a temporary ``redis-server`` on a free loopback port, stopped at exit (never the one on 6379).
Results: ``benchmarks/results/ratelimit_accuracy.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import concurrent.futures
import contextvars
import datetime
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

from benchmarks._peers_ratelimit import PEERS, machine_info, make_peer, peer_algorithms  # noqa: E402
from sessions.backends import TemporaryRedisServer  # noqa: E402
from sessions.ratelimit import AsyncLimiter, Limiter, MemoryStorage, Rate, SQLiteStorage, Storage  # noqa: E402
from sessions.ratelimit._redis import RedisStorage  # noqa: E402

ALGORITHMS = ("slidingwindow", "fixedwindow", "tokenbucket", "leakybucket", "gcra")
BACKENDS = ("memory", "sqlite", "redis")
NS = 1_000_000_000
RESULTS = os.path.join(_ROOT, "benchmarks", "results", "ratelimit_accuracy.json")
TARGET_UTILISATION = 0.99
TARGET_P99_MS_MEMORY = 2.0


# ------------------------------------------------------------------------------------------------ bounds
@dataclass(frozen=True)
class Bound:
    """What an algorithm promises at ``limit`` per ``window``: its kind and burst/capacity."""

    kind: str  # "sliding", "fixed", "bucket", "gcra", "counter" (an approximating sliding counter)
    limit: int
    window_ns: int
    burst: float = 0.0

    @property
    def per_window(self) -> int:
        """The most admissions the algorithm allows in any window of its length (fixed: per aligned window)."""
        if self.kind == "bucket":
            return math.floor(self.burst + self.limit + 1e-9)
        if self.kind == "gcra":
            return int(self.burst) + self.limit - 1
        return self.limit

    def max_in_span(self, span_ns: int) -> int:
        """The most admissions the algorithm allows in a half-open span, starting from empty state."""
        periods = span_ns / self.window_ns
        if self.kind == "bucket":
            return math.floor(self.burst + 1e-9) + math.ceil(self.limit * periods - 1e-9) - 1
        if self.kind == "gcra":
            return int(self.burst) + math.ceil(self.limit * periods - 1e-9) - 1
        return self.limit * math.ceil(periods - 1e-9)


def bound_for(
    algorithm: str, limit: int, window_s: float, burst: float | None, counter: bool = False
) -> Bound:
    window_ns = round(window_s * NS)
    if counter:
        return Bound("counter", limit, window_ns)
    if algorithm == "slidingwindow":
        return Bound("sliding", limit, window_ns)
    if algorithm == "fixedwindow":
        return Bound("fixed", limit, window_ns)
    if algorithm in ("tokenbucket", "leakybucket"):
        return Bound("bucket", limit, window_ns, float(burst if burst is not None else limit))
    return Bound("gcra", limit, window_ns, float(burst if burst is not None else 1))


def max_in_any_window(times: list[int], width: int) -> int:
    """Largest number of ``times`` (sorted) in any half-open window ``[t, t + width)``."""
    best, j = 0, 0
    for i, t in enumerate(times):
        j = max(j, i)
        while j < len(times) and times[j] < t + width:
            j += 1
        best = max(best, j - i)
    return best


def max_per_fixed_window(times: list[int], width: int, phase: int) -> int:
    """Largest count in windows ``[phase + kW, phase + (k+1)W)``."""
    counts: dict[int, int] = {}
    for t in times:
        k = (t - phase) // width
        counts[k] = counts.get(k, 0) + 1
    return max(counts.values(), default=0)


def best_phase(times: list[int], width: int) -> int:
    """The window phase under which the largest per-window count is smallest (for peers whose windows start at
    an unknown instant); candidates are the admission times themselves."""
    candidates = sorted({t % width for t in times})
    return min(candidates, key=lambda p: max_per_fixed_window(times, width, p), default=0)


def analyse(
    slots: list[int], bound: Bound, windows: int, aligned: bool, wakes: list[int] | None = None
) -> dict[str, Any]:
    """Overshoot and utilisation of one run's admission times (ns, any origin; sorted here)."""
    slots = sorted(slots)
    if not slots:
        return {
            "admitted": 0,
            "bound": bound.per_window,
            "max_any_window": 0,
            "max_in_window": 0,
            "overshoot": 0,
            "utilisation": None,
        }
    width = bound.window_ns
    span = windows * width
    t0 = slots[0]
    any_window = max_in_any_window(slots, width)
    out: dict[str, Any] = {"admitted": len(slots), "bound": bound.per_window, "max_any_window": any_window}
    if bound.kind == "fixed":
        phase = 0 if aligned else best_phase(slots, width)
        worst = max_per_fixed_window(slots, width, phase)
        first = phase + -(-(t0 - phase) // width) * width  # first window boundary at or after t0
        full = (t0 + span - first) // width
        inside = bisect.bisect_left(slots, first + full * width) - bisect.bisect_left(slots, first)
        allowed = full * bound.limit
        out.update(max_in_window=worst, span_windows=full)
    else:
        worst = any_window
        inside = bisect.bisect_left(slots, t0 + span)
        allowed = bound.max_in_span(span)
    out.update(
        overshoot=max(0, worst - bound.per_window),
        max_in_window=worst,
        in_span=inside,
        span_max=allowed,
        utilisation=inside / allowed if allowed else None,
    )
    if wakes is not None:
        woken = sorted(wakes)
        if bound.kind == "fixed":
            out["max_by_wake"] = max_per_fixed_window(
                woken, width, 0 if aligned else best_phase(woken, width)
            )
        else:
            out["max_by_wake"] = max_in_any_window(woken, width)
    return out


def lateness_ms(pairs: list[tuple[int, int]]) -> dict[str, float]:
    late = sorted((wake - slot) / 1e6 for slot, wake in pairs)
    if not late:
        return {}
    return {
        "p50": statistics.median(late),
        "p99": late[min(len(late) - 1, math.ceil(0.99 * len(late)) - 1)],
        "max": late[-1],
        "min": late[0],
    }


class SleepProbe:
    """A bare ``time.sleep(5 ms)`` loop in its own thread while a cell runs: how late the machine itself wakes a
    sleeper at that moment, under that load (hypervisor steal, timer slack, GIL hand-offs). A limiter that sleeps
    once per slot can only add to this floor; its lateness is judged against it in the same cell."""

    DELAY = 0.005

    def __init__(self) -> None:
        self.pairs: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        delay_ns = round(self.DELAY * NS)
        while not self._stop.is_set():
            deadline = time.monotonic_ns() + delay_ns
            time.sleep(self.DELAY)
            self.pairs.append((deadline, time.monotonic_ns()))

    def __enter__(self) -> SleepProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------------------------ ours
_NOW: contextvars.ContextVar[int] = contextvars.ContextVar("decision_now", default=0)


def recording_clock() -> int:
    """``time.monotonic_ns`` that remembers, per thread / per task, the value the last decision used."""
    now = time.monotonic_ns()
    _NOW.set(now)
    return now


def open_storage(backend: str, redis_url: str | None, tmpdir: str, tag: str) -> Storage:
    if backend == "memory":
        return MemoryStorage(clock=recording_clock)
    if backend == "sqlite":
        return SQLiteStorage(db=os.path.join(tmpdir, f"{tag}.sqlite"), clock=recording_clock)
    return RedisStorage(url=redis_url, prefix=f"acc-{tag}", clock=recording_clock)


def run_ours(
    algorithm: str,
    backend: str,
    limit: int,
    window: float,
    windows: int,
    threads: int,
    tasks: int,
    redis_url: str | None,
    tmpdir: str,
) -> dict[str, Any]:
    """Greedy threads (+ asyncio tasks) on one key for ``windows`` windows; analysed admission records."""
    params = Rate(limit, window).params(algorithm)
    tag = f"{algorithm}-{backend}-{limit}-{window}".replace(".", "_")
    storage = open_storage(backend, redis_url, tmpdir, tag)
    unit = 1000 if backend == "redis" else 1  # ns per storage tick (Redis decides in µs)
    key = f"acc:{tag}"
    if backend == "sqlite":
        tasks = 0
    # (slot_ns, wake_ns, "thread" | "task" | "first"): a client's first decision is kept apart for lateness —
    # on Redis it opens the client's connection (and may load the script), a one-off of milliseconds.
    records: list[tuple[int, int, str]] = []
    lock = threading.Lock()
    clients = threads + (1 if tasks else 0)
    barrier = threading.Barrier(clients + 1)
    stop: list[int] = [0]

    def slot_of(delay: float) -> int:
        now = _NOW.get() // unit
        return (now + round(delay * NS / unit)) * unit

    errors: list[str] = []

    def thread_client() -> None:
        limiter = Limiter(params, storage)
        local: list[tuple[int, int, str]] = []
        barrier.wait()
        try:
            while True:
                decision = limiter.acquire(key)
                wake = time.monotonic_ns()
                slot = slot_of(decision.delay)
                local.append((slot, wake, "thread" if local else "first"))
                if slot >= stop[0]:
                    break
        except Exception as exc:  # reported in the results; the other clients go on
            errors.append(repr(exc))
        with lock:
            records.extend(local)

    async def task_client(limiter: AsyncLimiter, local: list[tuple[int, int, str]]) -> None:
        kind = "first"
        while True:
            decision = await limiter.acquire(key)
            wake = time.monotonic_ns()
            slot = slot_of(decision.delay)
            local.append((slot, wake, kind))
            kind = "task"
            if slot >= stop[0]:
                break

    async def tasks_main() -> None:
        limiter = AsyncLimiter(params, storage)
        local: list[tuple[int, int, str]] = []
        barrier.wait()
        outcomes = await asyncio.gather(
            *(task_client(limiter, local) for _ in range(tasks)), return_exceptions=True
        )
        errors.extend(repr(o) for o in outcomes if isinstance(o, BaseException))
        with lock:
            records.extend(local)

    workers = [threading.Thread(target=thread_client) for _ in range(threads)]
    if tasks:
        workers.append(threading.Thread(target=asyncio.run, args=(tasks_main(),)))
    with SleepProbe() as probe:
        for w in workers:
            w.start()
        start = time.monotonic_ns()
        stop[0] = start + windows * round(window * NS) + 1_000_000  # first slot is at >= start
        barrier.wait()
        for w in workers:
            w.join()
    storage.close()
    bound = bound_for(algorithm, limit, window, getattr(params, "burst", getattr(params, "capacity", None)))
    slots = [s for s, _, _ in records]
    wakes = [w for _, w, _ in records]
    result = analyse(slots, bound, windows, aligned=True, wakes=wakes)
    result["errors"] = errors
    result["lateness_ms"] = lateness_ms([(s, w) for s, w, k in records if k != "first"])
    result["lateness_ms_first"] = lateness_ms([(s, w) for s, w, k in records if k == "first"])
    result["lateness_ms_threads"] = lateness_ms([(s, w) for s, w, k in records if k == "thread"])
    if tasks:
        result["lateness_ms_tasks"] = lateness_ms([(s, w) for s, w, k in records if k == "task"])
    result["lateness_ms_floor"] = lateness_ms(probe.pairs)
    result.update(
        library="ours",
        algorithm=algorithm,
        backend=backend,
        limit=limit,
        window=window,
        threads=threads,
        tasks=tasks,
        bound_kind=bound.kind,
    )
    return result


# ------------------------------------------------------------------------------------------------ peers
def run_peer(
    library: str,
    algorithm: str,
    backend: str,
    limit: int,
    period: int,
    windows: int,
    threads: int,
    redis_url: str | None,
) -> dict[str, Any]:
    """Greedy threads through a peer's blocking / polling API; runs in its own process."""
    contender = make_peer(library, algorithm, backend, limit, period, redis_url, f"acc-{algorithm}-{backend}")
    key = f"acc-{library}-{algorithm}-{backend}-{os.getpid()}"
    assert contender.wait is not None
    times: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)
    stop = [0]

    def client() -> None:
        local = []
        barrier.wait()
        while True:
            contender.wait(key)
            now = time.monotonic_ns()
            local.append(now)
            if now >= stop[0]:
                break
        with lock:
            times.extend(local)

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    stop[0] = time.monotonic_ns() + windows * period * NS + 1_000_000
    barrier.wait()
    for w in workers:
        w.join()
    contender.close()
    if algorithm == "slidingcounter":
        bound = bound_for("slidingwindow", limit, period, None, counter=True)
    elif algorithm == "slidingwindow" and library == "throttled-py":
        bound = bound_for(algorithm, limit, period, None, counter=True)  # a two-window counter, not a log
    else:
        bound = bound_for(algorithm, limit, period, contender.burst)
    result = analyse(times, bound, windows, aligned=False)
    result.update(
        library=library,
        algorithm=algorithm,
        native=contender.native,
        backend=backend,
        limit=limit,
        window=period,
        threads=threads,
        tasks=0,
        bound_kind=bound.kind,
    )
    return result


def _ours_in_pool(algorithm: str, limit: int, period: int, windows: int, threads: int) -> dict[str, Any]:
    """Ours on memory at the peers' setting, threads only, inside the peers' process pool (like-for-like)."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run_ours(algorithm, "memory", limit, period, windows, threads, 0, None, tmp)
    result["library"] = "ours (peers' setting)"
    return result


def run_peers(args: argparse.Namespace, redis_url: str | None) -> list[dict[str, Any]]:
    """Every peer cell (and ours on memory at the same setting) at once, one process each."""
    jobs: list[tuple[Any, tuple[Any, ...]]] = []
    backends = [b for b in ("memory", "redis") if b in args.backends and (b != "redis" or redis_url)]
    windows = args.peer_windows
    for library in PEERS:
        for algorithm in peer_algorithms(library):
            for backend in backends:
                jobs.append(
                    (
                        run_peer,
                        (
                            library,
                            algorithm,
                            backend,
                            args.peer_limit,
                            args.peer_period,
                            windows,
                            args.threads,
                            redis_url,
                        ),
                    )
                )
    for algorithm in ALGORITHMS:
        jobs.append((_ours_in_pool, (algorithm, args.peer_limit, args.peer_period, windows, args.threads)))
    context = multiprocessing.get_context("fork")
    results = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
        futures = [pool.submit(fn, *fn_args) for fn, fn_args in jobs]
        for future in futures:
            try:
                results.append(future.result(timeout=windows * args.peer_period * 6 + 60))
            except Exception as exc:  # report a peer that fails; keep the others
                results.append({"error": repr(exc)})
    return results


# ------------------------------------------------------------------------------------------------ report
def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def print_ours(rows: list[dict[str, Any]]) -> list[str]:
    head = (
        f"{'algorithm':<14}{'backend':<8}{'clients':>8}{'admitted':>9}{'max/W':>7}{'bound':>6}{'over':>5}"
        f"{'by wake':>8}{'any W':>6}{'util':>8}{'late p50':>9}{'p99':>7}{'max':>7}{'task p99':>9}{'floor p99':>10}"
        f"{'1st max':>8}"
    )
    print(head)
    print("-" * len(head))
    missed = []
    for r in rows:
        late = r.get("lateness_ms", {})
        tasks = r.get("lateness_ms_tasks", {})
        clients = f"{r['threads']}t+{r['tasks']}a" if r["tasks"] else f"{r['threads']}t"
        task_p99 = f"{tasks['p99']:.3f}" if tasks else "-"
        floor = r.get("lateness_ms_floor", {})
        print(
            f"{r['algorithm']:<14}{r['backend']:<8}{clients:>8}{r['admitted']:>9}{r['max_in_window']:>7}"
            f"{r['bound']:>6}{r['overshoot']:>5}{r.get('max_by_wake', '-'):>8}{r['max_any_window']:>6}"
            f"{_pct(r['utilisation']):>8}{late.get('p50', 0):>9.3f}{late.get('p99', 0):>7.3f}"
            f"{late.get('max', 0):>7.2f}{task_p99:>9}{floor.get('p99', 0):>10.3f}"
            f"{r.get('lateness_ms_first', {}).get('max', 0):>8.2f}"
        )
        name = f"{r['algorithm']}/{r['backend']}"
        if r.get("errors"):
            missed.append(f"{name}: {len(r['errors'])} client(s) failed: {r['errors'][0]}")
        if r["overshoot"]:
            missed.append(f"{name}: overshoot {r['overshoot']}")
        if r["utilisation"] is not None and r["utilisation"] < TARGET_UTILISATION:
            missed.append(f"{name}: utilisation {_pct(r['utilisation'])} < {_pct(TARGET_UTILISATION)}")
        if r["backend"] == "memory" and late.get("p99", 0) > TARGET_P99_MS_MEMORY:
            missed.append(f"{name}: lateness p99 {late['p99']:.2f} ms > {TARGET_P99_MS_MEMORY} ms")
    return missed


def print_peers(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'library':<23}{'algorithm (native)':<40}{'backend':<8}{'admitted':>9}{'max/W':>7}{'bound':>6}"
        f"{'over':>5}{'any W':>6}{'util':>8}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"  FAILED: {r['error']}")
            continue
        algo = f"{r['algorithm']} ({r.get('native', r['algorithm'])})"
        print(
            f"{r['library']:<23}{algo:<40}{r['backend']:<8}{r['admitted']:>9}{r['max_in_window']:>7}"
            f"{r['bound']:>6}{r['overshoot']:>5}{r['max_any_window']:>6}{_pct(r['utilisation']):>8}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.25 s windows for ours, 5 windows for peers")
    parser.add_argument("--limit", type=int, default=20, help="ours: requests per window (default 20)")
    parser.add_argument("--window", type=float, default=None, help="ours: window seconds (default 0.5)")
    parser.add_argument("--windows", type=int, default=10, help="windows per cell (default 10)")
    parser.add_argument("--threads", type=int, default=4, help="greedy threads per cell (default 4)")
    parser.add_argument("--tasks", type=int, default=4, help="greedy asyncio tasks per cell (default 4)")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated (memory,sqlite,redis)"
    )
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS), help="comma-separated")
    parser.add_argument("--no-peers", action="store_true", help="skip throttled-py, limits, pyrate-limiter")
    parser.add_argument("--peer-limit", type=int, default=20, help="peers: requests per period (default 20)")
    parser.add_argument("--peer-period", type=int, default=1, help="peers: whole seconds (default 1)")
    parser.add_argument("--peer-windows", type=int, default=None, help="peers: periods per cell (default 10)")
    parser.add_argument("--output", default=RESULTS, help="JSON results path ('' to skip writing)")
    args = parser.parse_args(argv)
    window = args.window or (0.25 if args.quick else 0.5)
    args.peer_windows = args.peer_windows or (5 if args.quick else 10)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.backends = backends
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]

    started = time.perf_counter()
    server = TemporaryRedisServer(unix_socket=False) if "redis" in backends else None
    redis_url = server.url if server else None
    ours: list[dict[str, Any]] = []
    peers: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="rl-acc-") as tmp:
            for algorithm in algorithms:
                for backend in backends:
                    print(f"ours: {algorithm} / {backend}", file=sys.stderr)
                    ours.append(
                        run_ours(
                            algorithm,
                            backend,
                            args.limit,
                            window,
                            args.windows,
                            args.threads,
                            args.tasks,
                            redis_url,
                            tmp,
                        )
                    )
        if not args.no_peers:  # after ours: ~30 processes starting and exiting would disturb our lateness
            print(
                f"peers: {args.peer_limit} per {args.peer_period} s, {args.peer_windows} windows...",
                file=sys.stderr,
            )
            peers = run_peers(args, redis_url)
    finally:
        if server is not None:
            server.close()
    print(
        f"\n== ours: {args.limit} per {window} s, {args.windows} windows, greedy Limiter/AsyncLimiter.acquire "
        "(t = threads, a = asyncio tasks) =="
    )
    print(
        "   max/W: most reserved slots in any window (fixedwindow: per aligned window); over = max/W - bound;"
    )
    print("   by wake: same count on actual wake-up times; any W: any-window max (fixedwindow may reach 2L)")
    print("   util: admitted / bound's maximum over the span; lateness = wake - reserved slot, ms")
    print(
        "   floor p99: a bare 5 ms time.sleep loop in its own thread during the same cell (the machine's lateness)"
    )
    print("   1st max: each client's first decision, left out of lateness (Redis: it opens the connection)")
    missed = print_ours(ours)
    if peers:
        print(
            f"\n== peers (and ours on memory, threads only) at {args.peer_limit} per {args.peer_period} s, "
            f"{args.peer_windows} windows, {args.threads} greedy threads each =="
        )
        print_peers(
            sorted(peers, key=lambda r: (r.get("algorithm", ""), r.get("library", ""), r.get("backend", "")))
        )
    print("\ntargets: " + ("all met" if not missed else "MISSED: " + "; ".join(missed)))
    elapsed = time.perf_counter() - started
    print(f"elapsed {elapsed:.0f} s")
    if args.output:
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
        result = {
            "benchmark": "ratelimit_accuracy",
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
            "machine": machine_info(),
            "settings": {
                "limit": args.limit,
                "window": window,
                "windows": args.windows,
                "threads": args.threads,
                "tasks": args.tasks,
                "peer_limit": args.peer_limit,
                "peer_period": args.peer_period,
                "peer_windows": args.peer_windows,
            },
            "bounds": {a: asdict(bound_for(a, args.limit, window, None)) for a in ALGORITHMS},
            "ours": ours,
            "peers": peers,
            "targets_missed": missed,
            "elapsed_s": elapsed,
        }
        with open(args.output, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1)
        print(f"results: {os.path.relpath(args.output)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
