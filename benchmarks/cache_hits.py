"""Cache-hit throughput and miss+store overhead: our CacheMixin against requests-cache and hishel, in ONE run.

    python benchmarks/cache_hits.py                         # everything, ~1 min, median of 3 rounds
    python benchmarks/cache_hits.py --round-time 2 --repeat 5
    python benchmarks/cache_hits.py --only ours-memory,hishel-sqlite,floor --no-miss
    python benchmarks/cache_hits.py --profile sqlite         # also cProfile our hit path on one backend
    python benchmarks/cache_hits.py --redis-unix             # every Redis contender over a unix socket

Needs the ``bench`` extra (``pip install -e '.[bench]'``: requests-cache, hishel, requests) and ``redis-server`` on
PATH. Nothing touches a Redis you already run: a private ``TemporaryRedisServer`` (loopback TCP on a free port by
default) is started for this run and stopped at exit. SQLite files live in a temporary directory removed at exit.

Server: the local nginx of ``benchmarks/_servers.py`` (falls back to the embedded httpbin, saying so). For the hit
benchmark it only answers the first miss of each URL.

**Hits** (sync ``get`` of a few distinct cached URLs, cycled; every response checked once to be a hit):

* ``ours-{memory,sqlite,redis}``       ``class S(CacheMixin, Session)`` with ``backend=...`` (expire mode, the default)
* ``requests-cache-{memory,sqlite,redis}``  ``requests_cache.CachedSession(backend=...)``
* ``hishel-{sqlite,redis}``           ``hishel.httpx.CacheClient(storage=SqliteStorage(...) / RedisStorage(...))``
  (hishel 1.x/2.x API; 0.1.x's ``hishel.CacheClient(storage=hishel.SQLiteStorage(...))`` is used if that is what is
  installed). hishel has no in-memory storage in 1.x/2.x.
* ``floor``   a bare ``httpx.Client(transport=httpx.MockTransport(...)).get``: what one plain httpx request costs
  with no I/O at all (our hits skip building an ``httpx.Request``, so they can beat it).

Each contender is primed (one miss per URL), warmed up for ``--warmup`` seconds (which also calibrates how many
iterations make a slice), then timed in ``--repeat`` rounds of about ``--round-time`` seconds each. A round is cut
into ``--slices`` slices and every contender runs one slice in turn (order rotated per slice), so a burst of load
from elsewhere on a shared machine hits all contenders alike. The median round is reported as hits/s (wall) and
process CPU µs per hit (the Redis server's CPU is not included); ratios are given for both.

**Miss+store overhead** (ours only): per round, a fresh session per config (the cache on each backend, and a plain
``Session`` without a cache) fetches ``--miss-n`` distinct, never-seen URLs from the server, in interleaved slices
as above; the difference per request (wall and CPU) is the cost of looking up, keying, serialising and storing a
response. Medians of the rounds are reported.

Results go to ``benchmarks/results/cache_hits.json`` with the machine info. Targets (issue 4): ours-memory ≥ 3×
hishel-sqlite, ours-sqlite ≥ 2× hishel-sqlite, ours-redis ≥ 2× hishel-redis.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime
import gc
import importlib.metadata
import io
import json
import os
import platform
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import httpx  # noqa: E402

from benchmarks._servers import (  # noqa: E402
    BODY,
    BenchServer,
    bench_server,
    command_output,
    cpu_model,
    exit_on_sigterm,
    versions,
)
from sessions import CacheMixin, Session  # noqa: E402
from sessions.backends import TemporaryRedisServer  # noqa: E402

OUT = os.path.join(_ROOT, "benchmarks", "results", "cache_hits.json")
BACKENDS = ("memory", "sqlite", "redis")
TARGETS = (  # (numerator, denominator, minimum ratio)
    ("ours-memory", "hishel-sqlite", 3.0),
    ("ours-sqlite", "hishel-sqlite", 2.0),
    ("ours-redis", "hishel-redis", 2.0),
)


class CachedSession(CacheMixin, Session):
    """Our session with the cache mixin, as a user would write it."""


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------- environment


@dataclass
class Env:
    """Everything the contenders share: server, Redis, temp dir."""

    base_url: str
    tmp: str
    redis_server: TemporaryRedisServer
    redis_unix: bool

    def redis_client(self) -> Any:
        import redis

        return redis.Redis(**self.redis_server.connection_kwargs())

    def path(self, name: str) -> str:
        return os.path.join(self.tmp, name)


def hit_urls(base: str, k: int) -> list[str]:
    return [f"{base}/hit/{i}?page={i}" for i in range(k)]


# ---------------------------------------------------------------------------------------------- hit contenders


@dataclass
class Contender:
    key: str
    label: str
    get: Callable[[str], Any]
    is_hit: Callable[[Any], bool]
    close: Callable[[], None]
    iters: int = 0  # per slice
    slices: int = 1
    rounds: list[tuple[float, float]] = field(default_factory=list)  # (wall s, cpu s) per round

    def median(self) -> tuple[float, float] | None:
        """(hits/s, CPU µs per hit) of the median round by wall time."""
        if not self.rounds:
            return None
        wall = statistics.median(w for w, _ in self.rounds)
        cpu = statistics.median(c for _, c in self.rounds)
        n = self.iters * self.slices
        return n / wall, cpu / n * 1e6


def _ours(env: Env, backend: str) -> Contender:
    options: dict[str, Any] = {"backend": backend, "key": f"bench-{backend}"}
    if backend == "sqlite":
        options["db"] = env.path("ours.sqlite")
    elif backend == "redis":
        options["url"] = env.redis_server.url
    s = CachedSession(**options)
    return Contender(
        f"ours-{backend}", f"sessions CacheMixin ({backend})", s.get, lambda r: bool(r.from_cache), s.close
    )


def _requests_cache(env: Env, backend: str) -> Contender:
    import requests_cache

    if backend == "memory":
        s = requests_cache.CachedSession("bench-rc", backend="memory")
    elif backend == "sqlite":
        s = requests_cache.CachedSession(env.path("rc.sqlite"), backend="sqlite")
    else:
        s = requests_cache.CachedSession("bench-rc", backend="redis", connection=env.redis_client())
    ver = importlib.metadata.version("requests-cache")
    return Contender(
        f"requests-cache-{backend}",
        f"requests-cache {ver} CachedSession ({backend})",
        s.get,
        lambda r: bool(r.from_cache),
        s.close,
    )


def _hishel_is_hit(r: httpx.Response) -> bool:
    status = r.extensions.get("caching")  # 1.x/2.x: CacheStatus (a TypedDict)
    if status is not None:
        return bool(status["from_cache"] if isinstance(status, dict) else status.from_cache)
    return bool(r.extensions.get("from_cache"))  # 0.1.x


def _hishel(env: Env, backend: str) -> Contender:
    import hishel

    ver = importlib.metadata.version("hishel")
    if hasattr(hishel, "SqliteStorage"):  # 1.x / 2.x
        import hishel.httpx

        if backend == "sqlite":
            storage: Any = hishel.SqliteStorage(database_path=env.path("hishel.sqlite"))
        else:
            storage = hishel.RedisStorage(env.redis_client())
        client: Any = hishel.httpx.CacheClient(storage=storage)
    else:  # 0.1.x
        if backend == "sqlite":
            storage = hishel.SQLiteStorage(connection=sqlite3.connect(env.path("hishel.sqlite")))
        else:
            storage = hishel.RedisStorage(client=env.redis_client())
        client = hishel.CacheClient(storage=storage)
    return Contender(
        f"hishel-{backend}",
        f"hishel {ver} httpx CacheClient ({backend})",
        client.get,
        _hishel_is_hit,
        client.close,
    )


def _floor(env: Env, backend: str) -> Contender:
    body = BODY.strip().encode()  # what the nginx bench server answers
    headers = {"content-type": "application/json", "content-length": str(len(body))}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, content=body)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Contender(
        "floor",
        "httpx.Client.get through a MockTransport (no cache, no I/O)",
        client.get,
        lambda r: True,
        client.close,
    )


FACTORIES: dict[str, tuple[Callable[[Env, str], Contender], str]] = {
    **{f"ours-{b}": (_ours, b) for b in BACKENDS},
    **{f"requests-cache-{b}": (_requests_cache, b) for b in BACKENDS},
    "hishel-sqlite": (_hishel, "sqlite"),
    "hishel-redis": (_hishel, "redis"),
    "floor": (_floor, ""),
}


def _loop(get: Callable[[str], Any], urls: list[str], iters: int) -> tuple[float, float]:
    k = len(urls)
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(iters):
        get(urls[i % k]).content  # noqa: B018 - touch the body as a user would
    return time.perf_counter() - w0, time.process_time() - c0


def prime(c: Contender, urls: list[str]) -> None:
    """One miss per URL, then check every URL is now served from the cache."""
    bodies = {}
    for u in urls:
        r = c.get(u)
        if r.status_code != 200:
            raise BenchError(f"{c.key}: priming {u} gave {r.status_code}")
        bodies[u] = r.content
    for u in urls:
        r = c.get(u)
        if r.status_code != 200 or not c.is_hit(r) or r.content != bodies[u]:
            raise BenchError(f"{c.key}: {u} was not a hit after priming (status {r.status_code})")


def calibrate(c: Contender, urls: list[str], warmup: float, slice_time: float) -> None:
    """Warm up for `warmup` seconds and size a slice to last about `slice_time` seconds."""
    done, spent, chunk = 0, 0.0, 50
    while spent < warmup:
        wall, _ = _loop(c.get, urls, chunk)
        done, spent = done + chunk, spent + wall
    rate = done / spent
    k = len(urls)
    c.iters = max(k * 10, int(rate * slice_time) // k * k)


def run_hits(conts: list[Contender], urls: list[str], a: argparse.Namespace) -> None:
    for c in conts:
        prime(c, urls)
        calibrate(c, urls, a.warmup, a.round_time / a.slices)
        c.slices = a.slices
    for r in range(a.repeat):
        gc.collect()
        spent = {c.key: [0.0, 0.0] for c in conts}
        for i in range(a.slices):  # interleaved slices: a burst of load elsewhere hits every contender alike
            rot = (r * a.slices + i) % len(conts)
            for c in conts[rot:] + conts[:rot]:
                wall, cpu = _loop(c.get, urls, c.iters)
                spent[c.key][0] += wall
                spent[c.key][1] += cpu
        for c in conts:
            c.rounds.append((spent[c.key][0], spent[c.key][1]))
        _log(f"hits: round {r + 1}/{a.repeat} done")


# ---------------------------------------------------------------------------------------------- miss + store


def _miss_session(env: Env, name: str, r: int) -> Session:
    if name == "no-cache":
        return Session()
    options: dict[str, Any] = {"backend": name, "key": f"miss-{name}-{r}"}
    if name == "sqlite":
        options["db"] = env.path(f"miss-{r}.sqlite")
    elif name == "redis":
        options["url"] = env.redis_server.url
    return CachedSession(**options)


def run_misses(env: Env, a: argparse.Namespace) -> dict[str, Any]:
    """Median wall and CPU µs per request for N never-seen URLs, per config; overhead vs no cache.

    Each round opens a fresh session per config and fetches its N URLs in `--slices` interleaved slices
    (configs rotated per slice), like the hit rounds.
    """
    names = ["no-cache", *BACKENDS]
    per_req: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for r in range(-1, a.repeat):  # round -1 is the warm-up
        with contextlib.ExitStack() as stack:
            sessions: dict[str, Session] = {}
            for name in names:
                sessions[name] = s = _miss_session(env, name, r)
                stack.callback(s.close)
                s.get(f"{env.base_url}/warm/{name}/{r}")  # connection set-up outside the timed block
            urls = {n: [f"{env.base_url}/miss/{n}/{r}/{i}" for i in range(a.miss_n)] for n in names}
            spent = {n: [0.0, 0.0] for n in names}
            gc.collect()
            for i in range(a.slices):
                rot = (max(r, 0) * a.slices + i) % len(names)
                for name in names[rot:] + names[:rot]:
                    get, part = sessions[name].get, urls[name][i :: a.slices]
                    w0, c0 = time.perf_counter(), time.process_time()
                    for u in part:
                        if get(u).status_code != 200:
                            raise BenchError(f"miss {name}: {u} not 200")
                    spent[name][0] += time.perf_counter() - w0
                    spent[name][1] += time.process_time() - c0
            for name in BACKENDS:
                if not sessions[name].get(urls[name][0]).from_cache:
                    raise BenchError(f"miss {name}: the response was not stored")
        if r >= 0:
            for name in names:
                wall, cpu = spent[name]
                per_req[name].append((wall / a.miss_n * 1e6, cpu / a.miss_n * 1e6))
            _log(f"miss+store: round {r + 1}/{a.repeat} done")
    med = {
        n: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for n, v in per_req.items()
    }
    base_wall, base_cpu = med["no-cache"]
    return {
        "n": a.miss_n,
        "us_per_request": {n: m[0] for n, m in med.items()},
        "cpu_us_per_request": {n: m[1] for n, m in med.items()},
        "overhead_us": {n: m[0] - base_wall for n, m in med.items() if n != "no-cache"},
        "cpu_overhead_us": {n: m[1] - base_cpu for n, m in med.items() if n != "no-cache"},
        "relative": {n: m[0] / base_wall for n, m in med.items() if n != "no-cache"},
        "rounds_us": {n: [w for w, _ in v] for n, v in per_req.items()},
    }


# ---------------------------------------------------------------------------------------------- profile


def profile_hits(env: Env, backend: str, urls: list[str], iters: int) -> str:
    """cProfile our hit path on one backend; the top functions by internal time and by cumulative time."""
    c = _ours(env, backend)
    try:
        prime(c, urls)
        _loop(c.get, urls, 200)
        prof = cProfile.Profile()
        prof.enable()
        _loop(c.get, urls, iters)
        prof.disable()
    finally:
        c.close()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- report


def ratios(conts: list[Contender]) -> dict[str, dict[str, float | None]]:
    """Every ratio twice: by wall-clock hits/s and by process CPU per hit (steadier on a shared machine)."""
    med = {c.key: m for c in conts if (m := c.median()) is not None}

    def ratio(num: str, den: str) -> dict[str, float | None]:
        if num not in med or den not in med:
            return {"wall": None, "cpu": None}
        return {"wall": med[num][0] / med[den][0], "cpu": med[den][1] / med[num][1]}

    pairs = [(n, d) for n, d, _ in TARGETS]
    pairs += [(f"ours-{b}", f"requests-cache-{b}") for b in BACKENDS]
    pairs += [(f"ours-{b}", "floor") for b in BACKENDS]
    return {f"{n} / {d}": ratio(n, d) for n, d in pairs}


def machine_info(server: BenchServer, env: Env, a: argparse.Namespace) -> dict[str, Any]:
    redis_ver = command_output(shutil.which("redis-server") or "redis-server", "--version")
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "redis_server": redis_ver,
        "redis_transport": "unix socket" if env.redis_unix else "loopback TCP",
        "server": {"name": server.name, "detail": server.detail},
        "versions": versions(
            "httpx",
            "httpcore",
            "aiohttp",
            "redis",
            "msgpack",
            "requests",
            "requests-cache",
            "hishel",
            "urllib3",
        ),
        "sessions_git_commit": command_output("git", "-C", _ROOT, "rev-parse", "--short", "HEAD"),
        "args": vars(a),
    }


def report(conts: list[Contender], misses: dict[str, Any] | None, info: dict[str, Any]) -> dict[str, Any]:
    v = info["versions"]
    print(
        f"\nmachine: {info['cpu_count']} CPUs ({info['cpu_model']}), {info['python']}, SQLite {info['sqlite']}, "
        f"{info['redis_server'] or 'redis-server ?'} over {info['redis_transport']}; httpx {v['httpx']}, "
        f"requests-cache {v['requests-cache']}, hishel {v['hishel']}, requests {v['requests']}, redis-py {v['redis']}"
    )
    print(f"server: {info['server']['name']} ({info['server']['detail']})\n")
    floor = next((m[0] for c in conts if c.key == "floor" and (m := c.median())), None)
    print(
        f"{'cache hits (sync get)':<26} {'hits/s':>9} {'µs/hit':>8} {'CPU µs/hit':>11} {'× floor':>8}  rounds (hits/s)"
    )
    hits: dict[str, Any] = {}
    for c in conts:
        m = c.median()
        if m is None:
            continue
        rps, cpu_us = m
        rounds = [c.iters * c.slices / w for w, _ in c.rounds]
        rel = f"{rps / floor:8.2f}" if floor else f"{'':8}"
        print(
            f"{c.key:<26} {rps:9.0f} {1e6 / rps:8.1f} {cpu_us:11.1f} {rel}  "
            + " ".join(f"{x:.0f}" for x in rounds)
        )
        hits[c.key] = {
            "label": c.label,
            "hits_per_s": rps,
            "us_per_hit": 1e6 / rps,
            "cpu_us_per_hit": cpu_us,
            "iterations_per_round": c.iters * c.slices,
            "rounds_hits_per_s": rounds,
        }
    rs = ratios(conts)
    targets = {f"{n} / {d}": t for n, d, t in TARGETS}
    print(f"\n{'ratio (higher = ours faster)':<40} {'hits/s':>7} {'CPU/hit':>8}  target (on hits/s)")
    for name, both in rs.items():
        value, cpu = both["wall"], both["cpu"]
        t = targets.get(name)
        if value is None and t is None:
            continue
        verdict = (
            "" if t is None or value is None else (f"≥ {t:.0f}×  " + ("MET" if value >= t else "MISSED"))
        )
        shown = "   n/a" if value is None else f"{value:6.2f}×"
        shown_cpu = "   n/a" if cpu is None else f"{cpu:6.2f}×"
        print(f"{name:<40} {shown:>7} {shown_cpu:>8}  {verdict}")
    if misses:
        print(f"\nmiss + store, {misses['n']} never-seen URLs per round (ours; median of rounds)")
        print(
            f"{'config':<12} {'µs/request':>11} {'overhead µs':>12} {'vs no cache':>12} {'CPU µs/req':>11} {'CPU overhead':>13}"
        )
        for name, us in misses["us_per_request"].items():
            over, rel = misses["overhead_us"].get(name), misses["relative"].get(name)
            cpu, cpu_over = misses["cpu_us_per_request"][name], misses["cpu_overhead_us"].get(name)
            print(
                f"{name:<12} {us:11.1f} {'' if over is None else f'{over:+12.1f}':>12} "
                f"{'' if rel is None else f'{rel:11.2f}×':>12} {cpu:11.1f} "
                f"{'' if cpu_over is None else f'{cpu_over:+13.1f}':>13}"
            )
    return {
        "benchmark": "cache_hits",
        "hits": hits,
        "ratios": rs,
        "targets": {
            k: {"min": t, "value": v, "cpu_value": rs[k]["cpu"], "met": None if v is None else v >= t}
            for k, t in targets.items()
            for v in (rs[k]["wall"],)
        },
        "miss_store": misses,
        "machine": info,
    }


def _log(msg: str) -> None:
    print(f"[cache_hits] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--urls", type=int, default=4, help="distinct cached URLs cycled by the hit loop (default 4)"
    )
    p.add_argument(
        "--round-time", type=float, default=1.0, help="target seconds per timed round (default 1.0)"
    )
    p.add_argument(
        "--slices", type=int, default=5, help="interleaved slices per round, contenders rotated (default 5)"
    )
    p.add_argument("--warmup", type=float, default=0.4, help="warm-up seconds per contender (default 0.4)")
    p.add_argument("--repeat", type=int, default=3, help="timed rounds; the median is reported (default 3)")
    p.add_argument(
        "--miss-n", type=int, default=300, help="never-seen URLs per miss+store round (default 300)"
    )
    p.add_argument("--no-miss", action="store_true", help="skip the miss+store measurement")
    p.add_argument(
        "--only", default="", help=f"comma-separated hit contenders (default all: {', '.join(FACTORIES)})"
    )
    p.add_argument(
        "--server",
        choices=("nginx", "httpbin"),
        default="nginx",
        help="origin server (default nginx, falling back to the embedded httpbin)",
    )
    p.add_argument(
        "--redis-unix",
        action="store_true",
        help="connect every Redis contender over the temporary server's unix socket (default loopback TCP)",
    )
    p.add_argument(
        "--profile", choices=BACKENDS, help="also cProfile our hit path on this backend and print it"
    )
    p.add_argument("--out", default=OUT, help=f"JSON output path (default {os.path.relpath(OUT, _ROOT)})")
    a = p.parse_args(argv)
    if min(a.repeat, a.urls, a.miss_n, a.slices) < 1 or a.round_time <= 0:
        p.error("--repeat, --urls, --slices and --miss-n must be ≥ 1 and --round-time > 0")
    wanted = [k for k in a.only.split(",") if k] or list(FACTORIES)
    unknown = set(wanted) - set(FACTORIES)
    if unknown:
        p.error(f"unknown contenders {sorted(unknown)}; choose from {', '.join(FACTORIES)}")
    a.only = wanted
    return a


@contextlib.contextmanager
def environment(a: argparse.Namespace) -> Iterator[tuple[Env, BenchServer]]:
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(bench_server(a.server))
        redis_server = stack.enter_context(TemporaryRedisServer(unix_socket=a.redis_unix))
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="sessions-bench-cache-"))
        yield Env(server.base_url, tmp, redis_server, a.redis_unix), server


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    exit_on_sigterm()
    started = time.perf_counter()
    with environment(a) as (env, server):
        _log(f"server {server.name} at {server.base_url}; redis {env.redis_server.url}")
        urls = hit_urls(env.base_url, a.urls)
        conts: list[Contender] = []
        try:
            for key in a.only:
                factory, backend = FACTORIES[key]
                conts.append(factory(env, backend))
            run_hits(conts, urls, a)
        finally:
            for c in conts:
                with contextlib.suppress(Exception):
                    c.close()
        misses = None if a.no_miss else run_misses(env, a)
        profile = None
        if a.profile:
            iters = 20000 if a.profile != "redis" else 5000
            profile = profile_hits(env, a.profile, urls, iters)
        info = machine_info(server, env, a)
    result = report(conts, misses, info)
    if profile:
        print(f"\ncProfile of ours-{a.profile} hits:\n{profile}")
        result["profile"] = {"backend": a.profile, "text": profile}
    result["elapsed_s"] = time.perf_counter() - started
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"\nwritten {os.path.relpath(a.out)} in {result['elapsed_s']:.0f} s")
    missed = [k for k, t in result["targets"].items() if t["met"] is False]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
